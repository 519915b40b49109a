"""Peak memory of the tagging job's processes on one very long track (a 3-hour mix).

Generates a 3-hour 24 kHz mono WAV, then runs `musiscene tag --model tiny --batch-size 8` on it
twice, alternating: with the default streaming of long tracks, and with `max_inline_s` raised so
far that the whole track travels as one array (how the job worked before long tracks streamed).
While each run goes, /proc is sampled every 0.2 s for the run's process tree (driver, raylet, Ray
workers): the peak resident memory of each process and of all Ray workers together.

    python -m benchmarks.long_track_memory [--hours 3] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from benchmarks.rounds import Machine, Spread, take_turns

RATE = 24000
RESULTS = Path(__file__).parent / "results" / "long_track_memory.md"


def write_long_track(path: Path, hours: float) -> None:
    """Synthetic scene music cycled for `hours`, written minute by minute (never held whole)."""
    import soundfile as sf

    from musiscene_core.data.synthetic import SCENE_NAMES, generate_piece

    minutes = [generate_piece(SCENE_NAMES[i % len(SCENE_NAMES)], seed=i, duration_s=60.0, sample_rate=RATE) for i in range(6)]
    with sf.SoundFile(path, "w", samplerate=RATE, channels=1, subtype="PCM_16") as out:
        for minute in range(int(hours * 60)):
            out.write(minutes[minute % len(minutes)] * (0.6 + 0.4 * ((minute * 7) % 5) / 4))


class TreeSampler(threading.Thread):
    """Samples the resident memory of a process and all its descendants until stopped."""

    def __init__(self, root_pid: int, period_s: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.period = psutil.Process(root_pid), period_s
        self.peak_by_process: dict[int, tuple[int, str]] = {}
        self.peak_workers_total = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            workers_total = 0
            for proc in tree:
                try:
                    rss, name = proc.memory_info().rss, " ".join(proc.cmdline())[:80]
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                if rss > self.peak_by_process.get(proc.pid, (0, ""))[0]:
                    self.peak_by_process[proc.pid] = (rss, name)
                if name.startswith("ray::"):
                    workers_total += rss
            self.peak_workers_total = max(self.peak_workers_total, workers_total)
            time.sleep(self.period)


def tag_once(track_dir: Path, out: Path, max_inline_s: float | None) -> dict:
    config = out.with_suffix(".yaml")
    config.write_text(f"max_inline_s: {max_inline_s}\n" if max_inline_s else "{}\n")
    cmd = [
        sys.executable,
        "-m",
        "musiscene_core",
        "tag",
        str(track_dir),
        "--out",
        str(out),
        "--model",
        "tiny",
        "--batch-size",
        "8",
        "--no-index",
        "--json",
        "--config",
        str(config),
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    stdout, stderr = proc.communicate()
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(stderr[-2000:])
    summary = json.loads(stdout)
    workers = {pid: peak for pid, peak in sampler.peak_by_process.items() if peak[1].startswith("ray::")}
    return {
        "seconds": time.perf_counter() - started,
        "ok": summary["ok"],
        "peak_worker_mb": max(rss for rss, _ in workers.values()) / 1e6,
        "peak_worker": max(workers.values())[1],
        "peak_workers_total_mb": sampler.peak_workers_total / 1e6,
        "peak_driver_mb": sampler.peak_by_process[proc.pid][0] / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip-baseline", action="store_true", help="only the streaming run (the baseline needs ~4 GB)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="report path")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    machine = Machine()
    with tempfile.TemporaryDirectory() as tmp:
        track_dir = Path(tmp) / "catalog"
        track_dir.mkdir()
        write_long_track(track_dir / "mix.wav", args.hours)
        variants = {"streamed (default)": None} | ({} if args.skip_baseline else {"whole track inline": 1e9})
        done = 0

        def one_run(name: str, inline: float | None):
            def run() -> dict:
                nonlocal done
                done += 1
                result = tag_once(track_dir, Path(tmp) / f"out-{done}", inline)
                print(name, json.dumps(result), flush=True)
                return result

            return run

        runs = take_turns({name: one_run(name, inline) for name, inline in variants.items()}, args.rounds)
    lines = [
        "# Long-track memory",
        "",
        "`" + " ".join(["python -m benchmarks.long_track_memory", *sys.argv[1:]]) + "`",
        "",
        f"One {args.hours:g}-hour 24 kHz mono WAV, `musiscene tag --model tiny --batch-size 8 --no-index`;",
        "resident memory of the run's processes sampled every 0.2 s; median (min–max) over rounds in which the variants take turns.",
        "",
        "| variant | peak RSS of one Ray worker (MB) | peak RSS of all Ray workers (MB) | driver (MB) | seconds |",
        "|---|---|---|---|---|",
    ]
    for name, results in runs.items():
        cells = [
            Spread(tuple(r[key] for r in results)).text("{:.0f}")
            for key in ("peak_worker_mb", "peak_workers_total_mb", "peak_driver_mb", "seconds")
        ]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += ["", "Machine:", "", *machine.lines(), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
