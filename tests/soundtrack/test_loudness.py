"""Loudness normalisation and mixing under the original sound (ITU-R BS.1770 through pyloudnorm)."""

import numpy as np
import pytest

from musiscene_core.soundtrack import loudness

RATE = 48000


def _noise(seconds, level, seed):
    return (np.random.default_rng(seed).standard_normal((2, int(seconds * RATE))) * level).astype(np.float32)


def test_set_loudness_reaches_the_target():
    audio = _noise(3, 0.01, 0)
    out = loudness.set_loudness(audio, RATE, -20.0)
    assert loudness.integrated_loudness(out, RATE) == pytest.approx(-20.0, abs=0.05)


def test_peaks_stay_under_minus_one_dbfs():
    out = loudness.set_loudness(_noise(3, 0.01, 1), RATE, 0.0)  # a target too loud for the peaks
    assert np.max(np.abs(out)) <= loudness.PEAK_CEILING + 1e-6


def test_silence_stays_silent():
    assert not loudness.set_loudness(np.zeros((2, RATE * 2), np.float32), RATE, -16).any()


def test_music_sits_the_given_lu_under_the_original():
    original, music = _noise(3, 0.02, 2), _noise(3, 0.2, 3)
    mixed = loudness.mix_under(original, music, RATE, under_lu=12.0, fallback_lufs=-16)
    placed = mixed - original  # no limiting at these levels
    assert loudness.integrated_loudness(placed, RATE) == pytest.approx(
        loudness.integrated_loudness(original, RATE) - 12.0, abs=0.05
    )
