"""Loudness: integrated loudness (ITU-R BS.1770-4, via pyloudnorm) set to a target, with a true-ish peak ceiling."""

from __future__ import annotations

import math

import numpy as np

DEFAULT_TARGET_LUFS = -16.0  # common for online video; broadcast (EBU R128) uses -23
DEFAULT_UNDER_LU = 12.0  # music this far below the original sound when mixed under it
PEAK_CEILING = 10 ** (-1.0 / 20)  # -1 dBFS


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """LUFS of [channels, samples] audio; -inf for silence or audio shorter than one 400 ms gating block."""
    import pyloudnorm

    if audio.shape[-1] < int(0.4 * rate) + 1:
        return -math.inf
    return float(pyloudnorm.Meter(rate).integrated_loudness(audio.T.astype(np.float64)))


def set_loudness(audio: np.ndarray, rate: int, target_lufs: float) -> np.ndarray:
    """Gain `audio` to `target_lufs`; silence stays silent. Peaks are then held under -1 dBFS (lowering the whole piece)."""
    current = integrated_loudness(audio, rate)
    if math.isfinite(current):
        audio = audio * 10 ** ((target_lufs - current) / 20)
    return limit_peak(audio)


def limit_peak(audio: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return audio * (PEAK_CEILING / peak) if peak > PEAK_CEILING else audio


def mix_under(original: np.ndarray, music: np.ndarray, rate: int, under_lu: float, fallback_lufs: float) -> np.ndarray:
    """Music `under_lu` below the original's loudness (or at `fallback_lufs` if the original is silent), summed."""
    length = music.shape[-1]
    original = original[:, :length]
    if original.shape[-1] < length:
        original = np.pad(original, ((0, 0), (0, length - original.shape[-1])))
    reference = integrated_loudness(original, rate)
    target = reference - under_lu if math.isfinite(reference) else fallback_lufs
    current = integrated_loudness(music, rate)
    if math.isfinite(current):
        music = music * 10 ** ((target - current) / 20)
    return limit_peak(original + music)
