"""MU-LLaMA's music adapter: MERT layer means -> one token in LLaMA's embedding space.

Steps, as MU-LLaMA computes them for one audio input:
1. `mu_mert_agg`, a 1x1 Conv1d over the MERT layers ([B, L, H] -> [B, H]), a learned layer mix;
2. L2 normalisation, times MU-LLaMA's modality weight 1 / (1 + 1e-6) (its weighted sum over input
   modalities with a single modality of weight 1);
3. `mu_mert_proj`, Linear H -> dim;
4. three residual SwiGLU blocks `x + f2(silu(f1(norm(x))) * f3(norm(x)))`, named
   `mu_mert_norm_i`, `mu_mert_f1_i`, `mu_mert_f2_i`, `mu_mert_f3_i` for i = 1..3.
The current bridge uses RMSNorm (eps 1e-6) and bias-free linears; the legacy bridge uses LayerNorm
(eps 1e-5) and biased linears.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from musiscene_core.models.mullama.configuration import MusicAdapterConfig
from musiscene_core.models.mullama.llama import RMSNorm

# Constants of MU-LLaMA's code, not stored in any of its files.
MODALITY_WEIGHT = 1 / (1 + 1e-6)
BRIDGE_RMSNORM_EPS = 1e-6
BRIDGE_LAYERNORM_EPS = 1e-5
N_BLOCKS = 3


class MusicAdapter(nn.Module):
    def __init__(self, cfg: MusicAdapterConfig):
        super().__init__()
        self.cfg = cfg
        self.mu_mert_agg = nn.Conv1d(cfg.mert_layers, 1, kernel_size=1)
        self.mu_mert_proj = nn.Linear(cfg.mert_dim, cfg.dim)
        bias = cfg.legacy_bridge
        for i in range(1, N_BLOCKS + 1):
            norm = nn.LayerNorm(cfg.dim, eps=BRIDGE_LAYERNORM_EPS) if cfg.legacy_bridge else RMSNorm(cfg.dim, BRIDGE_RMSNORM_EPS)
            setattr(self, f"mu_mert_norm_{i}", norm)
            setattr(self, f"mu_mert_f1_{i}", nn.Linear(cfg.dim, cfg.hidden_dim, bias=bias))
            setattr(self, f"mu_mert_f2_{i}", nn.Linear(cfg.hidden_dim, cfg.dim, bias=bias))
            setattr(self, f"mu_mert_f3_{i}", nn.Linear(cfg.dim, cfg.hidden_dim, bias=bias))

    def forward(self, layer_means: torch.Tensor) -> torch.Tensor:
        """[B, mert_layers, mert_dim] -> audio token [B, 1, dim]."""
        mixed = self.mu_mert_agg(layer_means).squeeze(1)
        x = (F.normalize(mixed, dim=-1) * MODALITY_WEIGHT).unsqueeze(1)
        x = self.mu_mert_proj(x)
        for i in range(1, N_BLOCKS + 1):
            normed = getattr(self, f"mu_mert_norm_{i}")(x)
            gated = F.silu(getattr(self, f"mu_mert_f1_{i}")(normed)) * getattr(self, f"mu_mert_f3_{i}")(normed)
            x = x + getattr(self, f"mu_mert_f2_{i}")(gated)
        return x
