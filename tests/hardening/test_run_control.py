"""One run per output folder, and a killed run stops at once: the lock, its takeover, and the process tree."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from run_helpers import assert_one_sentence, processes_with_env, run_cli, short_ray_tmpdir, start_slow_tag, wait_for
from tag_helpers import tag_env, write_catalog
from test_tag_job import assert_exactly_once

pytestmark = pytest.mark.integration


def _shards(dst: Path) -> dict[str, set[str]]:
    return {
        table: {p.name for p in (dst / table).glob("part-*.parquet")} if (dst / table).exists() else set()
        for table in ("tracks", "captions", "features")
    }


@pytest.mark.timeout(1200)
def test_second_run_refused_then_killed_run_stops_and_is_taken_over(tmp_path, models_home):
    goods, bads = write_catalog(tmp_path / "catalog", good=20, bad=2, seconds=2.0)
    dst = tmp_path / "out"
    ray_tmp = short_ray_tmpdir()
    env = tag_env(models_home) | {"RAY_TMPDIR": ray_tmp}
    first = start_slow_tag(tmp_path / "catalog", dst, env, "--no-index", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = dst / ".musiscene-lock.json"
        assert wait_for(lambda: lock.exists() or first.poll() is not None, 300)
        assert first.poll() is None, "the first run ended before the test could race it"

        second = run_cli(
            "tag",
            str(tmp_path / "catalog"),
            "--out",
            str(dst),
            "--model",
            "tiny",
            env=tag_env(models_home) | {"RAY_TMPDIR": short_ray_tmpdir()},
            timeout=300,
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert_one_sentence(second.stderr, "in use by run", f"pid {first.pid}")

        assert wait_for(lambda: len(_shards(dst)["tracks"]) >= 1 or first.poll() is not None, 600)
        assert first.poll() is None, "the first run ended before it could be killed mid-way"
        assert processes_with_env("RAY_TMPDIR", ray_tmp), "the first run's Ray processes should be found by RAY_TMPDIR"
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()

    # Every process of the killed run is gone within seconds, and nothing more is committed.
    gone = wait_for(lambda: not processes_with_env("RAY_TMPDIR", ray_tmp), 15)
    leftovers = processes_with_env("RAY_TMPDIR", ray_tmp)
    for pid in leftovers:  # started by this test: never leave them running
        os.kill(pid, signal.SIGKILL)
    assert gone, f"processes of the killed run still alive: {leftovers}"
    after_kill = _shards(dst)
    time.sleep(3)
    assert _shards(dst) == after_kill

    # The stale lock is taken over and the run completes with every file exactly once.
    final = run_cli(
        "tag",
        str(tmp_path / "catalog"),
        "--out",
        str(dst),
        "--model",
        "tiny",
        "--json",
        env=tag_env(models_home) | {"RAY_TMPDIR": short_ray_tmpdir()},
        timeout=900,
    )
    assert final.returncode == 0, final.stderr[-3000:]
    summary = json.loads(final.stdout)
    assert summary["skipped"] >= 1 and summary["skipped"] + summary["processed"] == 22
    assert_exactly_once(dst, goods, bads)
    assert not (dst / ".musiscene-lock.json").exists()
