"""Per-stage throughput of tagging against the device's peak, with the reference loops in the same run.

    python -m benchmarks.gpu_bench              # one CUDA GPU: real-size architectures, random weights, bf16
    python -m benchmarks.gpu_bench --tiny       # the same code paths on the CPU with the tiny preset (CI)

Stages, each timed over `--rounds` rounds in which every variant takes its turn (min/median/max):
* decode: DecodeStage on synthetic 44.1 kHz stereo FLAC files -> CPU seconds per audio second;
* MERT: one track per call (the previous MertStage, as MU-LLaMA runs it) against the windows of all
  tracks batched together (`MertEncoder.track_layer_means`, batch size from free memory on a GPU);
  achieved TFLOP/s from an analytic FLOP count of the architecture;
* caption: the reference loop (plain path, batch 1), today's tagging path (plain path, batch 16) and
  the fast path at each `--batch-sizes`; achieved GB/s counts the LLaMA weights read once per decoding
  step plus the KV cache read, against the device's memory bandwidth.
Random weights rarely emit EOS, so captions run to `--max-new-tokens`: decoding is measured at full length.

Writes into `--out` (default benchmarks/results/): gpu_bench_<device>.md (the report),
gpu_bench_<device>.json (every number) and stage_costs_<device>.json (`musiscene_core.tagging.costs`),
<device> being `tiny-cpu` or the GPU's name. Real-size needs about 50 GB of GPU memory and is sized to
finish within 8 minutes on an H100/H200-class GPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.caption_throughput import (
    Setup,
    machine_lines,
    music_like,
    real_size_setup,
    tiny_setup,
)
from benchmarks.rounds import Machine, Spread
from benchmarks.rounds import alternate as take_turns_timed
from musiscene_core.tagging.costs import StageCosts, write_stage_costs

RESULTS = Path(__file__).parent / "results"
SAMPLE_RATE = 24000

# Dense (no sparsity) bf16 tensor-core TFLOP/s and memory GB/s from the vendors' datasheets, matched on
# torch.cuda.get_device_name() (every listed substring must appear), first match wins.
PEAKS = [
    (("H200",), 989.0, 4800.0),
    (("H100", "PCIe"), 756.0, 2000.0),
    (("H100", "NVL"), 835.0, 3900.0),
    (("H100",), 989.0, 3350.0),  # SXM
    (("A100", "40GB"), 312.0, 1555.0),
    (("A100", "PCIe"), 312.0, 1935.0),  # 80 GB PCIe
    (("A100",), 312.0, 2039.0),  # 80 GB SXM
    (("L4",), 121.0, 300.0),
    (("A10G",), 70.0, 600.0),  # AWS's A10G runs lower tensor clocks than the A10 (125)
]


@dataclass
class Device:
    name: str
    slug: str
    peak_tflops: float | None  # None: not in PEAKS, fractions of peak are not reported
    peak_gbps: float | None


def describe_device(device: torch.device, tiny: bool) -> Device:
    if device.type != "cuda":
        cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "unknown CPU")
        return Device(f"cpu: {cpu}", "tiny-cpu" if tiny else "cpu", None, None)
    name = torch.cuda.get_device_name(device)
    slug = ("tiny-" if tiny else "") + re.sub(r"[^a-z0-9]+", "-", name.lower().removeprefix("nvidia ")).strip("-")
    for needles, tflops, gbps in PEAKS:
        if all(n.lower() in name.lower() for n in needles):
            return Device(name, slug, tflops, gbps)
    return Device(name, slug, None, None)


def _cpuinfo() -> list[str]:
    path = Path("/proc/cpuinfo")
    return path.read_text().splitlines() if path.exists() else []


# ---------------------------------------------------------------------------------------------- timing


def alternate(
    works: dict[str, Callable[[], object]], rounds: int, device: torch.device
) -> tuple[dict[str, Spread], dict[str, object]]:
    """`benchmarks.rounds.alternate` over the works (GPU work included in each timing); also returns each
    work's last result."""
    results: dict[str, object] = {}

    def keeping(name: str, work: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            results[name] = work()

        return run

    sync = torch.cuda.synchronize if device.type == "cuda" else None
    if sync:
        sync()
    spreads = take_turns_timed({name: keeping(name, work) for name, work in works.items()}, rounds, after=sync)
    return spreads, results


# ---------------------------------------------------------------------------------------------- decode


def measure_decode(workdir: Path, seconds: float, files: int, rounds: int) -> dict:
    from musiscene_core.audio import write_audio
    from musiscene_core.tagging.stages import DecodeStage

    uris = []
    for i in range(files):
        stereo = np.stack([music_like(seconds, seed=100 + i), music_like(seconds, seed=200 + i)], axis=1)
        uris.append(str(write_audio(workdir / f"decode_{i}.flac", np.resize(stereo, (round(seconds * 44100), 2)), 44100, "flac")))
    stage = DecodeStage(policy="whole", window_s=30.0, hop_s=30.0)
    batch = {"uri": np.array(uris, dtype=object), "fingerprint": np.full(files, "", dtype=object)}
    cpu_seconds = []

    def work():
        start = time.process_time()
        out = stage(batch)
        cpu_seconds.append(time.process_time() - start)
        if list(out["status"]) != ["ok"] * files:
            raise RuntimeError(f"decoding the benchmark's own files failed: {list(out['error'])}")
        return out

    timings, _ = alternate({"decode": work}, rounds, torch.device("cpu"))
    audio_s = seconds * files
    cpu = statistics.median(cpu_seconds[1:])
    return {
        "audio_s": audio_s,
        "files": files,
        "wall": list(timings["decode"].values),
        "cpu_s_per_audio_s": cpu / audio_s,
        "audio_s_per_cpu_s": audio_s / cpu,
    }


# ---------------------------------------------------------------------------------------------- MERT


def mert_flops_per_window(hubert, samples: int) -> float:
    """Multiply-adds x 2 of one window: the convolution stack, the projection, the positional
    convolution and the transformer (linear layers plus attention scores and weighted sums)."""
    flops, length, channels = 0.0, samples, 1
    for dim, kernel, stride in zip(hubert.conv_dim, hubert.conv_kernel, hubert.conv_stride):
        length = (length - kernel) // stride + 1
        flops += 2.0 * length * dim * channels * kernel
        channels = dim
    frames, h = length, hubert.hidden_size
    flops += 2.0 * frames * channels * h
    flops += 2.0 * frames * h * (h / hubert.num_conv_pos_embedding_groups) * hubert.num_conv_pos_embeddings
    per_layer = 2.0 * frames * (4 * h * h + 2 * h * hubert.intermediate_size) + 4.0 * frames * frames * h
    return flops + hubert.num_hidden_layers * per_layer


def measure_mert(setup: Setup, tracks: int, track_s: float, window_s: float, rounds: int, batch_size: int | None) -> dict:
    encoder = setup.mert
    windows_per_track = []
    for i in range(tracks):
        audio = music_like(track_s * (0.5 + (i % 4) / 4), seed=i)  # 0.5x to 1.25x: windows of several lengths
        step = round(window_s * SAMPLE_RATE)
        windows_per_track.append(
            [audio[s : s + step] for s in range(0, len(audio), step) if len(audio) - s >= encoder.min_samples]
        )
    audio_s = sum(len(w) for t in windows_per_track for w in t) / SAMPLE_RATE
    timings, results = alternate(
        {
            "one track per call": lambda: np.stack([encoder.track_layer_means([t], batch_size=8)[0] for t in windows_per_track]),
            "tracks batched": lambda: encoder.track_layer_means(windows_per_track, batch_size=batch_size),
        },
        rounds,
        setup.device,
    )
    hubert = encoder.architecture
    flops = sum(mert_flops_per_window(hubert, len(w)) for t in windows_per_track for w in t)
    longest = max(len(w) for t in windows_per_track for w in t)
    rows = {}
    for name, timing in timings.items():
        rows[name] = {
            "seconds": list(timing.values),
            "audio_s_per_s": audio_s / timing.median,
            "tflops": flops / timing.median / 1e12,
        }
    difference = float(np.abs(results["one track per call"] - results["tracks batched"]).max())
    return {
        "tracks": tracks,
        "windows": sum(map(len, windows_per_track)),
        "audio_s": audio_s,
        "window_s": window_s,
        "gflop_per_audio_s": flops / audio_s / 1e9,
        "batch_size": batch_size or encoder.auto_batch_size(longest),
        "dtype": str(encoder.dtype).removeprefix("torch."),
        "rows": rows,
        "max_abs_difference": difference,
    }


# ---------------------------------------------------------------------------------------------- caption


def llama_bytes(captioner) -> tuple[int, int]:
    """(bytes of the weights every decoding step reads, bytes of one cached token over all layers)."""
    model = captioner.model
    weights = sum(p.numel() * p.element_size() for n, p in model.llama.named_parameters() if not n.startswith("tok_embeddings"))
    cfg = captioner.config.llama
    return weights, 2 * cfg.n_layers * cfg.dim * torch.finfo(captioner.dtype).bits // 8


def measure_caption(
    setup: Setup,
    tracks: int,
    reference_tracks: int,
    baseline_batch: int,
    baseline_tracks: int,
    batch_sizes: list[int],
    max_new_tokens: int,
    rounds: int,
    compile_step: bool,
) -> dict:
    cap = setup.captioner
    cfg = cap.config.adapter
    features = np.random.default_rng(0).standard_normal((tracks, cfg.mert_layers, cfg.mert_dim)).astype(np.float32)

    def run(batch: int, count: int, **options):
        def work():
            return [
                cap.generate(features[s : min(s + batch, count)], setup.question, max_new_tokens=max_new_tokens, **options)
                for s in range(0, count, batch)
            ]

        return work

    works = {
        "reference: plain, batch 1": (1, reference_tracks, run(1, reference_tracks, fast=False)),
        f"today: plain, batch {baseline_batch}": (
            baseline_batch,
            baseline_tracks,
            run(baseline_batch, baseline_tracks, fast=False),
        ),
    }
    for b in batch_sizes:
        works[f"fast, batch {b}"] = (b, tracks, run(b, tracks))
    if compile_step:
        b = max(batch_sizes)
        works[f"fast + torch.compile, batch {b}"] = (b, tracks, run(b, tracks, compile_step=True))
    timings, results = alternate({name: w[2] for name, w in works.items()}, rounds, setup.device)

    weight_bytes, token_bytes = llama_bytes(cap)
    prompt = len(cap.tokenizer.encode(cap.format_prompt(setup.question), True, False))
    reference_ids = [ids for r in results[next(iter(works))] for ids in r.token_ids]
    rows = {}
    for name, (batch, count, _) in works.items():
        ids = [i for r in results[name] for i in r.token_ids]
        batches = [ids[s : s + batch] for s in range(0, count, batch)]
        steps = sum(max(map(len, b)) for b in batches)  # decoding steps (the prefill of each batch not counted)
        # Each step reads the weights once and every live row's cache (prompt + tokens so far).
        cache_bytes = sum(len(b) * (prompt + t) * token_bytes for b in batches for t in range(max(map(len, b))))
        seconds = timing_median = timings[name].median
        tokens = sum(map(len, ids))
        rows[name] = {
            "batch": batch,
            "tracks": count,
            "seconds": list(timings[name].values),
            "captions_per_s": count / seconds,
            "tokens_per_s": tokens / seconds,
            "steps": steps,
            "ms_per_step": 1e3 * timing_median / max(steps, 1),
            "gbps": (steps * weight_bytes + cache_bytes) / seconds / 1e9,
            "same_tokens_as_reference": sum(a == b for a, b in zip(ids, reference_ids)),
        }
    return {
        "tracks": tracks,
        "max_new_tokens": max_new_tokens,
        "prompt_tokens": prompt,
        "weight_gb": weight_bytes / 1e9,
        "rows": rows,
    }


# ---------------------------------------------------------------------------------------------- report


def fraction(value: float, peak: float | None) -> str:
    return f"{100 * value / peak:.1f}%" if peak else "n/a"


def profile_fast_path(setup: Setup, batch: int, max_new_tokens: int, path: Path) -> None:
    """torch.profiler over one fast-path batch: the operators by device time and by host time, which
    tell launch-bound steps (host time per step above the device's) from bandwidth-bound ones."""
    from torch.profiler import ProfilerActivity, profile

    cfg = setup.captioner.config.adapter
    features = np.random.default_rng(1).standard_normal((batch, cfg.mert_layers, cfg.mert_dim)).astype(np.float32)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if setup.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        setup.captioner.generate(features, setup.question, max_new_tokens=max_new_tokens)
        if setup.device.type == "cuda":
            torch.cuda.synchronize()
    averages = prof.key_averages()
    tables = [f"# fast path, batch {batch}, {max_new_tokens} new tokens at most, on {setup.name}", ""]
    if setup.device.type == "cuda":
        tables += ["## by device time", averages.table(sort_by="cuda_time_total", row_limit=25), ""]
    tables += ["## by host time", averages.table(sort_by="self_cpu_time_total", row_limit=25), ""]
    path.write_text("\n".join(tables))


def render(
    device: Device,
    setup: Setup,
    decode: dict,
    mert: dict,
    caption: dict,
    summary: dict,
    command: str,
    rounds: int,
    machine: Machine,
) -> str:
    peak = (
        "no peak numbers for this device (not in the benchmark's table): fractions of peak are not reported"
        if device.peak_tflops is None
        else f"peak {device.peak_tflops:g} TFLOP/s dense bf16, {device.peak_gbps:g} GB/s memory (datasheet)"
    )
    lines = [
        f"# GPU benchmark: {device.name}",
        "",
        f"`{command}`",
        "",
        f"Device: {device.name}; {peak}. Times are median (min–max) over {rounds} rounds after a warm-up; "
        "the variants of a stage take turns in every round.",
        "",
        "## Decode (CPU)",
        "",
        f"DecodeStage on {decode['files']} FLAC files (44.1 kHz stereo, {decode['audio_s'] / decode['files']:g} s each): "
        f"{decode['audio_s_per_cpu_s']:.0f} audio-seconds per CPU-second ({decode['cpu_s_per_audio_s'] * 1e3:.2f} ms per audio-second); "
        f"wall seconds {Spread(tuple(decode['wall'])).text('{:.3f}')}.",
        "",
        "## MERT",
        "",
        f"{mert['tracks']} tracks, {mert['windows']} windows of up to {mert['window_s']:g} s, {mert['audio_s']:.0f} audio-seconds in all, "
        f"{mert['dtype']}; {mert['gflop_per_audio_s']:.3g} GFLOP per audio-second; batched: {mert['batch_size']} windows per call. "
        f"Largest difference between the two variants' means: {mert['max_abs_difference']:.1e}.",
        "",
        "| variant | seconds, median (min–max) | audio-s per s | TFLOP/s | of peak |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in mert["rows"].items():
        lines.append(
            f"| {name} | {Spread(tuple(row['seconds'])).text('{:.3f}')} | {row['audio_s_per_s']:,.0f} | {row['tflops']:.3g} | "
            f"{fraction(row['tflops'], device.peak_tflops)} |"
        )
    lines += [
        "",
        "## Caption",
        "",
        f"{caption['tracks']} tracks for the fast path (fewer for the plain ones: see each row's captions), greedy, {caption['max_new_tokens']} new tokens at most, "
        f"prompt {caption['prompt_tokens']} tokens; a decoding step reads {caption['weight_gb']:.3g} GB of LLaMA weights "
        "plus the live rows' KV cache.",
        "",
        "| variant | seconds, median (min–max) | captions/s | new tokens/s | ms per step (prefill included) | GB/s | of peak bandwidth | same tokens as reference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    first = next(iter(caption["rows"].values()))
    for name, row in caption["rows"].items():
        same = f"{row['same_tokens_as_reference']} of {min(row['tracks'], first['tracks'])}"
        lines.append(
            f"| {name} | {Spread(tuple(row['seconds'])).text('{:.3f}')} | {row['captions_per_s']:,.2f} | {row['tokens_per_s']:,.0f} | "
            f"{row['ms_per_step']:.2f} | {row['gbps']:,.1f} | {fraction(row['gbps'], device.peak_gbps)} | {same} |"
        )
    lines += [
        "",
        "## Per track and end to end",
        "",
        f"- Per-track costs (stage_costs_{device.slug}.json): decode {summary['decode_cpu_s_per_audio_s'] * 1e3:.3f} CPU-ms per audio-second, "
        f"MERT {summary['mert_s_per_audio_s'] * 1e3:.3f} ms per audio-second, caption {summary['caption_s_per_track'] * 1e3:.1f} ms per track "
        f"(fast, batch {summary['caption_batch_size']}).",
        f"- End to end on the device for a track of {summary['track_s']:g} s: today's path (MERT one track per call + plain batch "
        f"{summary['baseline_batch']}) {summary['today_tracks_per_s']:.2f} tracks/s, fast path {summary['fast_tracks_per_s']:.2f} tracks/s: "
        f"**{summary['speedup']:.1f}x**. Decoding that audio on the CPU takes {summary['decode_cores_needed']:.1f} cores to keep up with "
        "the fast path.",
        "",
        "Machine:",
        "",
        *machine_lines(machine),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny preset on the CPU (same code paths, small sizes)")
    parser.add_argument("--tracks", type=int, default=None, help="tracks captioned per variant [256; tiny 16]")
    parser.add_argument(
        "--batch-sizes", default=None, help="fast-path caption batch sizes, comma-separated [64,128,256; tiny 4,16]"
    )
    parser.add_argument("--baseline-batch", type=int, default=None, help="batch of today's plain path [16; tiny 4]")
    parser.add_argument("--baseline-tracks", type=int, default=None, help="tracks for today's plain path [64; tiny 8]")
    parser.add_argument("--reference-tracks", type=int, default=None, help="tracks for the batch-1 reference loop [4; tiny 4]")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="caption length [64; tiny 16]")
    parser.add_argument("--mert-tracks", type=int, default=None, help="tracks through MERT [32; tiny 6]")
    parser.add_argument("--track-seconds", type=float, default=None, help="mean track length for MERT [60; tiny 4]")
    parser.add_argument("--window-seconds", type=float, default=None, help="MERT window length [30, the tagging default; tiny 1]")
    parser.add_argument("--mert-batch", type=int, default=None, help="windows per MERT call [GPU: from free memory; CPU: 8]")
    parser.add_argument("--decode-seconds", type=float, default=None, help="seconds per decoded FLAC file [60; tiny 5]")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds after the warm-up")
    parser.add_argument("--compile", action="store_true", help="CUDA only: also time the fast path with torch.compile")
    parser.add_argument("--profile", action="store_true", help="also write a torch.profiler table of one fast-path batch")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [tiny: 1]")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help="folder for the report, the numbers and the stage costs, or the report's path (NAME.md: "
        "NAME.json, NAME_profile.txt and stage_costs_<device>.json beside it)",
    )
    args = parser.parse_args(argv)
    tiny = args.tiny

    def pick(value, real, small):
        return value if value is not None else (small if tiny else real)

    batch_sizes = [int(b) for b in pick(args.batch_sizes, "64,128,256", "4,16").split(",")]
    if args.compile and tiny:
        parser.error("--compile needs CUDA; --tiny runs on the CPU")
    threads = args.threads or (1 if tiny else None)
    if threads:
        torch.set_num_threads(threads)
    command = shlex.join(["python", "-m", "benchmarks.gpu_bench", *(sys.argv[1:] if argv is None else argv)])
    started = time.time()
    machine = Machine()
    with tempfile.TemporaryDirectory() as scratch:
        setup = tiny_setup(Path(scratch)) if tiny else real_size_setup(Path(scratch), "bfloat16")
        device = describe_device(setup.device, tiny)
        print(f"built {setup.name} on {device.name} in {time.time() - started:.0f} s", flush=True)
        decode = measure_decode(Path(scratch), pick(args.decode_seconds, 60.0, 5.0), 2, args.rounds)
        print(f"decode: {decode['audio_s_per_cpu_s']:.0f} audio-s per CPU-s", flush=True)
        track_s = pick(args.track_seconds, 60.0, 4.0)
        window_s = pick(args.window_seconds, 30.0, 1.0)
        mert = measure_mert(setup, pick(args.mert_tracks, 32, 6), track_s, window_s, args.rounds, args.mert_batch)
        print(f"mert: {json.dumps({k: round(v['audio_s_per_s']) for k, v in mert['rows'].items()})} audio-s/s", flush=True)
        baseline_batch = pick(args.baseline_batch, 16, 4)
        caption = measure_caption(
            setup,
            pick(args.tracks, 256, 16),
            pick(args.reference_tracks, 4, 4),
            baseline_batch,
            pick(args.baseline_tracks, 64, 8),
            batch_sizes,
            pick(args.max_new_tokens, 64, 16),
            args.rounds,
            args.compile,
        )
        print(
            f"caption: {json.dumps({k: round(v['captions_per_s'], 2) for k, v in caption['rows'].items()})} captions/s",
            flush=True,
        )
        report_path = args.out if args.out.suffix == ".md" else args.out / f"gpu_bench_{device.slug}.md"
        report_path.parent.mkdir(parents=True, exist_ok=True)
        if args.profile:
            profile_fast_path(
                setup, max(batch_sizes), caption["max_new_tokens"], report_path.with_name(f"{report_path.stem}_profile.txt")
            )

    fast_name, fast = max(
        ((n, r) for n, r in caption["rows"].items() if n.startswith("fast")), key=lambda item: item[1]["captions_per_s"]
    )
    today = caption["rows"][f"today: plain, batch {baseline_batch}"]
    mert_rows = mert["rows"]
    mert_batched = 1 / mert_rows["tracks batched"]["audio_s_per_s"]
    mert_single = 1 / mert_rows["one track per call"]["audio_s_per_s"]
    fast_track_s = mert_batched * track_s + 1 / fast["captions_per_s"]
    summary = {
        "decode_cpu_s_per_audio_s": decode["cpu_s_per_audio_s"],
        "mert_s_per_audio_s": mert_batched,
        "caption_s_per_track": 1 / fast["captions_per_s"],
        "caption_batch_size": fast["batch"],
        "fast_variant": fast_name,
        "baseline_batch": baseline_batch,
        "track_s": track_s,
        "today_tracks_per_s": 1 / (mert_single * track_s + 1 / today["captions_per_s"]),
        "fast_tracks_per_s": 1 / fast_track_s,
        "decode_cores_needed": decode["cpu_s_per_audio_s"] * track_s / fast_track_s,
    }
    summary["speedup"] = summary["fast_tracks_per_s"] / summary["today_tracks_per_s"]
    costs = StageCosts(
        device=device.name,
        models=setup.name,
        dtype=str(setup.captioner.dtype).removeprefix("torch."),
        measured_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        command=command,
        decode_cpu_s_per_audio_s=summary["decode_cpu_s_per_audio_s"],
        mert_s_per_audio_s=summary["mert_s_per_audio_s"],
        caption_s_per_track=summary["caption_s_per_track"],
        mert_window_s=window_s,
        caption_batch_size=fast["batch"],
        caption_max_new_tokens=caption["max_new_tokens"],
    )
    report = {
        "device": asdict(device),
        "model": setup.name,
        "command": command,
        "rounds": args.rounds,
        "decode": decode,
        "mert": mert,
        "caption": caption,
        "summary": summary,
        "seconds": time.time() - started,
    }
    report_path.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    report_path.write_text(render(device, setup, decode, mert, caption, summary, command, args.rounds, machine))
    costs_path = write_stage_costs(costs, report_path.parent / f"stage_costs_{device.slug}.json")
    print(f"wrote {report_path}, its .json and {costs_path} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
