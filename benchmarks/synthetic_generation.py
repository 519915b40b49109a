"""Synthetic catalog generation speed: pieces per second, against white noise of the same length.

    python -m benchmarks.synthetic_generation [--pieces 200] [--seconds 10] [--rounds 3]

Measured in the same run, the three taking turns over rounds (median, min–max):
* baseline: drawing the same number of float32 samples of white noise (numpy), the cheapest way
  to fill a buffer with random audio; every synthesis does at least this much memory traffic;
* generate_piece for every scene class in turn (the whole catalog's audio, no files);
* make_catalog into a temporary folder: synthesis plus 16-bit WAV/FLAC encoding and the manifest.
Single process. Writes benchmarks/results/synthetic_generation.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.rounds import Machine, alternate, ratio
from musiscene_core.data.synthetic import DEFAULT_SAMPLE_RATE, SCENE_NAMES, generate_piece, make_catalog

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "synthetic_generation.md", help="report path")
    args = parser.parse_args()
    machine = Machine()
    samples = int(args.seconds * DEFAULT_SAMPLE_RATE)
    rng = np.random.default_rng(0)

    def noise() -> None:
        for _ in range(args.pieces):
            rng.standard_normal(samples, dtype=np.float32)

    def synthesis() -> None:
        for i in range(args.pieces):
            generate_piece(SCENE_NAMES[i % len(SCENE_NAMES)], i, duration_s=args.seconds)

    generate_piece(SCENE_NAMES[0], 0, duration_s=1.0)  # imports and first-call costs out of the timing
    per_scene = {
        name: statistics.median(
            _seconds(lambda name=name, seed=seed: generate_piece(name, seed, duration_s=args.seconds)) for seed in range(5)
        )
        for name in SCENE_NAMES
    }
    with tempfile.TemporaryDirectory() as folder:
        times = alternate(
            {
                "noise": noise,
                "synthesis": synthesis,
                "catalog": lambda: make_catalog(
                    Path(folder) / f"c{time.monotonic_ns()}", args.pieces, seed=0, duration_s=args.seconds
                ),
            },
            args.rounds,
            warmup=False,
        )

    audio_s = args.pieces * args.seconds
    rows = [
        ("baseline: white noise, same samples", "noise"),
        ("generate_piece", "synthesis"),
        ("make_catalog (synthesis + WAV/FLAC + manifest)", "catalog"),
    ]
    lines = [
        "# Synthetic catalog generation",
        "",
        "`" + " ".join(["python -m benchmarks.synthetic_generation", *sys.argv[1:]]) + "`",
        "",
        f"{args.pieces} pieces x {args.seconds:g} s at {DEFAULT_SAMPLE_RATE} Hz, single process; median (min–max) over "
        f"{args.rounds} rounds in which the three take turns.",
        "",
        "| stage | wall s | pieces/s | audio s per wall s | vs noise baseline |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {label} | {times[key].text()} | {times[key].map(lambda t: args.pieces / t).text('{:.0f}')} | "
            f"{times[key].map(lambda t: audio_s / t).text('{:.0f}')} | {ratio(times[key], times['noise']).text('{:.1f}x')} |"
            for label, key in rows
        ),
        "",
        "Median ms per piece by scene: " + ", ".join(f"{name} {1000 * t:.1f}" for name, t in per_scene.items()),
        "",
        "Machine:",
        "",
        *machine.lines(),
        "",
    ]
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {out}")


def _seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
