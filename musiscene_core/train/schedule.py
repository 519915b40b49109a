"""Learning-rate schedule and optimizer of MU-LLaMA's fine-tuning.

MU-LLaMA (after MAE's `util/lr_sched.py`) sets the learning rate before every optimizer step from the
fractional epoch: linear warmup from 0, then a half-cycle cosine from `lr` down to `min_lr` at the
last epoch. Its AdamW uses betas (0.9, 0.95) and exempts biases and 1-d tensors (norms, gates) from
weight decay.
"""

from __future__ import annotations

import math

import torch
from torch import nn

BETAS = (0.9, 0.95)


def lr_at(epoch: float, lr: float, min_lr: float, warmup_epochs: float, epochs: float) -> float:
    """The learning rate at fractional epoch `epoch` (= optimizer step / steps per epoch)."""
    if epoch < warmup_epochs:
        return lr * epoch / warmup_epochs
    progress = (epoch - warmup_epochs) / (epochs - warmup_epochs)
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def build_optimizer(named_params: list[tuple[str, nn.Parameter]], weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, biases and 1-d tensors without weight decay."""
    decay = [p for name, p in named_params if p.ndim > 1 and not name.endswith(".bias")]
    no_decay = [p for name, p in named_params if p.ndim <= 1 or name.endswith(".bias")]
    groups = [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=0.0, betas=BETAS)
