"""Every benchmark in its quick form, one after the other (`make bench`): a check that they all run.

The quick forms use small inputs, so their numbers are not the ones quoted in the README (each
benchmark's own command line, in its module docstring and its results file, makes those). Reports go
to a scratch folder (default: benchmarks/results/quick/), never over the committed results. The whole
run took 21 minutes on a 2-core machine that other work kept busy (load average above 20); most of it
is index_search embedding its caption-like vectors with MiniLM, tag_throughput and train_throughput.
The quick forms of serve_latency, plan_accuracy and long_track_memory, added since, took 43, 27 and
42 s on a quiet machine.

    python -m benchmarks.run_all [--out DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

QUICK = {
    "decode_resample": ["--seconds", "10", "--rounds", "2"],
    "synthetic_generation": ["--pieces", "20", "--seconds", "5", "--rounds", "2"],
    "gpu_bench": ["--tiny", "--rounds", "1", "--tracks", "8", "--batch-sizes", "4,8", "--max-new-tokens", "8"],
    "caption_throughput": [
        "--tracks",
        "8",
        "--batch-size",
        "4",
        "--max-new-tokens",
        "16",
        "--rounds",
        "2",
        "--audio-seconds",
        "10",
    ],
    "tag_throughput": ["--sizes", "4", "8", "--seconds", "5", "--rounds", "1"],
    "train_throughput": ["--pieces", "48", "--epochs", "1", "--global-batch", "8"],
    "index_search": ["--sizes", "20000", "--datasets", "caption-like", "--latency-queries", "200"],
    "serve_latency": ["--rows", "2000", "--clients", "4", "--requests", "40", "--rounds", "1"],
    "plan_accuracy": ["--tracks", "24", "--sample", "8", "--seconds", "2", "--rounds", "1"],
    "long_track_memory": ["--hours", "0.1", "--rounds", "1"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "quick", help="folder for the quick reports"
    )
    parser.add_argument("--only", nargs="+", choices=sorted(QUICK), help="run only these benchmarks")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in args.only or QUICK:
        command = [sys.executable, "-m", f"benchmarks.{name}", *QUICK[name], "--out", str(args.out / f"{name}.md")]
        print(f"== {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(command).returncode
        print(f"== {name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {time.perf_counter() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
