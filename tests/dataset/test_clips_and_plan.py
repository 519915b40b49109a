"""Listing videos, extracting clips (soundtrack + frames), splits, duplicates and resume planning, the tiny video captioner."""

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from videos import write_video

from musiscene_core.audio import SAMPLE_RATE
from musiscene_core.data.build_plan import BuildPlan, clip_rows, plan_build
from musiscene_core.data.dataset_stages import (
    ClipDecodeStage,
    ClipShardWriter,
    IdentifyStage,
)
from musiscene_core.data.scene_dataset import (
    CLIPS,
    SceneDatasetStore,
    done_keys,
    training_rows,
)
from musiscene_core.data.splits import parse_fractions, split_of
from musiscene_core.data.video_clips import ClipError, extract_clip, list_clips
from musiscene_core.errors import UserError
from musiscene_core.tagging.store import OutputStore


@pytest.mark.parametrize("name", ["beach.mp4", "snow.webm"])
def test_clip_has_soundtrack_and_evenly_spaced_frames(video_dir, name):
    clip = extract_clip(str(video_dir / name), None, None, frames=4)
    assert clip.frames.shape == (4, 48, 64, 3) and clip.frames.dtype == np.uint8
    assert clip.audio.dtype == np.float32 and abs(clip.audio.size / SAMPLE_RATE - 2.0) < 0.1
    assert np.sqrt(np.mean(clip.audio**2)) > 0.01  # music, not silence
    assert abs(clip.duration_s - 2.0) < 0.1
    # The moving square advances between sampled frames: the frames are distinct pictures.
    assert len({frame.tobytes() for frame in clip.frames}) == 4


def test_segment_bounds_the_clip(video_dir):
    clip = extract_clip(str(video_dir / "chase.mp4"), 1.0, 2.0, frames=3)
    assert abs(clip.audio.size / SAMPLE_RATE - 1.0) < 0.05 and clip.duration_s == pytest.approx(1.0)
    whole = extract_clip(str(video_dir / "chase.mp4"), None, None, frames=3)
    assert not np.array_equal(clip.frames, whole.frames)
    # The audio of the segment is the whole track's audio from 1 s on.
    offset = SAMPLE_RATE
    assert np.allclose(clip.audio[:1000], whole.audio[offset : offset + 1000], atol=1e-4)


@pytest.mark.parametrize(
    "name, start, kind",
    [
        ("silent.mp4", None, "no_audio"),
        ("corrupt.mp4", None, "decode_failed"),
        ("beach.mp4", 30.0, "segment_out_of_range"),
    ],
)
def test_unusable_clips_raise_with_a_kind(video_dir, name, start, kind):
    with pytest.raises(ClipError) as info:
        extract_clip(str(video_dir / name), start, None, frames=4)
    assert info.value.kind == kind and len(info.value.reason) > 10


def test_too_long_clip_is_refused_before_decoding(video_dir):
    with pytest.raises(ClipError) as info:
        extract_clip(str(video_dir / "chase.mp4"), None, None, frames=2, max_clip_s=2.5)
    assert info.value.kind == "too_long" and "3 s" in info.value.reason
    assert extract_clip(str(video_dir / "chase.mp4"), 0.0, 2.0, frames=2, max_clip_s=2.5).duration_s == pytest.approx(2.0)


def test_too_short_soundtrack(video_dir):
    with pytest.raises(ClipError) as info:
        extract_clip(str(video_dir / "beach.mp4"), 1.5, None, frames=2, min_seconds=1.0)
    assert info.value.kind == "too_short"


def test_folder_listing_keeps_videos_only(video_dir):
    clips = list_clips(str(video_dir))
    names = [c.uri[len(str(video_dir)) + 1 :] for c in clips]
    assert names == ["battle.webm", "beach.mp4", "chase.mp4", "corrupt.mp4", "reupload/beach.mp4", "silent.mp4", "snow.webm"]
    assert all(c.segment == "whole" for c in clips)


