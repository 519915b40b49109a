"""Batched autoregressive decoding with a KV cache, per-sequence EOS, greedy or top-p sampling.

Prompts of different lengths are padded on the left, so every row's last prompt token sits in the
same column and one decoding step serves the whole batch. Each row keeps its own rotary positions
(0 at its first real token) and never attends to padding, so a row decodes exactly as it would
alone, which is how MU-LLaMA decodes (one prompt per call).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from musiscene_core.errors import UserError
from musiscene_core.models.mullama.llama import KVCache
from musiscene_core.models.mullama.modeling import MuLlamaModel


def sample_top_p(probs: torch.Tensor, top_p: float, generators: list[torch.Generator]) -> torch.Tensor:
    """MU-LLaMA's nucleus sampling: keep the most likely tokens until the mass before a token exceeds
    top_p, renormalise, draw one token per row (row i with generators[i])."""
    probs_sort, probs_idx = torch.sort(probs, dim=-1, descending=True)
    probs_sum = torch.cumsum(probs_sort, dim=-1)
    probs_sort[probs_sum - probs_sort > top_p] = 0.0
    probs_sort.div_(probs_sort.sum(dim=-1, keepdim=True))
    picks = torch.cat([torch.multinomial(probs_sort[i : i + 1], 1, generator=g) for i, g in enumerate(generators)])
    return torch.gather(probs_idx, -1, picks).reshape(-1)


def make_generators(seed: int | Sequence[int] | None, batch: int, device: torch.device) -> list[torch.Generator]:
    """One generator per row. An int seeds every row alike, so a row's sample does not depend on the
    batch it was decoded in; None draws fresh seeds."""
    seeds = [seed] * batch if seed is None or isinstance(seed, int) else list(seed)
    if len(seeds) != batch:
        raise UserError(f"{len(seeds)} seeds given for a batch of {batch}.")
    generators = []
    for s in seeds:
        g = torch.Generator(device=device)
        if s is None:
            g.seed()
        else:
            g.manual_seed(int(s))
        generators.append(g)
    return generators


def _additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, torch.tensor(float("-inf"), dtype=dtype, device=allowed.device))


def left_padded_batch(prompts: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """tokens [B, S], positions [B, S] and a real-token mask [B, S] for left-padded prompts."""
    width = max(len(p) for p in prompts)
    tokens = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    valid = torch.zeros((len(prompts), width), dtype=torch.bool)
    for row, prompt in enumerate(prompts):
        tokens[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        valid[row, width - len(prompt) :] = True
    positions = (valid.long().cumsum(-1) - 1).clamp(min=0)
    return tokens.to(device), positions.to(device), valid.to(device)


def prefill_mask(valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, 1, S, S]: causal, padding keys hidden. Padding queries see themselves so no row is all -inf."""
    s = valid.shape[1]
    causal = torch.ones(s, s, dtype=torch.bool, device=valid.device).tril()
    allowed = (causal[None] & valid[:, None, :]) | torch.eye(s, dtype=torch.bool, device=valid.device)[None]
    return _additive(allowed[:, None], dtype)


@torch.inference_mode()
def prefill(model: MuLlamaModel, prompts: list[list[int]], adapter_values, pad_id: int, capacity: int):
    """Run the prompts; returns (last-position logits [B, vocab], cache, key mask, next positions)."""
    device, dtype = model.prefix_query.weight.device, model.compute_dtype
    tokens, positions, valid = left_padded_batch(prompts, pad_id, device)
    cache = KVCache(model.cfg.llama, len(prompts), capacity, device, dtype)
    logits = model.step(tokens, positions, prefill_mask(valid, dtype), adapter_values, cache)
    return logits, cache, valid, positions[:, -1] + 1


@torch.inference_mode()
def generate_ids(
    model: MuLlamaModel,
    prompts: list[list[int]],
    adapter_values: list[torch.Tensor],
    *,
    eos_id: int,
    pad_id: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    seed: int | Sequence[int] | None,
) -> list[list[int]]:
    """New token ids per prompt, EOS excluded. A row stops at EOS, after max_new_tokens, or when its
    prompt plus answer reaches the model's max_seq_len (MU-LLaMA's total_len cap)."""
    batch = len(prompts)
    budgets = [max(0, min(max_new_tokens, model.cfg.llama.max_seq_len - len(p))) for p in prompts]
    outputs: list[list[int]] = [[] for _ in prompts]
    steps = max(budgets, default=0)
    if steps == 0:
        return outputs
    width = max(len(p) for p in prompts)
    logits, cache, valid, positions = prefill(model, prompts, adapter_values, pad_id, width + steps)
    generators = make_generators(seed, batch, logits.device) if temperature > 0 else []
    done = [b == 0 for b in budgets]
    for step in range(steps):
        if temperature > 0:
            next_tokens = sample_top_p(torch.softmax(logits / temperature, dim=-1), top_p, generators)
        else:
            next_tokens = torch.argmax(logits, dim=-1)
        for row, token in enumerate(next_tokens.tolist()):
            if done[row]:
                continue
            if token == eos_id:
                done[row] = True
                continue
            outputs[row].append(token)
            done[row] = len(outputs[row]) >= budgets[row]
        if all(done) or step == steps - 1:
            break
        valid = torch.cat([valid, torch.ones(batch, 1, dtype=torch.bool, device=valid.device)], dim=1)
        mask = _additive(valid[:, None, None, :], cache.keys[0].dtype)
        logits = model.step(next_tokens[:, None], positions[:, None], mask, adapter_values, cache)
        positions = positions + 1
    return outputs
