"""Cross-track MERT batching: windows of many tracks share model calls and give each track its own means."""

import numpy as np
import pytest
import torch

from musiscene_core.models.devices import mert_dtype
from musiscene_core.models.mert.encoder import (
    CPU_BATCH_SIZE,
    MertEncoder,
    make_tiny_mert,
)
from musiscene_core.tagging.stages import MertStage


@pytest.fixture(scope="module", params=[True, False], ids=["pre-norm", "post-norm"])
def encoder(request, tmp_path_factory):
    folder = make_tiny_mert(tmp_path_factory.mktemp("mert_batching"), seed=2, num_layers=2, stable_layer_norm=request.param)
    return MertEncoder.from_pretrained(folder, device="cpu")


def tracks():
    """Five tracks of 1 to 4 windows, every window a different length (0.05 s to 0.4 s at 24 kHz)."""
    rng = np.random.default_rng(7)
    shapes = [[9600], [4800, 7200, 1200], [2400, 9600], [3000, 3000, 5000, 1700], [8000]]
    return [[(rng.standard_normal(n) * 0.3).astype(np.float32) for n in lengths] for lengths in shapes]


def one_track_at_a_time(encoder, track):
    """The previous MertStage computation: this track's windows alone, weighted by window length."""
    per_window = encoder.layer_means(track)
    weights = np.array([len(w) for w in track], dtype=np.float64)
    return np.tensordot(weights / weights.sum(), per_window, axes=1).astype(np.float32)


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_cross_track_batches_equal_per_track_calls(encoder, batch_size):
    data = tracks()
    batched = encoder.track_layer_means(data, batch_size=batch_size)
    alone = np.stack([one_track_at_a_time(encoder, t) for t in data])
    assert batched.shape == (5, encoder.num_layers + 1, encoder.hidden_size) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-5)
    assert np.abs(alone[0] - alone[4]).max() > 1e-2  # the tracks really differ


def test_time_means_reduced_per_layer_equal_means_of_the_full_states(encoder):
    data = [w for t in tracks() for w in t]
    states = encoder.hidden_states(data, batch_size=4)
    np.testing.assert_allclose(
        encoder.layer_means(data, batch_size=4), np.stack([s.mean(axis=1) for s in states]), rtol=0, atol=1e-5
    )


def test_mert_stage_batches_tracks_and_matches_per_track(encoder):
    class Model:
        def load_mert(self, device=None):
            return encoder

    data = tracks()
    audio, lengths = np.empty(len(data), dtype=object), np.empty(len(data), dtype=object)
    for i, t in enumerate(data):
        audio[i], lengths[i] = np.concatenate(t), np.array([len(w) for w in t])
    n = len(data)
    batch = dict(
        uri=np.array([f"t{i}" for i in range(n)], dtype=object),
        status=np.full(n, "ok", dtype=object),
        error_kind=np.full(n, "", dtype=object),
        error=np.full(n, "", dtype=object),
        audio=audio,
        window_lengths=lengths,
    )
    calls = []
    original = encoder.layer_means
    encoder.layer_means = lambda windows, batch_size=None: (calls.append(len(windows)), original(windows, batch_size))[1]
    try:
        out = MertStage(Model(), windows_per_call=4)(batch)
    finally:
        del encoder.layer_means
    assert calls == [11]  # all eleven windows in one cross-track call
    np.testing.assert_allclose(
        out["mert_layer_means"], np.stack([one_track_at_a_time(encoder, t) for t in data]), rtol=0, atol=1e-5
    )


def test_batch_size_choice_and_errors(encoder):
    assert encoder.auto_batch_size(24000 * 30) == CPU_BATCH_SIZE  # the CPU does not size batches by memory
    assert encoder.bytes_per_sample() > 0
    assert mert_dtype("cpu") == torch.float32 and mert_dtype("cuda") == torch.bfloat16
    with pytest.raises(ValueError, match="track 1 has no windows"):
        encoder.track_layer_means([[np.zeros(2000, np.float32)], []])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cross_track_batches_on_cuda_with_batch_size_from_free_memory(tmp_path):
    gpu = MertEncoder.from_pretrained(make_tiny_mert(tmp_path, seed=2, num_layers=2), device="cuda", dtype="float32")
    cpu = MertEncoder.from_pretrained(tmp_path, device="cpu")
    assert MertEncoder.from_pretrained(tmp_path, device="cuda").dtype == torch.bfloat16  # the CUDA default
    assert 1 <= gpu.auto_batch_size(24000 * 30) <= 256
    data = tracks()
    np.testing.assert_allclose(
        gpu.track_layer_means(data), np.stack([one_track_at_a_time(cpu, t) for t in data]), rtol=0, atol=1e-5
    )
