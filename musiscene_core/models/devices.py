"""Where a model runs and in which floating-point type, when the caller does not say: decided here only."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: str | torch.device, training: bool = False) -> torch.dtype:
    """float32 on CPU. On CUDA: float16 for inference (the precision MU-LLaMA's captions were made in),
    bfloat16 for training (float16's narrow range overflows gradients without loss scaling).

    MERT is not covered: see `mert_dtype`."""
    if torch.device(device).type != "cuda":
        return torch.float32
    return torch.bfloat16 if training else torch.float16


def mert_dtype(device: str | torch.device) -> torch.dtype:
    """float32 on CPU, bfloat16 on CUDA: float16 is never chosen for MERT, because its time means over
    minutes of audio overflow float16's range (see `mert.modeling`); bfloat16 has float32's range."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