def test_manifest_with_segments(video_dir, tmp_path):
    manifest = tmp_path / "segments.csv"
    shutil.copy(video_dir / "chase.mp4", tmp_path / "chase.mp4")
    manifest.write_text(
        f"uri,start_seconds,end_seconds\nchase.mp4,0,1.5\nchase.mp4,1.5,3\nchase.mp4,0,1.5\n{video_dir / 'beach.mp4'},,\n"
    )
    clips = list_clips(str(manifest))
    assert [(c.uri, c.segment) for c in clips] == [  # relative uris resolve against the manifest; repeats listed once
        (str(tmp_path / "chase.mp4"), "0.000-1.500"),
        (str(tmp_path / "chase.mp4"), "1.500-3.000"),
        (str(video_dir / "beach.mp4"), "whole"),
    ]
    manifest.write_text("uri,start,end\nchase.mp4,2,1\n")
    with pytest.raises(UserError, match="ends"):
        list_clips(str(manifest))
    pq.write_table(pa.table({"path": ["x.mp4"]}), tmp_path / "m.parquet")
    with pytest.raises(UserError, match="'uri'"):
        list_clips(str(tmp_path / "m.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no videos"):
        list_clips(str(tmp_path / "empty"))
    with pytest.raises(UserError, match="does not exist"):
        list_clips(str(tmp_path / "missing"))


def test_splits_are_a_stable_function_of_the_video():
    ids = [f"{i:064x}" for i in range(3000)]
    first = [split_of(v) for v in ids]
    assert first == [split_of(v) for v in ids]
    shares = {s: first.count(s) / len(ids) for s in ("train", "validation", "test")}
    assert abs(shares["train"] - 0.8) < 0.03 and abs(shares["validation"] - 0.1) < 0.02
    assert [split_of(v, seed=1) for v in ids] != first
    assert parse_fractions("0.6,0.2,0.2") == (0.6, 0.2, 0.2)
    for bad in ("0.5,0.5", "0.9,0.2,0.1", "a,b,c", "0,0.5,0.5"):
        with pytest.raises(UserError):
            parse_fractions(bad)


def _identities(uris):
    out = IdentifyStage()({"uri": np.array(uris, dtype=object)})
    return {u: {k: out[k][i] for k in out} for i, u in enumerate(out["uri"])}


def test_duplicates_and_splits_by_source_video(video_dir, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "uri,start,end\n"
        + "".join(
            f"{video_dir / n},{s},{e}\n"
            for n, s, e in [
                ("chase.mp4", 0, 1),
                ("chase.mp4", 1, 2),
                ("chase.mp4", 2, 3),
                ("beach.mp4", "", ""),
                ("reupload/beach.mp4", "", ""),
            ]
        )
    )
    plan = plan_build(str(manifest), None, "v1")
    identities = _identities(sorted({c.uri for c in plan.todo}))
    rows = clip_rows(plan, identities, (0.5, 0.25, 0.25), seed=3)
    by_name = {(u[len(str(video_dir)) + 1 :], s): i for i, (u, s) in enumerate(zip(rows["uri"], rows["segment"]))}
    chase = [by_name[("chase.mp4", seg)] for seg in ("0.000-1.000", "1.000-2.000", "2.000-3.000")]
    assert len({rows["split"][i] for i in chase}) == 1  # a video never spans two splits
    assert len({rows["clip_id"][i] for i in chase}) == 3
    copy = by_name[("reupload/beach.mp4", "whole")]
    original = by_name[("beach.mp4", "whole")]
    assert rows["status"][copy] == "duplicate" and rows["duplicate_of"][copy] == str(video_dir / "beach.mp4")
    assert rows["status"][original] == "ok" and rows["video_id"][copy] == rows["video_id"][original]

    # A later run that meets another copy points it at the video already in the output.
    chase_clip = [c for c in plan.todo if c.uri == str(video_dir / "chase.mp4")][:1]
    known = BuildPlan(todo=chase_clip, listed=1, skipped=0, known_videos={rows["video_id"][chase[0]]: "/elsewhere/chase.mp4"})
    again = clip_rows(known, identities, (0.5, 0.25, 0.25), seed=3)
    assert again["status"][0] == "duplicate" and again["duplicate_of"][0] == "/elsewhere/chase.mp4"


def test_unreadable_video_is_an_error_row(tmp_path):
    write_video(tmp_path / "gone.mp4", seconds=1.0)
    plan = plan_build(str(tmp_path), None, "v1")
    (tmp_path / "gone.mp4").unlink()
    rows = clip_rows(plan, _identities([plan.todo[0].uri]), (0.8, 0.1, 0.1), 0)
    assert rows["status"][0] == "error" and rows["error_kind"][0] == "not_found" and rows["split"][0] == ""


def test_done_keys_skip_built_clips_and_retry_llm_failures_on_request():
    current = pa.table(
        {
            "uri": ["a", "b", "c", "d"],
            "segment": ["whole"] * 4,
            "fingerprint": ["f"] * 4,
            "build_version": ["v1", "v1", "v1", "v0"],
            "status": ["ok", "error", "error", "ok"],
            "error_kind": [None, "llm_timeout", "no_audio", None],
        }
    )
    assert done_keys(current, "v1") == {("a", "whole", "f"), ("b", "whole", "f"), ("c", "whole", "f")}
    assert done_keys(current, "v1", ("llm_",)) == {("a", "whole", "f"), ("c", "whole", "f")}


def test_decode_stage_turns_failures_into_rows(video_dir):
    uris = [str(video_dir / n) for n in ("snow.webm", "silent.mp4", "corrupt.mp4")]
    batch = {
        "uri": np.array(uris, dtype=object),
        "start_s": np.full(3, np.nan),
        "end_s": np.full(3, np.nan),
        "status": np.array(["ok"] * 3, dtype=object),
        "error_kind": np.array([""] * 3, dtype=object),
        "error": np.array([""] * 3, dtype=object),
    }
    out = ClipDecodeStage(frames=3)(batch)
    assert list(out["status"]) == ["ok", "error", "error"]
    assert list(out["error_kind"]) == ["", "no_audio", "decode_failed"]
    assert out["frames"][0].shape == (3, 48, 64, 3) and out["window_lengths"][0].sum() == out["audio"][0].size


def test_clips_on_s3(s3_bucket, video_dir):
    endpoint, bucket, fs = s3_bucket
    fs.put(str(video_dir / "beach.mp4"), f"{bucket}/videos/beach.mp4")
    fs.put(str(video_dir / "snow.webm"), f"{bucket}/videos/sub/snow.webm")
    clips = list_clips(f"s3://{bucket}/videos", endpoint)
    assert [c.uri for c in clips] == [f"s3://{bucket}/videos/beach.mp4", f"s3://{bucket}/videos/sub/snow.webm"]
    assert all(c.fingerprint.startswith("etag:") for c in clips)
    out = IdentifyStage(endpoint)({"uri": np.array([c.uri for c in clips], dtype=object)})
    local = IdentifyStage()({"uri": np.array([str(video_dir / "beach.mp4")], dtype=object)})
    assert out["video_id"][0] == local["video_id"][0]
    batch = {
        "uri": np.array([c.uri for c in clips], dtype=object),
        "start_s": np.full(2, np.nan),
        "end_s": np.full(2, np.nan),
        "status": np.array(["ok"] * 2, dtype=object),
        "error_kind": np.array([""] * 2, dtype=object),
        "error": np.array([""] * 2, dtype=object),
    }
    decoded = ClipDecodeStage(frames=2, endpoint_url=endpoint)(batch)
    assert list(decoded["status"]) == ["ok", "ok"] and decoded["frames"][1].shape[0] == 2


def test_tiny_video_captioner(tiny_video_captioner):
    from musiscene_core.models.video_captioner import VideoCaptioner
    from musiscene_core.models.video_captioner.captioner import (
        is_random,
        video_captioner_version,
    )

    captioner = VideoCaptioner.from_pretrained(str(tiny_video_captioner), device="cpu", max_new_tokens=8)
    assert captioner.frames_per_clip == 6 and is_random(str(tiny_video_captioner))
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 255, (6, 48, 64, 3), dtype=np.uint8), rng.integers(0, 255, (3, 40, 40, 3), dtype=np.uint8)]
    texts = captioner.caption(clips)
    assert len(texts) == 2 and all(isinstance(t, str) and t for t in texts)
    assert captioner.caption(clips[:1]) == texts[:1]  # batched equals alone (greedy)
    with pytest.raises(UserError, match="at most 6 frames"):
        captioner.caption([rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)])
    assert video_captioner_version(str(tiny_video_captioner)).startswith("git-tiny-")


