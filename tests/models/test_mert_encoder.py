"""MertEncoder on tiny random checkpoints: shapes, frame rate, batching, preprocessing, input errors."""

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2FeatureExtractor

from musiscene_core.models.mert.encoder import MertEncoder, _without_tf32, make_tiny_mert, normalize_waveform
from musiscene_core.models.mert.modeling import _masked_instance_norm


@pytest.fixture(scope="module")
def pre_norm_dir(tmp_path_factory):
    return make_tiny_mert(tmp_path_factory.mktemp("mert_pre"), seed=0, num_layers=3)


@pytest.fixture(scope="module")
def encoder(pre_norm_dir):
    return MertEncoder.from_pretrained(pre_norm_dir, device="cpu")


def noise(num_samples: int, seed: int, scale: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(num_samples) * scale).astype(np.float32)


def test_attributes_describe_the_checkpoint(encoder, pre_norm_dir):
    assert (encoder.num_layers, encoder.hidden_size, encoder.sample_rate) == (3, 32, 24000)
    source, digest = encoder.model_version.split("@")
    assert source == pre_norm_dir.name
    assert len(digest) == 12 and int(digest, 16) >= 0
    assert encoder.min_samples == 400  # receptive field of MERT's convolution stack


def test_model_version_follows_the_weights(tmp_path, encoder):
    same = MertEncoder.from_pretrained(make_tiny_mert(tmp_path / "a", seed=0, num_layers=3))
    other = MertEncoder.from_pretrained(make_tiny_mert(tmp_path / "b", seed=1, num_layers=3))
    assert same.model_version.split("@")[1] == encoder.model_version.split("@")[1]
    assert other.model_version.split("@")[1] != encoder.model_version.split("@")[1]


def test_seventy_five_frames_per_second(encoder):
    states = encoder.hidden_states([noise(10 * 24000, 0), noise(24000, 1)])
    # 320x down-sampling with a 400-sample receptive field: 75 frames per second, one fewer at the edges.
    assert [s.shape for s in states] == [(4, 749, 32), (4, 74, 32)]
    assert encoder.num_frames(10 * 24000) == 749
    assert encoder.num_frames(400) == 1 and encoder.num_frames(399) == 0
    assert abs(encoder.num_frames(600 * 24000) / 600 - 75) < 0.01


@pytest.mark.parametrize("stable_layer_norm", [True, False])
def test_batched_equals_one_by_one(tmp_path, stable_layer_norm):
    folder = make_tiny_mert(tmp_path, seed=2, stable_layer_norm=stable_layer_norm)
    encoder = MertEncoder.from_pretrained(folder, device="cpu")
    # Unsorted, unequal lengths, the shortest valid input, and a repeated length.
    waveforms = [noise(n, seed) for seed, n in enumerate([30000, 400, 17123, 24000, 9001, 24000])]

    alone = [encoder.hidden_states([w])[0] for w in waveforms]
    for batch_size in (2, 6):
        batched = encoder.hidden_states(waveforms, batch_size=batch_size)
        for one, many in zip(alone, batched):
            assert one.shape == many.shape
            np.testing.assert_allclose(many, one, rtol=0, atol=1e-5)

    means = encoder.layer_means(waveforms, batch_size=4)
    assert means.shape == (6, 3, 32) and means.dtype == np.float32
    np.testing.assert_allclose(means, np.stack([a.mean(axis=1) for a in alone]), rtol=0, atol=1e-5)


def test_padding_reaches_no_frame_through_the_group_norm(encoder):
    short, long = noise(5000, 0), noise(48000, 1)
    together = encoder.hidden_states([short, long])[0]
    alone = encoder.hidden_states([short])[0]
    np.testing.assert_allclose(together[0], alone[0], rtol=0, atol=1e-5)  # layer 0 sits right after the GroupNorm


