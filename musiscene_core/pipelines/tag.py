"""Ray Data runner of the tagging job: listing -> decode -> MERT -> caption -> embed -> Parquet shards.

Thin by design: every stage is a `musiscene_core.tagging.stages` class; this module only decides
where each runs (CPU tasks, actor pools, GPUs) and reports progress. `jobs/tag.py` and `musiscene tag`
call `run`.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from musiscene_core.models import resolve_model
from musiscene_core.pipelines import placement
from musiscene_core.pipelines.ray_init import init_ray
from musiscene_core.tagging.config import TagConfig
from musiscene_core.tagging.plan import plan_run
from musiscene_core.tagging.stages import CaptionStage, DecodeStage, EmbedStage, MertStage, ModelChain, ShardWriter
from musiscene_core.tagging.store import OutputStore


@dataclass
class TagResult:
    run_id: str
    dst: str
    model_version: str
    listed: int = 0
    processed: int = 0
    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    skipped: int = 0
    skipped_non_audio: int = 0
    audio_seconds: float = 0.0
    seconds: float = 0.0
    index: dict | None = None
    random_weights: bool = False

    def as_dict(self) -> dict:
        hours = self.seconds / 3600.0
        return {
            "run_id": self.run_id,
            "output": self.dst,
            "model_version": self.model_version,
            "random_weights": self.random_weights,
            "listed": self.listed,
            "processed": self.processed,
            "ok": self.ok,
            "failed": sum(self.errors.values()),
            "errors": dict(sorted(self.errors.items())),
            "skipped": self.skipped,
            "skipped_non_audio": self.skipped_non_audio,
            "audio_hours": round(self.audio_seconds / 3600.0, 4),
            "seconds": round(self.seconds, 2),
            "tracks_per_hour": round(self.processed / hours, 1) if hours > 0 else None,
            "index": self.index,
        }


def _decode(batch, **kwargs):
    return DecodeStage(**kwargs)(batch)


def _write(batch, **kwargs):
    return ShardWriter(**kwargs)(batch)


def run(config: TagConfig, on_progress=None) -> TagResult:
    """Tag `config.src` into `config.dst`; `on_progress(done, total)` is called as shards are committed."""
    import ray
    import ray.data

    config.validate()
    started = time.time()
    model = resolve_model(config.model, question=config.question)
    model_version = model.version(policy=config.policy, window_s=config.window_s, hop_s=config.hop_s,
                                  max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                  top_p=config.top_p, seed=config.seed, embedder=config.embedder)
    store = OutputStore.open(config.dst, config.endpoint_url)
    plan = plan_run(config.src, store, model_version, force=config.force, endpoint_url=config.endpoint_url)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started))}-{uuid.uuid4().hex[:8]}"
    result = TagResult(run_id=run_id, dst=store.uri, model_version=model_version, listed=plan.listed,
                       skipped=plan.skipped_done, skipped_non_audio=plan.skipped_non_audio,
                       random_weights=model.random_weights)
    if on_progress:
        on_progress(0, len(plan.todo))
    if plan.todo:
        init_ray(config.ray_address)
        placement.configure_data_context(config)
        place = placement.choose(config, ray.cluster_resources().get("GPU", 0))
        model_actor = placement.model_actor_args(config, place)
        ds = ray.data.from_items([{"uri": r.uri, "fingerprint": r.fingerprint} for r in plan.todo],
                                 override_num_blocks=max(1, min(len(plan.todo), 200)))
        ds = ds.map_batches(_decode, **placement.decode_args(config), fn_kwargs=dict(
            policy=config.policy, window_s=config.window_s, hop_s=config.hop_s,
            min_seconds=config.min_seconds, endpoint_url=config.endpoint_url))
        generation = dict(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p, seed=config.seed)
        device = place.device
        if place.separate_pools:
            ds = ds.map_batches(MertStage, compute=placement.actor_pool(config.mert_actors, config),
                                fn_constructor_kwargs=dict(model=model, device=device), **model_actor)
            ds = ds.map_batches(CaptionStage, compute=placement.actor_pool(config.caption_actors, config),
                                fn_constructor_kwargs=dict(model=model, device=device, **generation), **model_actor)
            ds = ds.map_batches(EmbedStage, compute=placement.actor_pool(config.embed_actors, config),
                                batch_size=config.model_batch_size, num_cpus=config.cpus_per_actor,
                                max_restarts=config.actor_restarts, fn_constructor_kwargs=dict(embedder_name=config.embedder))
        else:
            ds = ds.map_batches(ModelChain, compute=placement.actor_pool(config.mert_actors, config), fn_constructor_kwargs=dict(
                model=model, device=device, embedder_name=config.embedder, **generation), **model_actor)
        ds = ds.map_batches(_write, batch_size=config.shard_rows, **placement.task_args(config), fn_kwargs=dict(
            dst=config.dst, model_version=model_version, endpoint_url=config.endpoint_url, run_id=run_id))
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for status, kind, duration in zip(batch["status"], batch["error_kind"], batch["duration_s"]):
                result.processed += 1
                if status == "ok":
                    result.ok += 1
                    result.audio_seconds += float(duration)
                else:
                    result.errors[str(kind)] += 1
            if on_progress:
                on_progress(result.processed, len(plan.todo))
    if config.build_index:
        from musiscene_core.index import build_index

        info = build_index(config.dst, memory_budget=config.memory_budget, endpoint_url=config.endpoint_url)
        result.index = {"rows": info.rows, "added_rows": info.added_rows, "captions": info.captions.factory,
                        "audio": info.audio.factory, "recall_at_10": info.captions.recall_at_10}
    result.seconds = time.time() - started
    store.write_run_record(run_id, {"config": config.as_dict(), "model": model.describe(), **result.as_dict()})
    return result
