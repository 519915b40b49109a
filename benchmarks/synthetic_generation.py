"""Synthetic catalog generation speed: pieces per second, against white noise of the same length.

    python -m benchmarks.synthetic_generation [--pieces 200] [--seconds 10] [--rounds 3]

Measured in the same run:
* baseline: drawing the same number of float32 samples of white noise (numpy), the cheapest way
  to fill a buffer with random audio; every synthesis does at least this much memory traffic;
* generate_piece for every scene class in turn (the whole catalog's audio, no files);
* make_catalog into a temporary folder: synthesis plus 16-bit WAV/FLAC encoding and the manifest.
Single process. Writes benchmarks/results/synthetic_generation.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from musiscene_core.data.synthetic import DEFAULT_SAMPLE_RATE, SCENE_NAMES, generate_piece, make_catalog

RESULTS = Path(__file__).parent / "results"


def _best_of(rounds: int, work) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "synthetic_generation.md", help="report path")
    args = parser.parse_args()
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
            _best_of(1, lambda: generate_piece(name, seed, duration_s=args.seconds)) for seed in range(5)
        )
        for name in SCENE_NAMES
    }
    noise_s = _best_of(args.rounds, noise)
    synth_s = _best_of(args.rounds, synthesis)
    with tempfile.TemporaryDirectory() as folder:
        catalog_s = _best_of(1, lambda: make_catalog(folder, args.pieces, seed=0, duration_s=args.seconds))

    audio_s = args.pieces * args.seconds
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Synthetic catalog generation",
        "",
        f"{args.pieces} pieces x {args.seconds:g} s at {DEFAULT_SAMPLE_RATE} Hz, single process, best of "
        f"{args.rounds} rounds (catalog: one round). Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, 1-min load average at the end {load:.1f}.",
        "",
        "| stage | wall s | pieces/s | audio s per wall s | vs noise baseline |",
        "|---|---:|---:|---:|---:|",
        f"| baseline: white noise, same samples | {noise_s:.2f} | {args.pieces / noise_s:.0f} | {audio_s / noise_s:.0f} | 1.0x |",
        f"| generate_piece | {synth_s:.2f} | {args.pieces / synth_s:.0f} | {audio_s / synth_s:.0f} | {synth_s / noise_s:.1f}x |",
        f"| make_catalog (synthesis + WAV/FLAC + manifest) | {catalog_s:.2f} | {args.pieces / catalog_s:.0f} | {audio_s / catalog_s:.0f} | {catalog_s / noise_s:.1f}x |",
        "",
        "Median ms per piece by scene: "
        + ", ".join(f"{name} {1000 * t:.1f}" for name, t in per_scene.items()),
        "",
    ]
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
