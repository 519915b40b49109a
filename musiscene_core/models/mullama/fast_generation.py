"""Throughput-oriented decoding: the same tokens as `generation.generate_ids`, with less work per step.

What it does differently from the plain loop, and why each keeps the tokens the same:

* the adapter's contribution `tanh(gate) * wv(adapter token)` of every prefixed block is computed
  once per batch instead of in every block at every step (the same tensor, added the same way);
* the key mask lives in one buffer sized for prompt + answer, filled at prefill; a step takes a view
  of its first columns instead of concatenating a column and rebuilding the mask (the same values);
* tokens and per-row lengths stay on the device: no per-row Python loop and no host round trip per
  step, only a finished-row count every `check_every` steps (every step on the CPU, where it is free);
* finished rows leave the batch (the KV cache, mask, positions and adapter values are compacted)
  once at least `compact_fraction` of the rows still decoding are done, so a batch whose captions
  end at different lengths stops paying for the short ones. Every row's computation only ever
  involves its own cache row, so dropping other rows does not change it beyond the rounding of a
  different batch shape, the same freedom the plain path's batching already takes;
* optionally (`compile_step`, CUDA only) the decoding step runs through `torch.compile` with dynamic
  shapes. Unmeasured: this project has not yet been timed on a GPU with it (see docs/captioner.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from musiscene_core.models.mullama.generation import (
    _additive,
    left_padded_batch,
    make_generators,
    prefill_mask,
    sample_top_p,
)
from musiscene_core.models.mullama.llama import KVCache
from musiscene_core.models.mullama.modeling import MuLlamaModel

DEFAULT_COMPACT_FRACTION = 0.25


def compiled_step(model: MuLlamaModel) -> Callable:
    """`model.step` through torch.compile (dynamic shapes: the batch shrinks and the cache grows), once per model."""
    if model.prefix_query.weight.device.type != "cuda":
        raise ValueError("compile_step is for CUDA devices only; on the CPU the plain step is used.")
    if not hasattr(model, "compiled_step"):
        # Kept on the model, so it lives (and compiles) once per loaded model.
        model.compiled_step = torch.compile(model.step, dynamic=True)
    return model.compiled_step


@torch.inference_mode()
def fast_generate_ids(
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
    compact_fraction: float = DEFAULT_COMPACT_FRACTION,
    check_every: int | None = None,
    compile_step: bool = False,
) -> list[list[int]]:
    """New token ids per prompt, EOS excluded; the stopping rules of `generation.generate_ids`."""
    if not 0 < compact_fraction <= 1:
        raise ValueError(f"compact_fraction must be in (0, 1], got {compact_fraction}.")
    batch = len(prompts)
    budget_list = [max(0, min(max_new_tokens, model.cfg.llama.max_seq_len - len(p))) for p in prompts]
    steps = max(budget_list, default=0)
    if steps == 0:
        return [[] for _ in prompts]
    device, dtype = model.prefix_query.weight.device, model.compute_dtype
    if check_every is None:
        check_every = 1 if device.type == "cpu" else 8
    step_fn = compiled_step(model) if compile_step else model.step

    tokens, positions, valid = left_padded_batch(prompts, pad_id, device)
    width = tokens.shape[1]
    cache = KVCache(model.cfg.llama, batch, width + steps, device, dtype)
    gated = model.gated_adapter_values(adapter_values)
    logits = step_fn(tokens, positions, prefill_mask(valid, dtype), gated, cache, adapter_gated=True)
    positions = positions[:, -1] + 1
    key_mask = torch.zeros(batch, 1, 1, width + steps, dtype=dtype, device=device)
    key_mask[:, 0, 0, :width] = _additive(valid, dtype)

    generators = make_generators(seed, batch, device) if temperature > 0 else []
    budgets = torch.tensor(budget_list, device=device)
    # Per row still in the batch: its tokens so far, how many it keeps, whether it is still decoding.
    # `rows` maps them to the caller's rows; the finished ones are written out when they leave.
    rows = torch.arange(batch, device=device)
    tokens_out = torch.full((batch, steps), pad_id, dtype=torch.long, device=device)
    counts_out = torch.zeros(batch, dtype=torch.long, device=device)
    produced, counts, alive = tokens_out.clone(), counts_out.clone(), budgets > 0
    for step in range(steps):
        if temperature > 0:
            next_tokens = sample_top_p(torch.softmax(logits / temperature, dim=-1), top_p, generators)
        else:
            next_tokens = torch.argmax(logits, dim=-1)
        produced[:, step] = next_tokens
        alive &= next_tokens != eos_id  # EOS ends a row and is not kept
        counts += alive
        alive &= counts < budgets
        if step == steps - 1:
            break
        if (step + 1) % check_every == 0 or step == 0:
            live = int(alive.sum())
            if live == 0:
                break
            if len(alive) - live >= compact_fraction * len(alive):
                tokens_out[rows], counts_out[rows] = produced, counts
                keep = torch.nonzero(alive).squeeze(1)
                cache.select(keep)
                key_mask, positions, next_tokens = key_mask[keep], positions[keep], next_tokens[keep]
                gated = [g.index_select(0, keep) for g in gated]
                rows, budgets, alive, produced, counts = rows[keep], budgets[keep], alive[keep], produced[keep], counts[keep]
                if generators:
                    generators = [generators[i] for i in keep.tolist()]
        mask = key_mask[..., : cache.length + 1]
        logits = step_fn(next_tokens[:, None], positions[:, None], mask, gated, cache, adapter_gated=True)
        positions = positions + 1
    tokens_out[rows], counts_out[rows] = produced, counts
    return [row[:n] for row, n in zip(tokens_out.tolist(), counts_out.tolist())]
