"""Planning a tagging run before paying for it: profile a sample here, project wall time, GPU-hours and cost.

The profile runs the job's own stages (decode, MERT, caption, embed) in this process on a sample of
the catalog, spread evenly over its listing, and measures seconds per track for each. The projection
scales those per-track costs to the tracks still to tag (a rerun's resume is accounted for) on the
cluster shape given, and lists every assumption it makes. No Ray here: the numbers are the stages'
own, so the planner runs anywhere the stages run.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from musiscene_core.errors import UserError

DEFAULT_SAMPLE = 100
NIGHT_HOURS = 8.0


@dataclass
class Profile:
    """Measured on this machine, per profiled track (seconds)."""

    device: str
    tracks: int
    ok: int
    decode_s: float  # CPU seconds to read, hash, decode and resample one track
    write_s: float  # CPU seconds to commit one track's rows (Parquet shards)
    mert_s: float
    caption_s: float
    embed_s: float
    load_s: float  # loading the models and their first (warm-up) batch: paid once by every model actor
    audio_s: float  # mean audio duration of the ok tracks
    bytes: float  # mean file size
    model_batch_size: int

    @property
    def model_s(self) -> float:
        return self.mert_s + self.caption_s + self.embed_s


@dataclass
class ClusterShape:
    gpus: int | None = None  # None: this machine, as `musiscene tag` would run here
    gpu_type: str | None = None
    price_per_gpu_hour: float | None = None
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)


@dataclass
class Projection:
    tracks_listed: int
    tracks_todo: int
    target: str
    seconds_per_track: float  # wall seconds per track on the target, steady state
    wall_hours: float  # including model loading
    gpu_hours: float | None
    cost: float | None
    cost_per_track: float | None
    cost_per_million: float | None
    gpus_for_one_night: int | None
    decode_cores_per_gpu: float | None
    assumptions: list[str]
    profile: Profile

    def as_dict(self) -> dict:
        data = asdict(self)
        data["profile"]["model_s"] = self.profile.model_s
        return data


def sample_evenly(items: list, size: int) -> list:
    """`size` items spread evenly over `items` (all of them when there are fewer): a folder-ordered listing
    often groups albums or formats, so the first N would be a biased sample."""
    if size >= len(items):
        return list(items)
    step = len(items) / size
    return [items[int(i * step)] for i in range(size)]


def profile_tracks(uris: list[str], fingerprints: list[str], model, device: str, config, torch_threads: int = 1) -> Profile:
    """Run the tagging job's stages on these tracks here, timing each stage separately, with the CPU threads a
    model actor of the job gets (`torch_threads`: Ray gives an actor as many as its whole CPUs, at least one)."""
    import torch

    if not uris:
        raise UserError("the catalog holds no audio files to profile")
    threads = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        return _profile(uris, fingerprints, model, device, config)
    finally:
        torch.set_num_threads(threads)


def _profile(uris, fingerprints, model, device, config) -> Profile:
    import dataclasses
    import tempfile

    from musiscene_core.tagging.graph import CAPTION, DECODE, EMBED, MERT, WRITE, build_stages

    with tempfile.TemporaryDirectory(prefix="musiscene-plan-") as scratch:
        # The job's own stage graph, each model stage on its own (as on a GPU cluster) so each is timed apart.
        profiling = dataclasses.replace(config, dst=scratch, fuse_models=False)
        stages = {
            stage.name: stage
            for stage in build_stages(profiling, model, "plan-profile", device=device, gpus_per_actor=1.0, run_id="plan")
        }
        started = time.perf_counter()
        mert, caption, embed = (stages[name].build() for name in (MERT, CAPTION, EMBED))
        load_s = time.perf_counter() - started
        decode, writer = stages[DECODE].build(), stages[WRITE].build()
        decode_batch_size, model_batch_size, shard_rows = config.decode_batch_size, config.model_batch_size, config.shard_rows
        totals = dict(decode=0.0, mert=0.0, caption=0.0, embed=0.0, write=0.0)
        ok, audio_s, size = 0, 0.0, 0.0
        decoded = []
        for start in range(0, len(uris), decode_batch_size):
            batch = {
                "uri": np.array(uris[start : start + decode_batch_size], dtype=object),
                "fingerprint": np.array(fingerprints[start : start + decode_batch_size], dtype=object),
            }
            t = time.perf_counter()
            decoded.append(decode(batch))
            totals["decode"] += time.perf_counter() - t
        merged = {key: np.concatenate([b[key] for b in decoded]) for key in decoded[0]}
        # The first call of each model pays one-time costs (allocations, kernel choices, lazy imports), as a
        # model actor does once at start: it counts as start-up, not as a per-track cost.
        t = time.perf_counter()
        warm = {key: value[:model_batch_size] for key, value in merged.items()}
        for stage in (mert, caption, embed):
            warm = stage(warm)
        load_s += time.perf_counter() - t
        tagged = []
        for start in range(0, len(uris), model_batch_size):
            batch = {key: value[start : start + model_batch_size] for key, value in merged.items()}
            for name, stage in (("mert", mert), ("caption", caption), ("embed", embed)):
                t = time.perf_counter()
                batch = stage(batch)
                totals[name] += time.perf_counter() - t
            tagged.append(batch)
            good = batch["status"] == "ok"
            ok += int(good.sum())
            audio_s += float(np.nansum(batch["duration_s"][good]))
            size += float(batch["bytes"].sum())
        results = {key: np.concatenate([b[key] for b in tagged]) for key in tagged[0]}
        for start in range(0, len(uris), shard_rows):
            t = time.perf_counter()
            writer({key: value[start : start + shard_rows] for key, value in results.items()})
            totals["write"] += time.perf_counter() - t
    n = len(uris)
    return Profile(
        device=device,
        tracks=n,
        ok=ok,
        decode_s=totals["decode"] / n,
        write_s=totals["write"] / n,
        mert_s=totals["mert"] / n,
        caption_s=totals["caption"] / n,
        embed_s=totals["embed"] / n,
        load_s=load_s,
        audio_s=audio_s / max(ok, 1),
        bytes=size / n,
        model_batch_size=model_batch_size,
    )


def project(profile: Profile, listed: int, todo: int, shape: ClusterShape) -> Projection:
    """Scale the measured per-track costs to `todo` tracks on `shape`, stating each assumption."""
    assumptions = [
        (
            f"per-track costs measured on {profile.tracks} sampled tracks on this machine ({profile.device}), "
            f"model batches of {profile.model_batch_size}; the rest of the catalog is like the sample "
            f"(mean {profile.audio_s:.0f} s of audio, {profile.bytes / 1e6:.2f} MB per track)"
        ),
        f"{listed - todo} of {listed} tracks are already tagged by this model version and are skipped",
        "error files cost about as much as good ones (they are read and decoded before they fail)",
    ]
    if shape.gpus is None:
        # This machine: one fused model actor; decode tasks run on the cores the model leaves free.
        spare = max(shape.cpus - 1, 1)
        per_track = max(profile.model_s, (profile.decode_s + profile.write_s) / spare)
        assumptions.append(
            f"runs here: one model actor, decode and writing overlapped on {spare} other core(s); "
            "Ray start-up (seconds to tens of seconds) and the index build are not included"
        )
        wall_s = profile.load_s + todo * per_track
        return Projection(
            listed,
            todo,
            f"this machine ({profile.device}, {shape.cpus} cores)",
            per_track,
            wall_s / 3600,
            None,
            None,
            None,
            None,
            None,
            None,
            assumptions,
            profile,
        )

    if shape.gpus < 1:
        raise UserError("--cluster-gpus must be at least 1")
    gpu = shape.gpu_type or "GPU"
    if profile.device == "cpu":
        assumptions.append(
            f"profiled on CPU: each {gpu} is assumed to run the models at the speed measured here; "
            f"run --plan on a {gpu} node for a real projection (a CPU profile overstates GPU time "
            "by one to two orders of magnitude at real model sizes)"
        )
    else:
        assumptions.append(f"each {gpu} runs the models at the speed measured on this machine's {profile.device}")
    per_gpu_s = profile.model_s
    per_track = per_gpu_s / shape.gpus
    decode_cores = (profile.decode_s + profile.write_s) / per_gpu_s if per_gpu_s > 0 else math.inf
    assumptions.append(
        f"decode and writing keep up: they need {decode_cores:.1f} CPU core(s) per GPU (give the GPU nodes at least that many)"
    )
    assumptions.append(
        f"every GPU is busy from start to end; model loading ({profile.load_s:.0f} s) once per GPU; "
        "node boot and image pull (minutes, billed) are not included"
    )
    wall_s = profile.load_s + todo * per_track
    gpu_hours = shape.gpus * wall_s / 3600
    night = math.ceil(todo * per_gpu_s / (NIGHT_HOURS * 3600 - profile.load_s)) if todo else 0
    cost = cost_per_track = cost_per_million = None
    if shape.price_per_gpu_hour is not None:
        if shape.price_per_gpu_hour < 0:
            raise UserError("--price-per-gpu-hour cannot be negative")
        cost = gpu_hours * shape.price_per_gpu_hour
        cost_per_track = per_gpu_s / 3600 * shape.price_per_gpu_hour
        cost_per_million = cost_per_track * 1e6
        assumptions.append(
            f"{shape.price_per_gpu_hour:g} per GPU-hour, all GPUs billed for the whole run (the head node and storage are extra)"
        )
    return Projection(
        listed,
        todo,
        f"{shape.gpus} x {gpu}",
        per_track,
        wall_s / 3600,
        gpu_hours,
        cost,
        cost_per_track,
        cost_per_million,
        max(night, 1) if todo else 0,
        decode_cores,
        assumptions,
        profile,
    )


def plan_tagging(config, shape: ClusterShape, sample_size: int = DEFAULT_SAMPLE) -> Projection:
    """Profile `config`'s catalog here and project the run of its remaining tracks on `shape`."""
    import torch

    from musiscene_core.catalog import list_tracks
    from musiscene_core.models import resolve_model
    from musiscene_core.tagging.graph import model_version
    from musiscene_core.tagging.plan import plan_run
    from musiscene_core.tagging.store import OutputStore

    if sample_size < 1:
        raise UserError("--sample must be at least 1")
    config.validate()
    model = resolve_model(config.model, question=config.question)
    if config.dst:
        run_plan = plan_run(
            config.src,
            OutputStore.open(config.dst, config.endpoint_url),
            model_version(config, model),
            force=config.force,
            endpoint_url=config.endpoint_url,
            retry_errors=config.retry_errors,
        )
        listed, todo = run_plan.listed, run_plan.todo
    else:
        todo = list_tracks(config.src, config.endpoint_url).tracks
        listed = len(todo)
    listing = todo or list_tracks(config.src, config.endpoint_url).tracks  # all done: profile the catalog anyway
    sample = sample_evenly(listing, sample_size)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    profile = profile_tracks(
        [r.uri for r in sample],
        [r.fingerprint for r in sample],
        model,
        device,
        config,
        torch_threads=max(1, int(config.cpus_per_actor)),
    )
    return project(profile, listed, len(todo), shape)
