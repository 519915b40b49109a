"""Runs that stop or complete on their own terms: SIGTERM, an all-bad catalog, an S3 catalog into a local output."""

import json
import os
import signal
import subprocess

import pyarrow.parquet as pq
import pytest
from run_helpers import processes_with_env, run_cli, short_ray_tmpdir, start_slow_tag, wait_for
from tag_helpers import tag_env, write_catalog

pytestmark = pytest.mark.integration


@pytest.mark.timeout(900)
def test_sigterm_stops_the_run_cleanly_with_a_summary(tmp_path, models_home):
    write_catalog(tmp_path / "catalog", good=24, bad=0, seconds=2.0)
    dst = tmp_path / "out"
    ray_tmp = short_ray_tmpdir()
    proc = start_slow_tag(
        tmp_path / "catalog",
        dst,
        tag_env(models_home) | {"RAY_TMPDIR": ray_tmp},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        tracks = dst / "tracks"
        assert wait_for(lambda: proc.poll() is not None or (tracks.exists() and any(tracks.glob("part-*.parquet"))), 600)
        assert proc.poll() is None, "the run ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    message = [line for line in stderr.splitlines() if line.startswith("interrupted: ")]
    assert len(message) == 1 and "committed" in message[0] and "rerun" in message[0], stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (dst / "runs").glob("*.json")]
    assert len(records) == 1 and records[0]["interrupted"] is True
    committed = pq.read_table(dst / "tracks").num_rows
    assert records[0]["committed"] == committed and f"{committed} track(s) were committed" in message[0]
    assert not (dst / ".musiscene-lock.json").exists()
    assert wait_for(lambda: not processes_with_env("RAY_TMPDIR", ray_tmp), 30)


@pytest.mark.timeout(600)
def test_all_bad_catalog_completes_with_nothing_to_index(tmp_path, models_home):
    write_catalog(tmp_path / "catalog", good=0, bad=3)
    dst = tmp_path / "out"
    # A stale cluster record and RAY_ADDRESS pointing nowhere: without --ray-address neither is joined.
    ray_tmp = short_ray_tmpdir()
    os.makedirs(os.path.join(ray_tmp, "ray"))
    with open(os.path.join(ray_tmp, "ray", "ray_current_cluster"), "w") as record:
        record.write("127.0.0.1:1")
    proc = run_cli(
        "tag",
        str(tmp_path / "catalog"),
        "--out",
        str(dst),
        "--model",
        "tiny",
        "--json",
        env=tag_env(models_home) | {"RAY_TMPDIR": ray_tmp, "RAY_ADDRESS": "127.0.0.1:1"},
        timeout=500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["failed"] == 3 and summary["ok"] == 0
    assert "nothing to index" in summary["index"]["note"]
    assert len(list((dst / "runs").glob("*.json"))) == 1
    # Under --json, stderr carries no Ray INFO lines.
    assert " INFO " not in proc.stderr, proc.stderr[-3000:]


@pytest.mark.timeout(600)
def test_s3_catalog_into_a_local_output_completes_with_its_index(tmp_path, models_home, s3_bucket):
    endpoint, bucket, fs = s3_bucket
    write_catalog(tmp_path / "catalog", good=2, bad=1, seconds=1.5)
    for path in sorted((tmp_path / "catalog").rglob("*")):
        if path.is_file():
            fs.put_file(str(path), f"{bucket}/catalog/{path.relative_to(tmp_path / 'catalog')}")
    env = tag_env(models_home) | {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "RAY_TMPDIR": short_ray_tmpdir(),
    }
    proc = run_cli(
        "tag",
        f"s3://{bucket}/catalog",
        "--out",
        str(tmp_path / "out"),
        "--model",
        "tiny",
        "--json",
        "--endpoint-url",
        endpoint,
        env=env,
        timeout=500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["ok"] == 2 and summary["failed"] == 1 and summary["index"]["rows"] == 2