def test_tf32_is_off_only_while_the_model_runs():
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with _without_tf32():
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_float32_on_cuda_is_batch_independent_under_default_tf32_settings(tmp_path):
    folder = make_tiny_mert(tmp_path, seed=7, hidden_size=256, num_layers=4, conv_channels=128)
    encoder = MertEncoder.from_pretrained(folder, device="cuda")
    waveforms = [noise(n, seed) for seed, n in enumerate([72000, 24000, 51234, 9000])]
    alone = [encoder.hidden_states([w])[0] for w in waveforms]
    for one, many in zip(alone, encoder.hidden_states(waveforms, batch_size=4)):
        np.testing.assert_allclose(many, one, rtol=0, atol=1e-5)


def test_masked_instance_norm_equals_group_norm_without_padding():
    norm = torch.nn.GroupNorm(6, 6)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    hidden = torch.randn(3, 6, 50) * 4 + 1
    full = _masked_instance_norm(norm, hidden, torch.tensor([50, 50, 50]))
    torch.testing.assert_close(full, norm(hidden), rtol=0, atol=1e-5)
    partial = _masked_instance_norm(norm, hidden, torch.tensor([50, 20, 7]))
    torch.testing.assert_close(partial[1, :, :20], norm(hidden[1:2, :, :20])[0], rtol=0, atol=1e-5)


def test_normalisation_equals_wav2vec2_feature_extractor():
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=24000, do_normalize=True)
    for waveform in (noise(12345, 3) + 0.4, noise(999, 4, scale=5.0), np.zeros(500, np.float32)):
        expected = extractor(waveform, sampling_rate=24000, return_tensors="np").input_values[0]
        np.testing.assert_allclose(normalize_waveform(waveform), expected, rtol=0, atol=1e-6)


def test_normalisation_follows_preprocessor_config(tmp_path, encoder):
    # The first GroupNorm already removes most gain, except where the signal is small against its
    # epsilon: a very quiet copy shows whether the input was normalised first.
    waveform = noise(20000, 5)
    quiet = 0.01 * waveform + 0.001
    on = encoder.hidden_states([waveform, quiet])
    np.testing.assert_allclose(on[0], on[1], rtol=0, atol=1e-4)

    raw = MertEncoder.from_pretrained(make_tiny_mert(tmp_path, seed=0, num_layers=3, do_normalize=False))
    off = raw.hidden_states([waveform, quiet])
    assert np.abs(off[0] - off[1]).max() > 0.1


def test_lower_precision_dtype_runs_and_returns_float32(pre_norm_dir, encoder):
    half = MertEncoder.from_pretrained(pre_norm_dir, device="cpu", dtype="bfloat16")
    waveform = noise(24000, 6)
    reduced = half.layer_means([waveform])
    assert reduced.dtype == np.float32
    full = encoder.layer_means([waveform])
    assert np.abs(reduced - full).max() < 0.25 * np.abs(full).max()


def test_empty_input_gives_empty_output(encoder):
    assert encoder.hidden_states([]) == []
    assert encoder.layer_means([]).shape == (0, 4, 32)


@pytest.mark.parametrize(
    ("waveforms", "error", "message"),
    [
        ([np.zeros(399, np.float32)], ValueError, "at least 400"),
        ([np.zeros((2, 1000), np.float32)], ValueError, "mono 1-D"),
        ([np.full(1000, np.nan, np.float32)], ValueError, "NaN"),
        (np.zeros(1000, np.float32), TypeError, "list of 1-D"),
    ],
)
def test_bad_waveforms_are_refused(encoder, waveforms, error, message):
    with pytest.raises(error, match=message):
        encoder.hidden_states(waveforms)


def test_bad_dtype_and_batch_size_are_refused(pre_norm_dir, encoder):
    with pytest.raises(ValueError, match="dtype"):
        MertEncoder.from_pretrained(pre_norm_dir, dtype="int8")
    with pytest.raises(ValueError, match="batch_size"):
        encoder.layer_means([noise(1000, 0)], batch_size=0)
