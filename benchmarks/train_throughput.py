"""Adapter training throughput on CPU with the tiny preset: 1 Ray Train worker against 2, in the same run.

    python -m benchmarks.train_throughput [--pieces 240] [--epochs 3] [--global-batch 16] [--rounds 3]

Builds the tiny preset and a synthetic scene-caption dataset once (MERT features extracted once and
shared by every run), then trains the same global batch (16) with 1 worker x batch 16 and with
2 workers x batch 8 through the Ray Train pipeline, the two taking turns over `--rounds` rounds.
Throughput counts optimizer-step time only (no evaluation, checkpoints or start-up): samples/s overall
and per worker, median (min–max) over rounds, and the 2-worker speed-up paired round by round.
Writes benchmarks/results/train_throughput.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.rounds import Machine, Spread, ratio, take_turns

RESULT = Path(__file__).parent / "results" / "train_throughput.md"


def _dataset(root: Path, pieces: int) -> Path:
    from musiscene_core.data.synthetic import make_catalog

    catalog = make_catalog(root / "catalog", n=pieces, seed=0, formats=("wav",), duration_s=4.0)
    data = root / "data.parquet"
    pq.write_table(
        pa.table(
            {"uri": [str(p.path) for p in catalog], "answer": [p.caption for p in catalog], "split": [p.split for p in catalog]}
        ),
        data,
    )
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--global-batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULT, help="report path")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    from musiscene_core.models.tiny_preset import make_tiny
    from musiscene_core.pipelines.train import run
    from musiscene_core.train.config import TrainConfig

    machine = Machine()
    root = Path(tempfile.mkdtemp(prefix="train-bench-"))
    try:
        base = make_tiny(root / "base")
        data = _dataset(root, args.pieces)
        features = root / "features"
        runs = 0

        def train(workers: int):
            def one_run() -> dict:
                nonlocal runs
                runs += 1
                out = root / f"out-{runs}"
                if features.exists():
                    shutil.copytree(features, out / "features")  # every run reads the same cached MERT features
                summary = run(
                    TrainConfig(
                        data=str(data),
                        base=str(base),
                        out=str(out),
                        workers=workers,
                        epochs=args.epochs,
                        batch_size=args.global_batch // workers,
                        lr=1e-3,
                        warmup_epochs=0.5,
                        checkpoint_every=10_000,
                        eval_limit=0,
                    )
                )
                if not features.exists():
                    shutil.copytree(out / "features", features)
                shutil.rmtree(out, ignore_errors=True)
                return summary

            return one_run

        train(1)()  # extracts the MERT features once and warms Ray up; not counted
        results = take_turns({1: train(1), 2: train(2)}, args.rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    rate = {w: Spread(tuple(r["samples_per_s"] for r in rs)) for w, rs in results.items()}
    per_worker = {w: Spread(tuple(r["samples_per_s_per_worker"] for r in rs)) for w, rs in results.items()}
    lines = [
        "# Training throughput (tiny preset, CPU)",
        "",
        "`" + " ".join(["python -m benchmarks.train_throughput", *sys.argv[1:]]) + "`",
        "",
        f"Same data, same global batch ({args.global_batch}); MERT features extracted once. Step time only (no "
        f"evaluation, checkpoints or start-up). Median (min–max) over {args.rounds} rounds in which the 1-worker "
        "and 2-worker runs take turns; the speed-up pairs each round's two runs.",
        "",
        "| workers | batch per worker | steps | samples/s | samples/s per worker |",
        "|---|---|---|---|---|",
    ]
    for workers, summaries in results.items():
        lines.append(
            f"| {workers} | {args.global_batch // workers} | {summaries[0]['steps']} | "
            f"{rate[workers].text('{:.1f}')} | {per_worker[workers].text('{:.1f}')} |"
        )
    lines += [
        "",
        f"2 workers / 1 worker: {ratio(rate[2], rate[1]).text('{:.2f}x')} samples/s "
        f"(per worker {ratio(per_worker[2], per_worker[1]).text('{:.2f}x')}).",
        "",
        "Machine:",
        "",
        *machine.lines(),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
