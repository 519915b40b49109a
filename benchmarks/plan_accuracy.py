"""Planner accuracy: the per-track cost `musiscene tag --plan` projects vs a measured full run of the same catalog.

The full run is measured as a marginal cost, so that start-up (Ray, model loading, listing) drops out:
two full runs of `musiscene tag` in separate processes, on the first `--small` tracks and on the whole
catalog, and the per-track cost is (T_all - T_small) / (N_all - N_small). The plan profiles `--sample`
tracks of the same catalog in this process. Rounds alternate plan and runs; the ratio plan/measured
is reported as min/median/max over the rounds and written to benchmarks/results/plan_accuracy.md.

    python -m benchmarks.plan_accuracy [--tracks 90] [--small 30] [--sample 30] [--seconds 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

RESULTS = Path(__file__).parent / "results" / "plan_accuracy.md"


def make_catalog(root: Path, tracks: int, seconds: float) -> list[Path]:
    from musiscene_core.audio import write_audio
    from musiscene_core.data.synthetic import make_catalog as synth

    return [p.path for p in synth(root, n=tracks, seed=0, duration_s=seconds, formats=("wav", "flac", "mp3", "ogg"),
                                  writer=write_audio)]


def full_run(src: Path, dst: Path) -> dict:
    """`musiscene tag` as a user runs it (its own process and local Ray), without the index build."""
    cmd = [sys.executable, "-m", "musiscene_core", "tag", str(src), "--out", str(dst), "--model", "tiny", "--json", "--no-index"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout)


def planned(src: Path, sample: int) -> dict:
    from musiscene_core.tagging.config import TagConfig
    from musiscene_core.tagging.planner import ClusterShape, plan_tagging

    return plan_tagging(TagConfig(src=str(src), dst=None, model="tiny"), ClusterShape(), sample).as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=90)
    parser.add_argument("--small", type=int, default=30)
    parser.add_argument("--sample", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="plan-accuracy-"))
    try:
        os.environ.setdefault("MUSISCENE_MODELS", str(work / "models"))
        pieces = make_catalog(work / "all", args.tracks, args.seconds)
        (work / "small").mkdir()
        for path in sorted(pieces)[: args.small]:
            shutil.copy2(path, work / "small" / path.name)
        rows = []
        for round_no in range(args.rounds):
            plan = planned(work / "all", args.sample)
            small = full_run(work / "small", work / f"out-small-{round_no}")
            whole = full_run(work / "all", work / f"out-all-{round_no}")
            measured = (whole["seconds"] - small["seconds"]) / (whole["processed"] - small["processed"])
            rows.append(dict(round=round_no, planned=plan["seconds_per_track"], measured=measured,
                             ratio=plan["seconds_per_track"] / measured, small_s=small["seconds"], all_s=whole["seconds"],
                             model_s=plan["profile"]["model_s"], decode_s=plan["profile"]["decode_s"]))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratios = [r["ratio"] for r in rows]
    lines = [
        "# Planner accuracy: projected vs measured seconds per track (this machine, tiny preset)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}.",
        f"Catalog: {args.tracks} synthetic tracks of {args.seconds:g} s (wav/flac/mp3/ogg); plan sample {args.sample};",
        f"measured = marginal cost between full runs of {args.small} and {args.tracks} tracks (start-up cancels out).",
        "",
        "| round | planned s/track | measured s/track | planned / measured | run small (s) | run all (s) | profile model s | profile decode s |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {r['round']} | {r['planned']:.4f} | {r['measured']:.4f} | {r['ratio']:.2f} | {r['small_s']:.1f} | "
          f"{r['all_s']:.1f} | {r['model_s']:.4f} | {r['decode_s']:.4f} |" for r in rows),
        "",
        (f"planned / measured: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, max {max(ratios):.2f} "
         "(target: within 0.70-1.30)."),
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
