"""Planner accuracy: the per-track cost `musiscene tag --plan` projects vs a measured full run of the same catalog.

The full run is `musiscene tag` on the whole catalog in its own process (local Ray), and its per-track
cost is measured in steady state from its own commits: every shard of `--shard-rows` tracks records
when it was written (`tagged_at`), so (last commit - first commit) / (tracks committed after the first
shard) leaves out start-up (Ray, model loading, listing), which the projection lists separately. The
plan profiles `--sample` tracks of the same catalog in this process with the same settings. Rounds
alternate plan and run; the ratio plan/measured is reported as min/median/max over the rounds and
written to benchmarks/results/plan_accuracy.md.

    python -m benchmarks.plan_accuracy [--tracks 200] [--sample 100] [--seconds 4] [--shard-rows 8] [--rounds 3]
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

    return [
        p.path
        for p in synth(root, n=tracks, seed=0, duration_s=seconds, formats=("wav", "flac", "mp3", "ogg"), writer=write_audio)
    ]


def full_run(src: Path, dst: Path, shard_rows: int) -> tuple[dict, float]:
    """`musiscene tag` as a user runs it (its own process and local Ray), without the index build;
    returns its summary and its steady-state seconds per track."""
    import pyarrow.parquet as pq

    cmd = [
        sys.executable,
        "-m",
        "musiscene_core",
        "tag",
        str(src),
        "--out",
        str(dst),
        "--model",
        "tiny",
        "--json",
        "--no-index",
        "--shard-rows",
        str(shard_rows),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    commits = sorted(
        (ts.timestamp(), n) for ts, n in pq.read_table(dst / "tracks").to_pandas().groupby("tagged_at").size().items()
    )
    after_first = sum(n for _, n in commits[1:])
    return json.loads(proc.stdout), (commits[-1][0] - commits[0][0]) / after_first


def planned(src: Path, sample: int, shard_rows: int) -> dict:
    from musiscene_core.tagging.config import TagConfig
    from musiscene_core.tagging.planner import ClusterShape, plan_tagging

    config = TagConfig(src=str(src), dst=None, model="tiny", shard_rows=shard_rows)
    return plan_tagging(config, ClusterShape(), sample).as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=200)
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--shard-rows", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS, help="report path")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="plan-accuracy-"))
    try:
        os.environ.setdefault("MUSISCENE_MODELS", str(work / "models"))
        make_catalog(work / "all", args.tracks, args.seconds)
        rows = []
        for round_no in range(args.rounds):
            plan = planned(work / "all", args.sample, args.shard_rows)
            summary, measured = full_run(work / "all", work / f"out-{round_no}", args.shard_rows)
            rows.append(
                {
                    "round": round_no,
                    "planned": plan["seconds_per_track"],
                    "measured": measured,
                    "ratio": plan["seconds_per_track"] / measured,
                    "run_s": summary["seconds"],
                    "model_s": plan["profile"]["model_s"],
                    "decode_s": plan["profile"]["decode_s"],
                    "write_s": plan["profile"]["write_s"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratios = [r["ratio"] for r in rows]
    lines = [
        "# Planner accuracy: projected vs measured seconds per track (this machine, tiny preset)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}.",
        f"Catalog: {args.tracks} synthetic tracks of {args.seconds:g} s (wav/flac/mp3/ogg); plan sample {args.sample};",
        f"measured = steady-state seconds per track of a full `musiscene tag` run, from its shard commit times "
        f"({args.shard_rows} tracks per shard).",
        "",
        "| round | planned s/track | measured s/track | planned / measured | full run (s, with start-up) | profile model s | profile decode s | profile write s |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['round']} | {r['planned']:.4f} | {r['measured']:.4f} | {r['ratio']:.2f} | {r['run_s']:.1f} | "
            f"{r['model_s']:.4f} | {r['decode_s']:.4f} | {r['write_s']:.4f} |"
            for r in rows
        ),
        "",
        (
            f"planned / measured: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, max {max(ratios):.2f} "
            "(target: within 0.70-1.30); median planned / median measured: "
            f"{statistics.median(r['planned'] for r in rows) / statistics.median(r['measured'] for r in rows):.2f}."
        ),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
