"""MertEncoder against outputs of MERT's own published code.

Each folder under data/mert_official_* is a tiny random checkpoint in the published layout
(pre-norm encoder as MERT-v1-330M, post-norm as MERT-v1-95M). Its expected_hidden_states.npz holds
what MERT's published `modeling_MERT.py` + `Wav2Vec2FeatureExtractor` (run under transformers
4.40.2, the 4.x line that code was written for) returned with `output_hidden_states=True` for the
two waveforms below, one input at a time.
"""

from pathlib import Path

import numpy as np
import pytest

from musiscene_core.models.mert.encoder import MertEncoder

DATA = Path(__file__).parent / "data"


def reference_waveforms() -> list[np.ndarray]:
    waveforms = []
    for num_samples, f0 in ((12000, 220.0), (7777, 331.0)):
        t = np.arange(num_samples, dtype=np.float64) / 24000.0
        wave = (
            0.4 * np.sin(2 * np.pi * f0 * t)
            + 0.15 * np.sin(2 * np.pi * 3.7 * f0 * t + 0.5)
            + 0.05 * np.cos(2 * np.pi * 17.0 * t)
            + 0.02
        )
        waveforms.append(wave.astype(np.float32))
    return waveforms


@pytest.mark.parametrize("variant", ["pre_norm", "post_norm"])
def test_hidden_states_match_published_code(variant):
    folder = DATA / f"mert_official_{variant}"
    expected = np.load(folder / "expected_hidden_states.npz")
    encoder = MertEncoder.from_pretrained(folder, device="cpu")

    states = encoder.hidden_states(reference_waveforms())
    means = encoder.layer_means(reference_waveforms())

    for index, ours in enumerate(states):
        reference = expected[f"hidden_states_{index}"]
        assert ours.shape == reference.shape == (encoder.num_layers + 1, reference.shape[1], encoder.hidden_size)
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)
        np.testing.assert_allclose(means[index], reference.mean(axis=1), rtol=0, atol=1e-5)
