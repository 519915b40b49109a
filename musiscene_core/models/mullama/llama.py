"""The LLaMA transformer as MU-LLaMA runs it: LLaMA-Adapter prefix injection plus bias and LoRA tuning.

Parameter names are MU-LLaMA's (`layers.3.attention.lora_wq_l1.weight`, ...), so its checkpoint keys
map one to one. Differences from plain LLaMA, all taken from MU-LLaMA's finetune-phase model:

* biases on `wq`, `wo` and the three feed-forward projections (`wk`, `wv` have none);
* LoRA pairs `lora_<w>_l1` (down) / `lora_<w>_l2` (up) added to wq, wk, wv (on the attention input),
  wo (on the attention output), w1, w3 (on the feed-forward input) and w2 (on its hidden state);
* in the last `prefix_layers` blocks, one adapter token per block whose value `wv(adapter)` (no LoRA)
  is added to every head's attention output, scaled by `tanh(gate)` per head. With a single adapter
  token its softmax weight is 1, so it needs no key.

Rotary embeddings use Meta's layout (consecutive pairs of a head's channels form complex numbers);
weights stored in Hugging Face's layout are permuted back on load (see `checkpoint`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from musiscene_core.models.mullama.configuration import LlamaConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32, scale in the model's dtype, exactly as LLaMA does.
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def rotary_table(positions: torch.Tensor, head_dim: int, theta: float) -> torch.Tensor:
    """Complex rotations [..., head_dim/2] for integer positions, computed as Meta's precompute_freqs_cis."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=positions.device)[: head_dim // 2].float() / head_dim))
    angles = positions.float()[..., None] * inv_freq
    return torch.polar(torch.ones_like(angles), angles)


def apply_rotary(x: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Rotate [B, S, H, head_dim] by rotations [B, S, head_dim/2] (Meta layout: interleaved pairs)."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    out = torch.view_as_real(xc * rotations[:, :, None, :]).flatten(3)
    return out.type_as(x)


def _lora_pair(module: nn.Module, name: str, d_in: int, d_out: int, rank: int) -> None:
    # Two named Linear layers rather than one module: these are MU-LLaMA's checkpoint keys.
    setattr(module, f"lora_{name}_l1", nn.Linear(d_in, rank, bias=False))
    setattr(module, f"lora_{name}_l2", nn.Linear(rank, d_out, bias=False))


def _with_lora(module: nn.Module, name: str, base: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    down = getattr(module, f"lora_{name}_l1")
    up = getattr(module, f"lora_{name}_l2")
    return base + up(down(x))


class KVCache:
    """Keys and values of every layer for a batch, preallocated to the longest sequence it will hold."""

    def __init__(self, cfg: LlamaConfig, batch: int, capacity: int, device, dtype):
        shape = (batch, cfg.n_heads, capacity, cfg.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.length = 0  # columns filled so far (same for every row: padding is on the left)

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + k.shape[2]
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def select(self, rows: torch.Tensor) -> None:
        """Keep only `rows` of the batch (in that order): finished sequences stop costing attention work."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.head_dim
        d, r = cfg.dim, cfg.lora_rank
        self.wq = nn.Linear(d, d, bias=True)
        self.wk = nn.Linear(d, d, bias=False)
        self.wv = nn.Linear(d, d, bias=False)
        self.wo = nn.Linear(d, d, bias=True)
        for name in ("wq", "wk", "wv", "wo"):
            _lora_pair(self, name, d, d, r)
        self.gate = nn.Parameter(torch.zeros(1, cfg.n_heads, 1, 1))

    def adapter_values(self, adapter: torch.Tensor) -> torch.Tensor:
        """[B, 1, dim] adapter token -> its per-head values [B, H, 1, head_dim] (plain wv, as MU-LLaMA)."""
        b, n, _ = adapter.shape
        return self.wv(adapter).view(b, n, self.n_heads, self.head_dim).transpose(1, 2)

    def gated(self, adapter_v: torch.Tensor) -> torch.Tensor:
        """What the adapter token adds to every position's attention output: tanh(gate) * its values."""
        return self.gate.tanh() * adapter_v

    def forward(
        self,
        x: torch.Tensor,
        rotations: torch.Tensor,
        mask: torch.Tensor | None,
        adapter_v: torch.Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        adapter_gated: bool = False,
    ) -> torch.Tensor:
        """`adapter_gated`: adapter_v is already `gated(values)`, computed once per batch by the caller."""
        b, s, _ = x.shape
        xq = _with_lora(self, "wq", self.wq(x), x).view(b, s, self.n_heads, self.head_dim)
        xk = _with_lora(self, "wk", self.wk(x), x).view(b, s, self.n_heads, self.head_dim)
        xv = _with_lora(self, "wv", self.wv(x), x).view(b, s, self.n_heads, self.head_dim)
        xq, xk = apply_rotary(xq, rotations), apply_rotary(xk, rotations)

        q, k, v = xq.transpose(1, 2), xk.transpose(1, 2), xv.transpose(1, 2)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        if mask is not None:
            scores = scores + mask
        scores = F.softmax(scores.float(), dim=-1).type_as(q)
        out = torch.matmul(scores, v)
        if adapter_v is not None:
            out = out + (adapter_v if adapter_gated else self.gated(adapter_v))
        out = out.transpose(1, 2).contiguous().view(b, s, -1)
        return _with_lora(self, "wo", self.wo(out), out)


class FeedForward(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        d, h, r = cfg.dim, cfg.ffn_hidden_dim, cfg.lora_rank
        self.w1 = nn.Linear(d, h, bias=True)
        self.w2 = nn.Linear(h, d, bias=True)
        self.w3 = nn.Linear(d, h, bias=True)
        _lora_pair(self, "w1", d, h, r)
        _lora_pair(self, "w2", h, d, r)
        _lora_pair(self, "w3", d, h, r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = F.silu(_with_lora(self, "w1", self.w1(x), x)) * _with_lora(self, "w3", self.w3(x), x)
        return _with_lora(self, "w2", self.w2(hidden), hidden)


class TransformerBlock(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.attention = Attention(cfg)
        self.feed_forward = FeedForward(cfg)
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)

    def forward(self, x, rotations, mask, adapter_v=None, cache=None, layer=0, adapter_gated=False):
        h = x + self.attention(self.attention_norm(x), rotations, mask, adapter_v, cache, layer, adapter_gated)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    """LLaMA whose last len(adapter_values) blocks each receive one adapter token."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        # Weights always come from files: `_weight` skips a random init (slow on the meta device).
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim, _weight=torch.empty(cfg.vocab_size, cfg.dim))
        self.layers = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)

    def hidden_states(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        adapter_values: list[torch.Tensor],
        cache: KVCache | None = None,
        adapter_gated: bool = False,
    ) -> torch.Tensor:
        """Final-normed hidden states [B, S, dim]; `adapter_values[i]` feeds block n_layers-len+i
        (already multiplied by that block's tanh(gate) when `adapter_gated`)."""
        h = self.tok_embeddings(tokens)
        rotations = rotary_table(positions, self.cfg.head_dim, self.cfg.rope_theta)
        first_prefixed = self.cfg.n_layers - len(adapter_values)
        for i, block in enumerate(self.layers):
            adapter_v = adapter_values[i - first_prefixed] if i >= first_prefixed else None
            h = block(h, rotations, mask, adapter_v, cache, i, adapter_gated)
        if cache is not None:
            cache.length += tokens.shape[1]
        return self.norm(h)
