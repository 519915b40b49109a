"""Ray Data wiring of `build-dataset`: hash videos -> plan -> decode clips -> video + music captions
-> fusion -> Parquet shards.

Thin by design: every step is a `musiscene_core.data` stage or planning function; this module only
decides where each runs (CPU tasks, actor pools, GPUs) and collects the summary.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from musiscene_core.data.build_config import BuildDatasetConfig
from musiscene_core.data.build_plan import build_version, clip_rows, plan_build
from musiscene_core.data.dataset_stages import (
    CaptionChain,
    ClipDecodeStage,
    ClipShardWriter,
    FusionStage,
    IdentifyStage,
)
from musiscene_core.data.fusion_prompt import load_prompt
from musiscene_core.data.scene_dataset import OK, SceneDatasetStore
from musiscene_core.models.presets import resolve_model
from musiscene_core.models.video_captioner import resolve_video_captioner
from musiscene_core.models.video_captioner.captioner import (
    check_frame_count,
    is_random,
    video_captioner_version,
)
from musiscene_core.pipelines.ray_init import init_ray


@dataclass
class BuildResult:
    run_id: str
    dst: str
    versions: dict
    listed: int = 0
    processed: int = 0
    ok: int = 0
    duplicates: int = 0
    errors: Counter = field(default_factory=Counter)
    splits: Counter = field(default_factory=Counter)
    skipped: int = 0
    clip_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    random_weights: bool = False
    dataset: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        hours = self.seconds / 3600.0
        return {
            "run_id": self.run_id,
            "output": self.dst,
            **self.versions,
            "random_weights": self.random_weights,
            "listed": self.listed,
            "processed": self.processed,
            "ok": self.ok,
            "duplicates": self.duplicates,
            "failed": sum(self.errors.values()),
            "errors": dict(sorted(self.errors.items())),
            "skipped": self.skipped,
            "splits": {s: self.splits.get(s, 0) for s in ("train", "validation", "test")},
            "clip_hours": round(self.clip_seconds / 3600.0, 4),
            "llm_tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.prompt_tokens + self.completion_tokens,
            },
            "seconds": round(self.seconds, 2),
            "clips_per_hour": round(self.processed / hours, 1) if hours > 0 and self.processed else None,
            "dataset": self.dataset,
        }


def _pool(size: int):
    from ray.data import ActorPoolStrategy

    return ActorPoolStrategy(size=size)


def _identify(batch, endpoint_url=None):
    return IdentifyStage(endpoint_url)(batch)


def _decode(batch, **kwargs):
    return ClipDecodeStage(**kwargs)(batch)


def _write(batch, **kwargs):
    return ClipShardWriter(**kwargs)(batch)


def _dataset_counts(store: SceneDatasetStore) -> dict:
    """What the output folder holds now, over all runs: ok clips per split, failures, duplicates."""
    current = store.current_clips()
    if current is None:
        return {}
    rows = current.select(["status", "split", "error_kind"]).to_pylist()
    ok = Counter(r["split"] for r in rows if r["status"] == OK)
    return {
        "clips": len(rows),
        "ok": sum(ok.values()),
        "splits": {s: ok.get(s, 0) for s in ("train", "validation", "test")},
        "duplicates": sum(r["status"] == "duplicate" for r in rows),
        "failed": sum(r["status"] == "error" for r in rows),
    }


def run(config: BuildDatasetConfig, on_progress=None) -> BuildResult:
    """Build the scene-caption dataset of `config.src` into `config.dst`; rerun to continue."""
    import ray
    import ray.data

    config.validate()
    started = time.time()
    prompt = load_prompt(config.prompt)
    fusion = config.fusion()
    music = resolve_model(config.model, question=config.music_question)
    video_source = resolve_video_captioner(config.video_captioner)
    check_frame_count(video_source, config.frames)
    versions = {
        "video_captioner": video_captioner_version(video_source),
        "music_model": music.version(max_new_tokens=config.max_new_tokens, window_s=30.0, temperature=0.0),
        "llm_model": fusion.model_name,
        "prompt_version": prompt.version,
        "question": config.question,
    }
    versions["build_version"] = build_version(versions, config.frames, config.splits, config.split_seed)
    store = SceneDatasetStore(config.dst, config.endpoint_url)
    plan = plan_build(
        config.src,
        store.current_clips(),
        versions["build_version"],
        force=config.force,
        retry_errors=config.retry_errors,
        endpoint_url=config.endpoint_url,
    )
    # Claimed once the source listed fine, so a mistyped SRC leaves no output folder behind.
    store.claim({"split_fractions": list(config.splits), "split_seed": config.split_seed})
    run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started))}-{uuid.uuid4().hex[:8]}"
    result = BuildResult(
        run_id=run_id,
        dst=store.uri,
        versions=versions,
        listed=plan.listed,
        skipped=plan.skipped,
        random_weights=music.random_weights or is_random(video_source),
    )
    if on_progress:
        on_progress(0, len(plan.todo))
    if plan.todo:
        init_ray(config.ray_address)
        ray.data.DataContext.get_current().enable_progress_bars = False
        uris = sorted({clip.uri for clip in plan.todo})
        hashed = ray.data.from_items([{"uri": u} for u in uris], override_num_blocks=max(1, min(len(uris), 200)))
        hashed = hashed.map_batches(
            _identify,
            batch_size=config.decode_batch_size,
            num_cpus=config.cpus_per_actor,
            fn_kwargs=dict(endpoint_url=config.endpoint_url),
        )
        identities = {row["uri"]: row for row in hashed.take_all()}
        rows = clip_rows(plan, identities, config.splits, config.split_seed)
        items = [{k: v[i] for k, v in rows.items()} for i in range(len(plan.todo))]

        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        gpus = config.gpus_per_actor if config.gpus_per_actor is not None else (1.0 if has_gpu else 0.0)
        device = "cuda" if gpus > 0 else "cpu"
        ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 200)))
        ds = ds.map_batches(
            _decode,
            batch_size=config.decode_batch_size,
            num_cpus=config.cpus_per_actor,
            fn_kwargs=dict(
                frames=config.frames,
                min_seconds=config.min_seconds,
                max_clip_s=config.max_clip_seconds,
                endpoint_url=config.endpoint_url,
            ),
        )
        ds = ds.map_batches(
            CaptionChain,
            compute=_pool(config.caption_actors),
            batch_size=config.model_batch_size,
            num_cpus=config.cpus_per_actor,
            num_gpus=gpus or None,
            fn_constructor_kwargs=dict(
                video_source=video_source, model=music, device=device, max_new_tokens=config.max_new_tokens
            ),
        )
        local_llm = fusion.endpoint is None
        ds = ds.map_batches(
            FusionStage,
            compute=_pool(config.fusion_actors),
            batch_size=config.model_batch_size,
            num_cpus=config.cpus_per_actor,
            num_gpus=(gpus or None) if local_llm else None,
            fn_constructor_kwargs=dict(settings=fusion, prompt=prompt, device=device if local_llm else None),
        )
        ds = ds.map_batches(
            _write,
            batch_size=config.shard_rows,
            num_cpus=config.cpus_per_actor,
            fn_kwargs=dict(dst=config.dst, versions=versions, endpoint_url=config.endpoint_url),
        )
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for i, status in enumerate(batch["status"]):
                result.processed += 1
                result.prompt_tokens += int(batch["llm_prompt_tokens"][i])
                result.completion_tokens += int(batch["llm_completion_tokens"][i])
                if status == OK:
                    result.ok += 1
                    result.splits[str(batch["split"][i])] += 1
                    result.clip_seconds += float(batch["duration_s"][i])
                elif status == "duplicate":
                    result.duplicates += 1
                else:
                    result.errors[str(batch["error_kind"][i])] += 1
            if on_progress:
                on_progress(result.processed, len(plan.todo))
    result.dataset = _dataset_counts(store)
    result.seconds = time.time() - started
    store.tables.write_run_record(
        run_id,
        {"config": config.as_dict(), "music_model": music.describe(), "video_captioner_source": video_source, **result.as_dict()},
    )
    return result
