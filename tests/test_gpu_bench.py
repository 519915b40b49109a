"""benchmarks.gpu_bench --tiny runs its GPU code paths on the CPU and writes a report, numbers and stage costs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from musiscene_core.errors import UserError
from musiscene_core.tagging.costs import (
    StageCosts,
    estimate,
    load_stage_costs,
    write_stage_costs,
)

ROOT = Path(__file__).resolve().parents[1]


def test_tiny_run_reports_every_stage_and_loadable_costs(tmp_path):
    command = [
        sys.executable,
        "-m",
        "benchmarks.gpu_bench",
        "--tiny",
        "--out",
        str(tmp_path),
        "--rounds",
        "1",
        "--tracks",
        "6",
        "--batch-sizes",
        "2,6",
        "--baseline-batch",
        "2",
        "--baseline-tracks",
        "4",
        "--reference-tracks",
        "2",
        "--max-new-tokens",
        "6",
        "--mert-tracks",
        "3",
        "--track-seconds",
        "1",
        "--window-seconds",
        "0.5",
        "--decode-seconds",
        "1",
        "--profile",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_bench_tiny-cpu.json").read_text())
    assert report["device"]["name"].startswith("cpu") and report["device"]["peak_gbps"] is None
    assert set(report["caption"]["rows"]) == {
        "reference: plain, batch 1",
        "today: plain, batch 2",
        "fast, batch 2",
        "fast, batch 6",
    }
    for row in report["caption"]["rows"].values():
        assert row["same_tokens_as_reference"] == 2  # float32 on the CPU: every path gives the reference's tokens
        assert len(row["seconds"]) == 1 and row["captions_per_s"] > 0 and row["steps"] > 0
    mert = report["mert"]
    assert mert["windows"] > mert["tracks"] and mert["max_abs_difference"] < 1e-5  # several windows per track, same means
    assert set(mert["rows"]) == {"one track per call", "tracks batched"} and mert["gflop_per_audio_s"] > 0
    markdown = (tmp_path / "gpu_bench_tiny-cpu.md").read_text()
    assert "# GPU benchmark: cpu" in markdown and "no peak numbers for this device" in markdown
    assert "by host time" in (tmp_path / "gpu_bench_tiny-cpu_profile.txt").read_text()
    costs = load_stage_costs(tmp_path / "stage_costs_tiny-cpu.json")
    assert costs.device == report["device"]["name"] and costs.caption_batch_size in (2, 6)
    assert costs.decode_cpu_s_per_audio_s > 0 and costs.mert_s_per_audio_s > 0 and costs.caption_s_per_track > 0


def _costs(**changes):
    base = dict(
        device="NVIDIA H200",
        models="real-size",
        dtype="bfloat16",
        measured_at="2026-11-30T00:00:00+00:00",
        command="python -m benchmarks.gpu_bench",
        decode_cpu_s_per_audio_s=0.001,
        mert_s_per_audio_s=0.0002,
        caption_s_per_track=0.01,
        mert_window_s=30.0,
        caption_batch_size=256,
        caption_max_new_tokens=64,
    )
    return StageCosts(**{**base, **changes})


def test_estimate_names_the_bound_side():
    costs = _costs()
    # 1000 tracks of 200 s: decode 200 CPU-s; device 40 s of MERT + 10 s of captions.
    cpu_bound = estimate(costs, tracks=1000, audio_s=200_000, cpus=1, devices=1)
    assert (cpu_bound.cpu_s, cpu_bound.device_s, cpu_bound.wall_s, cpu_bound.bound) == pytest.approx((200, 50, 200, "cpu"))
    device_bound = estimate(costs, tracks=1000, audio_s=200_000, cpus=16, devices=1)
    assert (device_bound.wall_s, device_bound.bound) == (pytest.approx(50), "device")
    with pytest.raises(UserError):
        estimate(costs, tracks=1, audio_s=1, cpus=0, devices=1)


def test_stage_costs_round_trip_and_bad_files(tmp_path):
    path = write_stage_costs(_costs(), tmp_path / "costs.json")
    assert load_stage_costs(path) == _costs()
    with pytest.raises(UserError, match="No stage-costs file"):
        load_stage_costs(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="not a readable"):
        load_stage_costs(tmp_path / "bad.json")
    data = json.loads(path.read_text())
    (tmp_path / "negative.json").write_text(json.dumps({**data, "mert_s_per_audio_s": -1}))
    with pytest.raises(UserError, match="mert_s_per_audio_s must be a finite number"):
        load_stage_costs(tmp_path / "negative.json")
    (tmp_path / "partial.json").write_text(json.dumps({k: v for k, v in data.items() if k != "device"}))
    with pytest.raises(UserError, match="lacks the field"):
        load_stage_costs(tmp_path / "partial.json")
    (tmp_path / "other.json").write_text(json.dumps({**data, "format": "something"}))
    with pytest.raises(UserError, match="is not a musiscene-stage-costs"):
        load_stage_costs(tmp_path / "other.json")