def _written_batch(uris, status):
    """A batch as it reaches the writer (after captioning and fusion), with made-up captions and features."""
    n = len(uris)
    text = lambda value: np.array([value if s == "ok" else "" for s in status], dtype=object)  # noqa: E731
    return {
        "uri": np.array(uris, dtype=object),
        "segment": np.array(["whole"] * n, dtype=object),
        "start_s": np.full(n, np.nan),
        "end_s": np.full(n, np.nan),
        "fingerprint": np.array(["f"] * n, dtype=object),
        "bytes": np.full(n, 10),
        "duration_s": np.full(n, 2.0),
        "video_id": np.array([f"v{i}" for i in range(n)], dtype=object),
        "clip_id": np.array([f"c{i}" for i in range(n)], dtype=object),
        "split": np.array(["train"] * n, dtype=object),
        "status": np.array(status, dtype=object),
        "error_kind": np.array(["" if s == "ok" else "no_audio" for s in status], dtype=object),
        "error": np.array(["" if s == "ok" else "no_audio: silent" for s in status], dtype=object),
        "duplicate_of": np.array([""] * n, dtype=object),
        "video_caption": text("a beach"),
        "music_caption": text("piano"),
        "scene_caption": text("a calm beach at dawn with gentle waves"),
        "music_question": np.array(["q"] * n, dtype=object),
        "mert_layer_means": np.ones((n, 3, 4), dtype=np.float32),
        "llm_prompt_tokens": np.full(n, 7),
        "llm_completion_tokens": np.full(n, 5),
        "llm_attempts": np.ones(n, dtype=np.int64),
    }


