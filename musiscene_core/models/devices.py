"""Where a model runs and in which floating-point type, when the caller does not say: decided here only."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: str | torch.device, training: bool = False) -> torch.dtype:
    """float32 on CPU. On CUDA: float16 for inference (the precision MU-LLaMA's captions were made in),
    bfloat16 for training (float16's narrow range overflows gradients without loss scaling).

    MERT is not covered: it stays float32 unless asked, because its time means over minutes of audio
    overflow float16 (see `mert.modeling`)."""
    if torch.device(device).type != "cuda":
        return torch.float32
    return torch.bfloat16 if training else torch.float16
