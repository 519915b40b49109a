"""The tagging stages, the stage graph and the sequential runner, without Ray."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musiscene_core import tables
from musiscene_core.audio import write_audio
from musiscene_core.models.mert.encoder import MertEncoder
from musiscene_core.pipelines.sequential import SequentialRunner
from musiscene_core.tagging.config import TagConfig
from musiscene_core.tagging.graph import CAPTION, DECODE, EMBED, MERT, MODELS, WRITE, Stage, build_stages, fuse_models
from musiscene_core.tagging.stages import CaptionStage, DecodeStage, MertStage, ShardWriter, policy_record


def _batch(**columns) -> dict:
    n = len(columns["uri"])
    base = dict(
        uri=np.array(columns["uri"], dtype=object),
        fingerprint=np.full(n, "fp", dtype=object),
        status=np.full(n, "ok", dtype=object),
        error_kind=np.full(n, "", dtype=object),
        error=np.full(n, "", dtype=object),
    )
    base.update({k: v for k, v in columns.items() if k != "uri"})
    return base


class _Model:
    """A ModelSpec stand-in: the stages only call load_mert / load_captioner and read the question."""

    question = "What type of scene?"

    def __init__(self, encoder=None, captioner=None):
        self.encoder, self.captioner = encoder, captioner

    def load_mert(self, device=None):
        return self.encoder

    def load_captioner(self, device=None):
        return self.captioner


class _ConstantEncoder:
    """layer_means of a window = that window's first sample, everywhere; 'poison' windows (-1) raise."""

    num_layers, hidden_size = 2, 3

    track_layer_means = MertEncoder.track_layer_means  # the real cross-track batching over this layer_means

    def __init__(self):
        self.calls = []

    def layer_means(self, windows, batch_size=None):
        self.calls.append((len(windows), batch_size))
        if any(w[0] == -1 for w in windows):
            raise RuntimeError("bad window")
        return np.stack([np.full((self.num_layers + 1, self.hidden_size), w[0], dtype=np.float32) for w in windows])


class _Captioner:
    """Captions each row by its first feature; a batch holding a negative row fails as a whole."""

    def __init__(self):
        self.batch_sizes = []

    def generate(self, means, question, **generation):
        self.batch_sizes.append(len(means))
        if (means[:, 0, 0] < 0).any():
            raise RuntimeError("CUDA out of memory\nsecond line")
        return type("Result", (), {"texts": [f"scene {m[0, 0]:g}" for m in means]})()


def test_decode_stage_turns_bad_files_into_error_rows(tmp_path):
    good = write_audio(tmp_path / "good.flac", np.sin(np.linspace(0, 900, 24000 * 3)).astype(np.float32), 24000, "flac")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.mp3").write_text("not audio\n" * 10)
    uris = [str(good), str(tmp_path / "missing.wav"), str(tmp_path / "empty.wav"), str(tmp_path / "text.mp3")]
    out = DecodeStage(window_s=1.0, hop_s=1.0)({"uri": np.array(uris, dtype=object), "fingerprint": np.full(4, "", dtype=object)})
    assert list(out["status"]) == ["ok", "error", "error", "error"]
    assert list(out["error_kind"]) == ["", "not_found", "empty", "unsupported"]
    assert all(str(e).startswith(f"{k}: ") for k, e in zip(out["error_kind"][1:], out["error"][1:]))
    assert (
        len(out["track_id"][0]) == 64 and out["sample_rate"][0] == 24000 and out["duration_s"][0] == pytest.approx(3.0, abs=0.05)
    )
    assert list(out["window_lengths"][0]) == [24000] * 3 and len(out["audio"][0]) == 72000
    assert len(out["audio"][1]) == 0 and np.isnan(out["duration_s"][1])


def test_mert_means_are_weighted_by_window_length():
    encoder = _ConstantEncoder()
    stage = MertStage(_Model(encoder=encoder), windows_per_call=1)
    # Track 0: a 3-sample window of 1.0 and a 1-sample window of 5.0 -> (3*1 + 1*5) / 4 = 2, not the plain mean 3.
    audio = np.empty(2, dtype=object)
    audio[0], audio[1] = np.array([1, 1, 1, 5], np.float32), np.array([4, 4], np.float32)
    lengths = np.empty(2, dtype=object)
    lengths[0], lengths[1] = np.array([3, 1]), np.array([2])
    out = stage(_batch(uri=["a", "b"], audio=audio, window_lengths=lengths))
    assert out["mert_layer_means"].shape == (2, 3, 3)
    np.testing.assert_allclose(out["mert_layer_means"][0], 2.0)
    np.testing.assert_allclose(out["mert_layer_means"][1], 4.0)
    assert encoder.calls == [(3, 1)]  # the windows of both tracks in one call, windows_per_call per model call
    assert "audio" not in out and "window_lengths" not in out


