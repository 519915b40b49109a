"""Adapter training throughput on CPU with the tiny preset: 1 Ray Train worker against 2, in the same run.

    python -m benchmarks.train_throughput [--pieces 240] [--epochs 3] [--global-batch 16]

Builds the tiny preset and a synthetic scene-caption dataset once (MERT features extracted once and
shared by both runs), then trains the same global batch (16) with 1 worker x batch 16 and with
2 workers x batch 8 through `musiscene_core.pipelines.train.run`. Throughput counts optimizer-step time only (no
evaluation, checkpoints or start-up): samples/s overall and per worker, and the 2-worker speed-up.
Writes benchmarks/results/train_throughput.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

RESULT = Path(__file__).parent / "results" / "train_throughput.md"


def _dataset(root: Path, pieces: int) -> Path:
    from musiscene_core.data.synthetic import make_catalog

    catalog = make_catalog(root / "catalog", n=pieces, seed=0, formats=("wav",), duration_s=4.0)
    data = root / "data.parquet"
    pq.write_table(pa.table({"uri": [str(p.path) for p in catalog], "answer": [p.caption for p in catalog],
                             "split": [p.split for p in catalog]}), data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--global-batch", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULT, help="report path")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    from musiscene_core.pipelines.train import run
    from musiscene_core.models.tiny_preset import make_tiny
    from musiscene_core.train.config import TrainConfig

    root = Path(tempfile.mkdtemp(prefix="train-bench-"))
    try:
        base = make_tiny(root / "base")
        data = _dataset(root, args.pieces)
        features = root / "features"
        results = {}
        for workers in (1, 2):
            out = root / f"out-{workers}"
            if features.exists():
                shutil.copytree(features, out / "features")  # both runs read the same cached MERT features
            started = time.time()
            summary = run(TrainConfig(data=str(data), base=str(base), out=str(out), workers=workers, epochs=args.epochs,
                                      batch_size=args.global_batch // workers, lr=1e-3, warmup_epochs=0.5,
                                      checkpoint_every=10_000, eval_limit=0))
            results[workers] = summary | {"wall": time.time() - started}
            if not features.exists():
                shutil.copytree(out / "features", features)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    one, two = results[1], results[2]
    lines = [
        "# Training throughput (tiny preset, CPU)", "",
        f"`python -m benchmarks.train_throughput --pieces {args.pieces} --epochs {args.epochs} --global-batch {args.global_batch}`",
        f"on {platform.machine()} with {os.cpu_count()} CPU cores, {time.strftime('%Y-%m-%d')}. Same data, same global batch, "
        "same run; MERT features extracted once. Step time only (no evaluation, checkpoints or start-up).", "",
        "| workers | batch per worker | steps | samples/s | samples/s per worker | wall s (first run: + MERT extraction, Ray start) |",
        "|---|---|---|---|---|---|",
    ]
    for workers, summary in results.items():
        lines.append(f"| {workers} | {args.global_batch // workers} | {summary['steps']} | {summary['samples_per_s']:.1f} | "
                     f"{summary['samples_per_s_per_worker']:.1f} | {summary['wall']:.0f} |")
    lines += ["", f"2 workers / 1 worker: {two['samples_per_s'] / one['samples_per_s']:.2f}x samples/s "
                  f"(per worker {two['samples_per_s_per_worker'] / one['samples_per_s_per_worker']:.2f}x).", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