VERSIONS = {
    "video_captioner": "g",
    "music_model": "m",
    "llm_model": "l",
    "prompt_version": "p",
    "build_version": "b",
    "question": "Q?",
}


def test_a_crash_between_shards_loses_and_duplicates_nothing(tmp_path, monkeypatch):

    dst = str(tmp_path / "out")
    SceneDatasetStore(dst).claim({"split_fractions": [0.8, 0.1, 0.1], "split_seed": 0})
    uris = ["/v/a.mp4", "/v/b.mp4", "/v/c.mp4"]
    real_write = OutputStore.write_table

    def crash_on_clips(self, table_name, shard_id, table):
        if table_name == CLIPS:
            raise KeyboardInterrupt  # the process dies after the features shard, before the clips shard
        real_write(self, table_name, shard_id, table)

    monkeypatch.setattr(OutputStore, "write_table", crash_on_clips)
    with pytest.raises(KeyboardInterrupt):
        ClipShardWriter(dst, VERSIONS)(_written_batch(uris, ["ok", "error", "ok"]))
    monkeypatch.setattr(OutputStore, "write_table", real_write)
    store = SceneDatasetStore(dst)
    assert store.current_clips() is None  # no clip counts as done: the rerun does them all
    assert (tmp_path / "out" / "features").is_dir() and not (tmp_path / "out" / CLIPS).exists()

    summary = ClipShardWriter(dst, VERSIONS)(_written_batch(uris, ["ok", "error", "ok"]))
    assert list(summary["status"]) == ["ok", "error", "ok"]
    current = store.current_clips()
    assert sorted(current.column("uri").to_pylist()) == uris
    assert done_keys(current, "b") == {(u, "whole", "f") for u in uris}
    rows = training_rows(dst)
    assert rows.column("track_id").to_pylist() == ["c0", "c2"] and rows.column("question").to_pylist() == ["Q?", "Q?"]