def test_mert_failure_on_one_track_fails_that_track_only():
    stage = MertStage(_Model(encoder=_ConstantEncoder()))
    audio = np.empty(3, dtype=object)
    lengths = np.empty(3, dtype=object)
    for i, value in enumerate([1.0, -1.0, 2.0]):
        audio[i], lengths[i] = np.full(4, value, np.float32), np.array([4])
    out = stage(_batch(uri=["a", "b", "c"], audio=audio, window_lengths=lengths))
    assert list(out["status"]) == ["ok", "error", "ok"]
    assert out["error_kind"][1] == "mert_failed" and out["error"][1] == "mert_failed: RuntimeError: bad window"
    np.testing.assert_allclose(out["mert_layer_means"][2], 2.0)


def test_caption_batch_failure_is_retried_one_track_at_a_time():
    captioner = _Captioner()
    stage = CaptionStage(_Model(captioner=captioner))
    means = np.stack([np.full((3, 3), v, np.float32) for v in (1.0, -1.0, 2.0, 3.0)])
    batch = _batch(uri=["a", "b", "c", "d"], mert_layer_means=means)
    batch["status"][3], batch["error_kind"][3], batch["error"][3] = "error", "empty", "empty: no samples"
    out = stage(batch)
    assert captioner.batch_sizes == [3, 1, 1, 1]  # the failed batch of the 3 ok rows, then each alone
    assert list(out["caption"]) == ["scene 1", "", "scene 2", ""]
    assert list(out["status"]) == ["ok", "error", "ok", "error"]
    assert out["error"][1] == "caption_failed: RuntimeError: CUDA out of memory"  # one line
    assert out["error_kind"][3] == "empty"  # an earlier error is left as it was
    assert list(out["question"]) == [_Model.question] * 4


def _assert_schema(read: pa.Schema, expected: pa.Schema) -> None:
    """Field names, types and the schema version (Parquet renames a list's item field, which does not matter)."""
    assert read.metadata == expected.metadata and read.names == expected.names
    for got, want in zip(read.types, expected.types):
        if pa.types.is_fixed_size_list(want):
            assert (got.value_type, got.list_size) == (want.value_type, want.list_size)
        else:
            assert got == want


def test_shard_writer_writes_each_table_with_its_schema(tmp_path):
    means = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) / 10
    batch = _batch(
        uri=["a.wav", "b.wav"],
        track_id=np.array(["t" * 64, ""], dtype=object),
        bytes=np.array([10, 0]),
        format=np.array(["wav", ""], dtype=object),
        duration_s=np.array([1.5, np.nan]),
        sample_rate=np.array([24000, 0]),
        channels=np.array([1, 0]),
        mert_layer_means=means,
        caption=np.array(["a scene", ""], dtype=object),
        question=np.array(["q", "q"], dtype=object),
        caption_embedding=np.ones((2, 5), np.float32),
        audio_embedding=np.ones((2, 4), np.float32),
        embed_model=np.array(["m", "m"], dtype=object),
    )
    batch["status"][1], batch["error_kind"][1], batch["error"][1] = "error", "empty", "empty: nothing"
    summary = ShardWriter(str(tmp_path), model_version="v1", window_policy=policy_record("whole", 30.0, 15.0))(batch)
    assert list(summary["status"]) == ["ok", "error"]
    written = {
        name: pq.read_table(next((tmp_path / name).glob("part-*.parquet")))
        for name in (tables.TRACKS, tables.CAPTIONS, tables.FEATURES)
    }
    _assert_schema(written[tables.TRACKS].schema, tables.tracks_schema())
    _assert_schema(written[tables.CAPTIONS].schema, tables.captions_schema(5))
    _assert_schema(written[tables.FEATURES].schema, tables.features_schema(3, 4, 4))
    tracks = written[tables.TRACKS].to_pylist()
    assert [t["status"] for t in tracks] == ["ok", "error"] and tracks[1]["track_id"] is None and tracks[1]["duration_s"] is None
    assert {t["model_version"] for t in tracks} == {"v1"}
    features = written[tables.FEATURES].to_pylist()
    assert len(features) == 1 and features[0]["mert_layers"] == 3
    assert (features[0]["window_policy"], features[0]["window_s"], features[0]["hop_s"]) == ("whole", 30.0, 15.0)
    np.testing.assert_allclose(np.array(features[0]["mert_layer_means"], np.float32).reshape(3, 4), means[0], rtol=1e-3)
    assert written[tables.CAPTIONS].column("caption").to_pylist() == ["a scene"]


