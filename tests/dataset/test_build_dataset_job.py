"""`musiscene build-dataset` end to end on local Ray (one Ray start for the module), then `musiscene train` on its output."""

import contextlib
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from musiscene_core.data.scene_dataset import SceneDatasetStore
from musiscene_core.data.splits import split_of

pytestmark = pytest.mark.integration

FRACTIONS = (0.5, 0.25, 0.25)


def cli(*argv) -> tuple[int, str, str]:
    """Run the `musiscene` command in this process (so it joins the module's Ray); returns (status, stdout, stderr)."""
    from musiscene_core.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in argv])
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
    return code, out.getvalue(), err.getvalue()


def _video_id(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def ray_session(models_home):
    import ray

    saved = os.environ.get("MUSISCENE_MODELS")
    os.environ["MUSISCENE_MODELS"] = str(models_home)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    if saved is None:
        os.environ.pop("MUSISCENE_MODELS", None)
    else:
        os.environ["MUSISCENE_MODELS"] = saved


@pytest.fixture(scope="module")
def manifest(video_dir, tmp_path_factory):
    """8 clips: 5 usable (one video cut into two segments), a byte-identical copy, a silent and a corrupt video."""
    path = tmp_path_factory.mktemp("manifest") / "clips.csv"
    rows = [
        ("beach.mp4", "", ""),
        ("reupload/beach.mp4", "", ""),
        ("chase.mp4", 0, 1.5),
        ("chase.mp4", 1.5, 3),
        ("snow.webm", "", ""),
        ("battle.webm", "", ""),
        ("silent.mp4", "", ""),
        ("corrupt.mp4", "", ""),
    ]
    path.write_text("uri,start,end\n" + "".join(f"{video_dir / name},{start},{end}\n" for name, start, end in rows))
    return path


@pytest.fixture(scope="module")
def split_seed(video_dir):
    """A seed that puts the two-segment video and one other in train, and one video in each other split
    (splits are a pure function of the seed and the videos' bytes)."""
    ids = [_video_id(video_dir / n) for n in ("chase.mp4", "beach.mp4", "snow.webm", "battle.webm")]
    for seed in range(500):
        splits = [split_of(v, FRACTIONS, seed) for v in ids]
        if splits[0] == "train" and Counter(splits) == {"train": 2, "validation": 1, "test": 1}:
            return seed
    raise AssertionError("no seed gives every split a video")


@pytest.fixture(scope="module")
def built(ray_session, manifest, split_seed, llm_server, tmp_path_factory):
    """Run 1: the endpoint times out on one fusion and answers garbage on another. Run 2: the same command.
    Run 3: --retry-errors, with the endpoint healthy."""
    dst = tmp_path_factory.mktemp("built") / "scenes"
    command = [
        "build-dataset",
        manifest,
        "--out",
        dst,
        "--model",
        "tiny",
        "--video-captioner",
        "tiny",
        "--llm-endpoint",
        llm_server.url,
        "--llm-model",
        "scripted",
        "--llm-timeout",
        "0.5",
        "--llm-retries",
        "0",
        "--frames",
        "4",
        "--splits",
        ",".join(map(str, FRACTIONS)),
        "--split-seed",
        split_seed,
        "--json",
    ]
    llm_server.script[:] = ["timeout", "garbage"]
    runs = []
    for extra in ([], [], ["--retry-errors"]):
        code, out, err = cli(*command, *extra)
        assert code == 0, err[-3000:]
        runs.append(json.loads(out))
        if len(runs) == 1:
            runs.append(pq.read_table(dst / "clips"))  # the rows of run 1, as committed
    return dst, runs


def test_first_run_gives_one_row_per_clip_with_reasons(built, video_dir):
    dst, (first, first_rows, *_rest) = built
    assert first["listed"] == 8 and first["processed"] == 8 and first["skipped"] == 0
    assert first["ok"] == 3 and first["duplicates"] == 1
    assert first["errors"] == {"decode_failed": 1, "llm_bad_response": 1, "llm_timeout": 1, "no_audio": 1}
    assert first["llm_tokens"]["prompt"] > 0 and first["llm_tokens"]["completion"] > 0
    assert first["llm_tokens"]["total"] == first["llm_tokens"]["prompt"] + first["llm_tokens"]["completion"]
    assert first["random_weights"] is True and first["prompt_version"].startswith("scene_fusion_v1-")

    rows = first_rows.to_pylist()
    assert len(rows) == 8 and len({(r["uri"], r["segment"]) for r in rows}) == 8
    ok = [r for r in rows if r["status"] == "ok"]
    for row in ok:
        assert row["video_caption"] and row["music_caption"] and row["scene_caption"].startswith("A slow-motion shot")
        assert row["question"] == "What type of scene the music is suitable for?"
        assert row["music_question"] == "Describe the music in detail."
        assert row["video_captioner"].startswith("git-tiny-") and row["music_model"].startswith("tiny-")
        assert row["llm_model"] == "scripted" and row["llm_prompt_tokens"] > 0 and row["split"] in ("train", "validation", "test")
    by_kind = {r["error_kind"]: r for r in rows if r["status"] == "error"}
    assert by_kind["no_audio"]["uri"] == str(video_dir / "silent.mp4")
    assert by_kind["decode_failed"]["uri"] == str(video_dir / "corrupt.mp4")
    assert "0.5 s" in by_kind["llm_timeout"]["error"] and "not a chat completion" in by_kind["llm_bad_response"]["error"]
    for row in by_kind.values():
        assert row["error"].startswith(row["error_kind"] + ": ") and row["scene_caption"] is None
    duplicate = next(r for r in rows if r["status"] == "duplicate")
    assert duplicate["uri"] == str(video_dir / "reupload" / "beach.mp4") and duplicate["duplicate_of"] == str(
        video_dir / "beach.mp4"
    )
    features = {f["track_id"] for f in pq.read_table(dst / "features").to_pylist()}
    assert {r["clip_id"] for r in ok} <= features  # (the fixture's later runs add the retried clips)


def test_rerun_duplicates_nothing_and_retry_fills_the_failures(built):
    dst, (first, first_rows, second, third) = built
    assert second["processed"] == 0 and second["skipped"] == 8
    assert third["processed"] == 2 and third["ok"] == 2 and third["skipped"] == 6
    assert third["dataset"] == {
        "clips": 8,
        "ok": 5,
        "splits": {"train": 3, "validation": 1, "test": 1},
        "duplicates": 1,
        "failed": 2,
    }
    history = pq.read_table(dst / "clips")
    assert history.num_rows == 10  # run 1's 8 rows + the 2 retried clips; run 2 wrote nothing
    current = SceneDatasetStore(str(dst)).current_clips().to_pylist()
    assert len(current) == 8 and len({(r["uri"], r["segment"]) for r in current}) == 8
    assert len(list((dst / "runs").glob("*.json"))) == 3
    features = pq.read_table(dst / "features").to_pylist()
    assert sorted(f["track_id"] for f in features) == sorted(r["clip_id"] for r in current if r["status"] == "ok")


def test_splits_are_by_video_and_stable(built):
    dst, (_, first_rows, *_rest) = built
    current = SceneDatasetStore(str(dst)).current_clips().to_pylist()
    videos_by_split: dict[str, set] = {}
    for row in current:
        if row["split"]:
            videos_by_split.setdefault(row["split"], set()).add(row["video_id"])
    splits = list(videos_by_split.values())
    assert all(not (a & b) for i, a in enumerate(splits) for b in splits[i + 1 :])  # no video spans two splits
    chase = {r["split"] for r in current if r["uri"].endswith("chase.mp4")}
    assert len(chase) == 1
    before = {(r["uri"], r["segment"]): r["split"] for r in first_rows.to_pylist()}
    assert all(before[(r["uri"], r["segment"])] == r["split"] for r in current)


def test_other_split_settings_are_refused(built, manifest):
    dst, _ = built
    code, _, err = cli(
        "build-dataset",
        manifest,
        "--out",
        dst,
        "--model",
        "tiny",
        "--video-captioner",
        "tiny",
        "--llm-endpoint",
        "http://127.0.0.1:9/v1",
        "--llm-model",
        "scripted",
        "--splits",
        "0.8,0.1,0.1",
    )
    assert code == 2 and err.startswith("error: ") and "split_fractions" in err and "Traceback" not in err


def test_train_accepts_the_output_as_it_is(built, tmp_path):
    dst, _ = built
    out = tmp_path / "train"
    code, stdout, err = cli(
        "train",
        "--data",
        dst,
        "--base",
        "tiny",
        "--out",
        out,
        "--epochs",
        "1",
        "--batch-size",
        "1",
        "--warmup-epochs",
        "0",
        "--eval-limit",
        "1",
    )
    assert code == 0, err[-3000:]
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["examples"] == {"train": 3, "validation": 1, "test": 1}
    assert summary["features_extracted"] == 0  # the clips' features come from the dataset folder
    assert summary["steps"] == 3 and (out / "model" / "preset.json").is_file()
    prepared = pq.read_table(out / "dataset" / "train.parquet").to_pylist()
    current = {r["clip_id"]: r for r in SceneDatasetStore(str(dst)).current_clips().to_pylist() if r["status"] == "ok"}
    for row in prepared:
        assert row["question"] == "What type of scene the music is suitable for?"
        assert row["answer"] == current[row["track_id"]]["scene_caption"] and current[row["track_id"]]["split"] == "train"


def test_cli_errors_are_one_sentence(tmp_path, video_dir, models_home, monkeypatch):
    monkeypatch.setenv("MUSISCENE_MODELS", str(models_home))
    for args, message in [
        (["--llm-endpoint", "http://127.0.0.1:9/v1"], "--llm-model is required"),
        ([], "choose one fusion model"),
        (["--llm-endpoint", "http://127.0.0.1:9/v1", "--llm-model", "m", "--splits", "0.5,0.6,0.1"], "split fractions"),
        (["--llm-endpoint", "http://127.0.0.1:9/v1", "--llm-model", "m", "--frames", "0"], "frames must be at least 1"),
        (
            ["--llm-endpoint", "http://127.0.0.1:9/v1", "--llm-model", "m", "--video-captioner", "no such thing"],
            "video captioner",
        ),
        (
            ["--llm-endpoint", "http://127.0.0.1:9/v1", "--llm-model", "m", "--video-captioner", "tiny", "--frames", "8"],
            "at most 6 frames",
        ),
    ]:
        code, _, err = cli("build-dataset", video_dir, "--out", tmp_path / "out", "--model", "tiny", *args)
        assert code == 2 and err.startswith("error: ") and message in err and "Traceback" not in err, err


def test_job_entry_script_runs_the_command():
    proc = subprocess.run(
        [sys.executable, "jobs/build_dataset.py", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert proc.returncode == 0 and "--llm-endpoint" in proc.stdout
