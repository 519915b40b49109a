"""Test signals and measurements shared by the audio tests."""

from __future__ import annotations

import numpy as np

TONE_HZ = 440.0
# -6 dBFS peak: loud enough to measure, far from clipping even after lossy coding.
TONE_PEAK = 10 ** (-6 / 20)


def sine(sample_rate: int, seconds: float, hz: float = TONE_HZ, peak: float = TONE_PEAK) -> np.ndarray:
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    return (peak * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def sine_rms_db(peak: float = TONE_PEAK) -> float:
    return 20 * np.log10(peak / np.sqrt(2))


def middle(samples: np.ndarray, sample_rate: int, seconds: float = 1.0) -> np.ndarray:
    """`seconds` from the middle of the signal: away from codec priming and end padding."""
    centre, half = len(samples) // 2, round(seconds * sample_rate) // 2
    return samples[centre - half : centre + half]


def rms_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))))


def peak_hz(samples: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / sample_rate)[spectrum.argmax()])
