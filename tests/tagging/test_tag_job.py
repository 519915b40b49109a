"""The tagging job end to end on local Ray: outputs, error rows, indexes, search, resume after kill -9, S3."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tag_helpers import tag_env, write_catalog

pytestmark = pytest.mark.integration


def run_tag(src, dst, env, *extra, timeout=600):
    cmd = [sys.executable, "-m", "musiscene_core", "tag", str(src), "--out", str(dst), "--json", "--model", "tiny", *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def committed(dst: Path, table: str):
    return pq.read_table(dst / table) if (dst / table).exists() else None


def assert_exactly_once(dst: Path, goods, bads):
    tracks = committed(dst, "tracks").to_pandas()
    assert sorted(tracks["uri"]) == sorted(str(p) for p in goods + bads)  # every file exactly once
    ok = tracks[tracks.status == "ok"]
    assert len(ok) == len(goods) and ok["track_id"].str.len().eq(64).all()
    errors = tracks[tracks.status == "error"]
    assert len(errors) == len(bads) and errors["error"].str.len().gt(10).all()
    captions = committed(dst, "captions").to_pandas()
    features = committed(dst, "features").to_pandas()
    for table in (captions, features):
        assert sorted(table["track_id"]) == sorted(ok["track_id"])
    return tracks


def test_tag_catalog_end_to_end(tmp_path, models_home):
    goods, bads = write_catalog(tmp_path / "catalog", good=21, bad=6)
    dst = tmp_path / "out"
    summary = run_tag(tmp_path / "catalog", dst, tag_env(models_home), "--batch-size", "4", "--shard-rows", "8")
    assert summary["ok"] == 21 and summary["failed"] == 6 and summary["skipped"] == 0
    assert set(summary["errors"]) == {"empty", "unsupported", "too_short"}
    assert summary["random_weights"] is True and summary["index"]["rows"] == 21
    tracks = assert_exactly_once(dst, goods, bads)
    assert tracks["model_version"].nunique() == 1
    features = committed(dst, "features")
    row = features.slice(0, 1).to_pylist()[0]
    assert len(row["mert_layer_means"]) == row["mert_layers"] * row["mert_hidden"]
    run_records = list((dst / "runs").glob("*.json"))
    assert len(run_records) == 1 and json.loads(run_records[0].read_text())["ok"] == 21

    search = subprocess.run(
        [sys.executable, "-m", "musiscene_core", "search", "a calm night by the sea", "--index", str(dst), "-k", "5", "--json"],
        env=tag_env(models_home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert search.returncode == 0, search.stderr
    hits = json.loads(search.stdout)["hits"]
    assert len(hits) == 5 and {h["uri"] for h in hits} <= {str(p) for p in goods}
    assert all(isinstance(h["score"], float) for h in hits)

    # A rerun skips everything; a grown catalog only costs the new files.
    again = run_tag(tmp_path / "catalog", dst, tag_env(models_home))
    assert again["processed"] == 0 and again["skipped"] == 27
    more, _ = write_catalog(tmp_path / "extra", good=2, bad=0, first_seed=100)
    for i, path in enumerate(more):
        path.rename(tmp_path / "catalog" / f"new {i}{path.suffix}")
    grown = run_tag(tmp_path / "catalog", dst, tag_env(models_home))
    assert grown["processed"] == 2 and grown["skipped"] == 27 and grown["index"]["rows"] == 23


def _tag_until_killed(src, dst, env, shards_before_kill: int | None, deadline_s: float = 300):
    """Start a tag run and SIGKILL its whole process group once `shards_before_kill` track shards exist (None: after Ray starts)."""
    cmd = [
        sys.executable,
        "-m",
        "musiscene_core",
        "tag",
        str(src),
        "--out",
        str(dst),
        "--json",
        "--model",
        "tiny",
        "--batch-size",
        "2",
        "--shard-rows",
        "2",
        "--no-index",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    start = time.time()
    try:
        while time.time() - start < deadline_s and proc.poll() is None:
            shards = len(list((dst / "tracks").glob("part-*.parquet"))) if (dst / "tracks").exists() else 0
            if shards_before_kill is None and time.time() - start > 8:
                break
            if shards_before_kill is not None and shards >= shards_before_kill:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_kill_minus_nine_at_several_points_then_resume(tmp_path, models_home):
    goods, bads = write_catalog(tmp_path / "catalog", good=14, bad=3, seconds=2.0)
    dst = tmp_path / "out"
    env = tag_env(models_home)
    _tag_until_killed(tmp_path / "catalog", dst, env, shards_before_kill=None)  # during start-up
    _tag_until_killed(tmp_path / "catalog", dst, env, shards_before_kill=1)  # after the first shard
    _tag_until_killed(tmp_path / "catalog", dst, env, shards_before_kill=4)  # mid-run, from a resumed run
    for table in ("tracks", "captions", "features"):
        for shard in (dst / table).glob("part-*.parquet") if (dst / table).exists() else []:
            pq.read_table(shard)  # no visible shard is corrupt
    final = run_tag(tmp_path / "catalog", dst, env)
    assert final["skipped"] + final["processed"] == 17
    assert_exactly_once(dst, goods, bads)
    assert final["index"]["rows"] == 14


def test_tag_on_s3(tmp_path, models_home, s3_bucket):
    endpoint, bucket, fs = s3_bucket
    goods, bads = write_catalog(tmp_path / "catalog", good=6, bad=2, seconds=2.0)
    for path in sorted((tmp_path / "catalog").rglob("*")):
        if path.is_file():
            fs.put_file(str(path), f"{bucket}/catalog/{path.relative_to(tmp_path / 'catalog')}")
    env = tag_env(models_home) | {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    src, dst = f"s3://{bucket}/catalog", f"s3://{bucket}/out"
    summary = run_tag(src, dst, env, "--endpoint-url", endpoint)
    assert summary["ok"] == 6 and summary["failed"] == 2 and summary["index"]["rows"] == 6
    with fs.open(f"{bucket}/out/tracks/{fs.ls(f'{bucket}/out/tracks')[0].rsplit('/', 1)[1]}", "rb") as handle:
        tracks = pq.read_table(handle).to_pandas()
    assert all(uri.startswith(f"s3://{bucket}/catalog/") for uri in tracks["uri"])
    again = run_tag(src, dst, env, "--endpoint-url", endpoint)
    assert again["processed"] == 0 and again["skipped"] == 8  # ETags make the rerun free
    search = subprocess.run(
        [
            sys.executable,
            "-m",
            "musiscene_core",
            "search",
            "a chase",
            "--index",
            dst,
            "--endpoint-url",
            endpoint,
            "-k",
            "3",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert search.returncode == 0, search.stderr
    assert len(json.loads(search.stdout)["hits"]) == 3
