"""Tag throughput: the Ray Data pipeline vs a sequential one-file-at-a-time loop over the same stage graph.

The baseline is the reference implementation's way of working: load the models once, then for each
file decode it, run MERT, generate its caption (batch size 1), embed it and write it — the tagging
job's stage graph on the in-process sequential runner with every batch size set to 1. Both paths use the tiny
preset and the same catalog in the same run; the result is written to benchmarks/results/tag_throughput.md.

    python -m benchmarks.tag_throughput [--tracks 48] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

RESULTS = Path(__file__).parent / "results" / "tag_throughput.md"


def make_catalog(root: Path, tracks: int, seconds: float) -> None:
    from musiscene_core.audio import write_audio
    from musiscene_core.data.synthetic import make_catalog as synth

    synth(root, n=tracks, seed=0, duration_s=seconds, formats=("wav", "flac", "mp3", "ogg"), writer=write_audio)


def sequential(catalog: Path, dst: Path) -> tuple[float, float, int]:
    """Returns (model load seconds, processing seconds, ok tracks)."""
    from musiscene_core.catalog import list_tracks
    from musiscene_core.models import resolve_model
    from musiscene_core.pipelines.sequential import SequentialRunner
    from musiscene_core.tagging.config import TagConfig
    from musiscene_core.tagging.graph import build_stages

    started = time.perf_counter()
    model = resolve_model("tiny")
    config = TagConfig(src=str(catalog), dst=str(dst), model="tiny", decode_batch_size=1, model_batch_size=1, shard_rows=1)
    runner = SequentialRunner(build_stages(config, model, "sequential-baseline", device="cpu"))
    loaded = time.perf_counter()
    ok = 0
    rows = [{"uri": ref.uri, "fingerprint": ref.fingerprint} for ref in list_tracks(str(catalog)).tracks]
    for batch in runner.batches(rows):
        ok += int(batch["status"][0] == "ok")
    return loaded - started, time.perf_counter() - loaded, ok


def pipeline(catalog: Path, dst: Path) -> tuple[float, int]:
    from musiscene_core.pipelines.tag import run
    from musiscene_core.tagging.config import TagConfig

    started = time.perf_counter()
    result = run(TagConfig(src=str(catalog), dst=str(dst), model="tiny", build_index=False))
    return time.perf_counter() - started, result.ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="report path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        make_catalog(root / "catalog", args.tracks, args.seconds)
        load_s, seq_s, seq_ok = sequential(root / "catalog", root / "sequential")
        ray_s, ray_ok = pipeline(root / "catalog", root / "ray")
    seq_rate, ray_rate = seq_ok / seq_s, ray_ok / ray_s
    seq_total_rate = seq_ok / (seq_s + load_s)
    lines = [
        "# Tag throughput: Ray Data pipeline vs sequential loop",
        "",
        f"{args.tracks} synthetic tracks of {args.seconds:g} s (wav, flac, mp3, ogg), tiny preset, CPU only, same run.",
        "Sequential = load the models once, then decode -> MERT -> caption (batch 1) -> embed -> write, one file at a time,",
        "as the reference implementation works. Pipeline = `musiscene tag` (musiscene_core.pipelines.tag.run) on local Ray, wall clock",
        "including Ray start-up and model loading in the actors, index build off.",
        "",
        "| path | ok tracks | seconds | tracks/s |",
        "|---|---:|---:|---:|",
        f"| sequential, processing only | {seq_ok} | {seq_s:.1f} | {seq_rate:.2f} |",
        f"| sequential, incl. model load ({load_s:.1f} s) | {seq_ok} | {seq_s + load_s:.1f} | {seq_total_rate:.2f} |",
        f"| Ray Data pipeline, end to end | {ray_ok} | {ray_s:.1f} | {ray_rate:.2f} |",
        "",
        f"Ratio pipeline / sequential (incl. model load): **{ray_rate / seq_total_rate:.2f}x**; "
        f"against sequential processing only: {ray_rate / seq_rate:.2f}x.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, Python {platform.python_version()}.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
