"""Checking a user's `--device` before any model is loaded on it."""

from __future__ import annotations

from musiscene_core.errors import UserError


def check_device(device: str | None) -> str | None:
    """`device` if PyTorch can use it here ("cpu", "cuda", "cuda:N"); None stays None (choose automatically)."""
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from exc
    if parsed.type == "cpu":
        return device
    if parsed.type != "cuda":
        raise UserError(f"device {device!r} is not supported; use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise UserError(f"--device {device} needs a CUDA GPU, and this machine or PyTorch build has none; use --device cpu")
    if parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise UserError(f"--device {device} names GPU {parsed.index}, but only {torch.cuda.device_count()} are visible")
    return device
