"""The MU-LLaMA network minus MERT: music adapter + prefix queries + LLaMA, with MU-LLaMA's key names.

State-dict keys are exactly those of MU-LLaMA's `LLaMA_adapter` (`mu_mert_proj.weight`,
`prefix_query.weight`, `llama.layers.0.attention.gate`, ...); `mullama_key` / `module_key` translate
between them and this module's attribute paths, which keep the adapter in its own sub-module.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from musiscene_core.models.mullama.adapter import MusicAdapter
from musiscene_core.models.mullama.configuration import MuLlamaConfig
from musiscene_core.models.mullama.llama import KVCache, Transformer

_ADAPTER_MODULE = "music_adapter."
GROUPS = ("adapter", "finetune", "llama")
# Finetune-phase tensors inside LLaMA, recognised by name as MU-LLaMA's get_trainable_params does.
_FINETUNE_MARKERS = (".bias", "norm.", "lora_", ".gate")


def mullama_key(module_key: str) -> str:
    return module_key[len(_ADAPTER_MODULE) :] if module_key.startswith(_ADAPTER_MODULE) else module_key


def module_key(mullama_name: str) -> str:
    return _ADAPTER_MODULE + mullama_name if mullama_name.startswith("mu_mert_") else mullama_name


def parameter_group(mullama_name: str) -> str:
    """'adapter' (music adapter, prefix queries), 'finetune' (LLaMA biases, norms, gates, LoRA) or 'llama'."""
    if mullama_name.startswith("mu_mert_") or mullama_name.startswith("prefix_query."):
        return "adapter"
    if any(marker in mullama_name for marker in _FINETUNE_MARKERS):
        return "finetune"
    return "llama"


class MuLlamaModel(nn.Module):
    def __init__(self, cfg: MuLlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.music_adapter = MusicAdapter(cfg.adapter)
        self.prefix_query = nn.Embedding(cfg.prefix_layers, cfg.llama.dim, _weight=torch.empty(cfg.prefix_layers, cfg.llama.dim))
        self.llama = Transformer(cfg.llama)

    @property
    def compute_dtype(self) -> torch.dtype:
        """The frozen base weights' dtype: activations, masks and the KV cache use it."""
        return self.llama.tok_embeddings.weight.dtype

    def mullama_state_dict(self) -> dict[str, torch.Tensor]:
        return {mullama_key(k): v for k, v in self.state_dict().items()}

    def named_mullama_parameters(self) -> dict[str, nn.Parameter]:
        return {mullama_key(k): p for k, p in self.named_parameters()}

    def adapter_values(self, mert_layer_means: torch.Tensor) -> list[torch.Tensor]:
        """Per prefixed block, the value [B, H, 1, head_dim] of its adapter token (audio + prefix query)."""
        audio = self.music_adapter(mert_layer_means)  # [B, 1, dim]
        # MU-LLaMA pairs row i with block n_layers - prefix_layers + i; with more rows than blocks
        # (its slice layers[-20:] of a shallower LLaMA) every block is prefixed and extra rows go unused.
        blocks = self.llama.layers[max(0, self.cfg.llama.n_layers - self.cfg.prefix_layers) :]
        return [block.attention.adapter_values(audio + self.prefix_query.weight[i]) for i, block in enumerate(blocks)]

    def gated_adapter_values(self, adapter_values: list[torch.Tensor]) -> list[torch.Tensor]:
        """`adapter_values` times each prefixed block's tanh(gate): what the blocks add, computed once per batch."""
        first = self.cfg.llama.n_layers - len(adapter_values)
        return [self.llama.layers[first + i].attention.gated(v) for i, v in enumerate(adapter_values)]

    def step(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        adapter_values: list[torch.Tensor],
        cache: KVCache | None,
        adapter_gated: bool = False,
    ) -> torch.Tensor:
        """Logits (fp32) of the last column [B, vocab], caching keys and values."""
        hidden = self.llama.hidden_states(tokens, positions, mask, adapter_values, cache, adapter_gated)
        return self.llama.output(hidden[:, -1, :]).float()

    def forward(self, mert_layer_means: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, S, vocab] (fp32) for right-padded token rows; no cache."""
        b, s = tokens.shape
        positions = torch.arange(s, device=tokens.device).expand(b, s)
        mask = torch.full((s, s), float("-inf"), device=tokens.device).triu(1)[None, None]
        hidden = self.llama.hidden_states(tokens, positions, mask.to(self.compute_dtype), self.adapter_values(mert_layer_means))
        return self.llama.output(hidden).float()


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy of predicting labels[:, t+1] from position t, over labels != ignore_index."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=ignore_index)


def weights_fingerprint(state: dict[str, torch.Tensor], extra: bytes) -> str:
    """A digest of the adapter and finetune tensors (in full) and of the frozen LLaMA tensors (their
    first and last 1024 values: hashing 13 GB of base weights at every load would be too slow).
    Tensors are hashed as fp32 values, so the digest does not depend on the device or dtype they
    were loaded in."""
    digest = hashlib.sha256(extra)
    for name in sorted(state):
        flat = state[name].detach().reshape(-1)
        if parameter_group(name) == "llama" and flat.numel() > 2048:
            flat = torch.cat([flat[:1024], flat[-1024:]])
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(flat.to("cpu", torch.float32).numpy()).tobytes())
    return digest.hexdigest()