def _names(stages):
    return [s.name for s in stages]


def test_graph_fuses_the_model_stages_without_gpus_and_separates_them_with():
    config = TagConfig(src="in", dst="out", mert_actors=2, caption_actors=3, embed_actors=1, model_batch_size=4)
    cpu = build_stages(config, "spec", "v1", device="cpu", gpus_per_actor=0.0)
    assert _names(cpu) == [DECODE, MODELS, WRITE]
    assert cpu[0].actors is None and cpu[2].actors is None  # CPU tasks
    assert cpu[1].actors == 2 and cpu[1].num_gpus == 0 and cpu[1].batch_size == 4

    gpu = build_stages(config, "spec", "v1", device="cuda", gpus_per_actor=0.5)
    assert _names(gpu) == [DECODE, MERT, CAPTION, EMBED, WRITE]
    by_name = {s.name: s for s in gpu}
    assert (by_name[MERT].actors, by_name[MERT].num_gpus) == (2, 0.5)
    assert (by_name[CAPTION].actors, by_name[CAPTION].num_gpus) == (3, 0.5)
    assert by_name[EMBED].num_gpus == 0 and by_name[MERT].kwargs["device"] == "cuda"

    fused = TagConfig(src="in", dst="out", fuse_models=True)
    assert fuse_models(fused, 1.0) and not fuse_models(config, 1.0) and fuse_models(config, 0.0)
    assert _names(build_stages(fused, "spec", "v1", device="cuda", gpus_per_actor=1.0)) == [DECODE, MODELS, WRITE]


def test_graph_prefixes_and_their_errors():
    config = TagConfig(src="", dst="")
    assert _names(build_stages(config, "spec", None, device=None, last=CAPTION)) == [DECODE, MERT, CAPTION]
    assert _names(build_stages(config, "spec", None, device=None, last=MERT)) == [DECODE, MERT]
    with pytest.raises(ValueError, match="model version"):
        build_stages(config, "spec", None, device=None)
    with pytest.raises(ValueError, match="unknown stage"):
        build_stages(config, "spec", None, device=None, last="index")


class _Recorder:
    calls: list = []

    def __init__(self, tag):
        self.tag = tag

    def __call__(self, batch):
        _Recorder.calls.append((self.tag, len(batch["uri"])))
        return {**batch, self.tag: np.array([f"{self.tag}:{u}" for u in batch["uri"]], dtype=object)}


def test_sequential_runner_calls_each_stage_in_its_own_batch_size():
    _Recorder.calls = []
    stages = [Stage("one", _Recorder, dict(tag="one"), batch_size=2), Stage("two", _Recorder, dict(tag="two"), batch_size=5)]
    runner = SequentialRunner(stages)
    rows = [{"uri": f"u{i}", "fingerprint": ""} for i in range(7)]
    out = list(runner.batches(rows))
    assert [len(b["uri"]) for b in out] == [5, 2]  # the last stage's batch size per pass
    assert _Recorder.calls == [("one", 2), ("one", 2), ("one", 1), ("two", 5), ("one", 2), ("two", 2)]
    assert list(out[0]["two"]) == [f"two:u{i}" for i in range(5)] and list(out[1]["one"]) == ["one:u5", "one:u6"]


def test_decode_stage_makes_a_dead_store_a_transient_error_row(monkeypatch):
    # An endpoint that died mid-run: the S3 client raises its own exceptions (not OSError); the track must become
    # an `unreadable` row that a rerun retries, not a failed task that stops the job.
    for key, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    stage = DecodeStage(endpoint_url="http://127.0.0.1:1")
    out = stage({"uri": np.array(["s3://music/a.wav"], dtype=object), "fingerprint": np.array(["f"], dtype=object)})
    assert out["status"][0] == "error" and out["error_kind"][0] == "unreadable"
    assert out["error"][0] == "unreadable: the file could not be read: the S3 endpoint does not answer."
