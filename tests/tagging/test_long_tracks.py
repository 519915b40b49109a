"""Long tracks are not held whole: past `max_inline_s` they ship no samples and MERT reads them as a stream."""

from pathlib import Path

import numpy as np
import pytest

from musiscene_core.audio import write_audio
from musiscene_core.data.synthetic import generate_piece
from musiscene_core.models.presets import resolve_model
from musiscene_core.tagging.stages import DecodeStage, MertStage

RATE = 24000


@pytest.fixture(scope="module")
def long_track(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "mix.flac"
    write_audio(path, generate_piece("calm_sea", seed=3, duration_s=27.0, sample_rate=RATE), RATE, "flac")
    return str(path)


def _batch(uri):
    return {"uri": np.array([uri], dtype=object), "fingerprint": np.array(["f"], dtype=object)}


class _RecordingEncoder:
    """Wraps the MERT encoder and records how many windows each call received."""

    def __init__(self, encoder):
        self.encoder, self.calls = encoder, []
        self.num_layers, self.hidden_size = encoder.num_layers, encoder.hidden_size

    def layer_means(self, windows):
        self.calls.append(len(windows))
        return self.encoder.layer_means(windows)

    def track_layer_means(self, tracks, batch_size=None):  # inline tracks: batched across tracks, not recorded
        return self.encoder.track_layer_means(tracks, batch_size=batch_size)


def test_a_long_track_streams_in_window_groups_with_the_inline_result(long_track, tiny_model):
    reading = dict(policy="whole", window_s=4.0, hop_s=4.0)  # 27 s: 6 full windows (the 3 s tail is under the 4 s minimum)
    inline = DecodeStage(**reading)(_batch(long_track))
    streamed = DecodeStage(**reading, max_inline_s=8.0)(_batch(long_track))
    assert not inline["streamed"][0] and len(inline["window_lengths"][0]) == 6
    assert streamed["streamed"][0] and streamed["audio"][0].size == 0  # nothing of the track travels
    assert streamed["status"][0] == "ok" and streamed["track_id"][0] == inline["track_id"][0]
    assert streamed["duration_s"][0] == pytest.approx(27.0, abs=0.05)

    spec = resolve_model(str(tiny_model))
    mert = MertStage(spec, device="cpu", windows_per_call=4, decode=reading)
    mert.encoder = _RecordingEncoder(mert.encoder)
    from_inline = mert(inline)["mert_layer_means"][0]
    from_stream = mert(streamed)["mert_layer_means"][0]
    assert mert.encoder.calls == [4, 2]  # the streamed read: never more than windows_per_call windows at once
    np.testing.assert_allclose(from_stream, from_inline, rtol=1e-5, atol=1e-6)

    # The same as the length-weighted mean over all windows computed in one go.
    bounds = np.cumsum([0, *inline["window_lengths"][0]])
    windows = [inline["audio"][0][a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    per_window = mert.encoder.encoder.layer_means(windows)
    weights = np.diff(bounds) / bounds[-1]
    np.testing.assert_allclose(from_inline, np.tensordot(weights, per_window, axes=1), rtol=1e-5, atol=1e-6)


def test_a_file_changed_between_decode_and_mert_is_a_transient_error(long_track, tiny_model, tmp_path):
    copy = tmp_path / "mix.flac"
    copy.write_bytes(Path(long_track).read_bytes())
    reading = dict(policy="whole", window_s=4.0, hop_s=4.0)
    decoded = DecodeStage(**reading, max_inline_s=8.0)(_batch(str(copy)))
    write_audio(copy, generate_piece("neon_chase", seed=4, duration_s=27.0, sample_rate=RATE), RATE, "flac")
    out = MertStage(resolve_model(str(tiny_model)), device="cpu", decode=reading)(decoded)
    assert out["status"][0] == "error" and out["error_kind"][0] == "unreadable" and "changed" in out["error"][0]


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])  # formats whose header declares a duration
@pytest.mark.parametrize("max_inline_s", [60.0, 8.0], ids=["inline", "streamed"])
@pytest.mark.parametrize("policy", ["whole", "mu-llama"])
def test_a_track_cut_off_before_its_declared_end_is_decode_failed(long_track, tmp_path, fmt, max_inline_s, policy):
    whole = write_audio(
        tmp_path / f"whole.{fmt}", generate_piece("calm_sea", seed=3, duration_s=27.0, sample_rate=RATE), RATE, fmt
    )
    half = tmp_path / f"half.{fmt}"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # the header still declares 27 s
    stage = DecodeStage(policy=policy, window_s=4.0, hop_s=4.0, max_inline_s=max_inline_s)
    out = stage({"uri": np.array([str(whole), str(half)], dtype=object), "fingerprint": np.array(["a", "b"], dtype=object)})
    assert list(out["status"]) == ["ok", "error"]
    assert out["error_kind"][1] == "decode_failed" and "ends early" in out["error"][1]
    assert not out["streamed"][1] and out["audio"][1].size == 0  # nothing of the cut track travels on
