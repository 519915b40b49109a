"""Ray Data runner of the tagging job: listing -> decode -> MERT -> caption -> embed -> Parquet shards.

Thin by design: the stages and their placement come from `musiscene_core.tagging.graph.build_stages`
(the same graph the sequential runner runs); this module maps them onto Ray Data (CPU tasks or actor
pools, GPUs when the cluster has them) and reports progress. `jobs/tag.py` and `musiscene tag`
call `run`.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from musiscene_core.models import resolve_model
from musiscene_core.pipelines.ray_init import init_ray
from musiscene_core.tagging.config import TagConfig
from musiscene_core.tagging.plan import plan_run
from musiscene_core.tagging.graph import Stage, build_stages, model_version
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
    retried: int = 0  # files whose error row from an earlier run was tried again
    deleted: int = 0  # files gone from the catalog since the last run: marked deleted, out of the index
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
            "retried": self.retried,
            "deleted": self.deleted,
            "audio_hours": round(self.audio_seconds / 3600.0, 4),
            "seconds": round(self.seconds, 2),
            "tracks_per_hour": round(self.processed / hours, 1) if hours > 0 else None,
            "index": self.index,
        }


def _run_task(batch, stage: Stage):
    return stage.build()(batch)


def _map_stage(ds, stage: Stage):
    """One stage onto Ray Data: stateless CPU tasks, or an actor pool that builds the stage once per actor."""
    if stage.actors is None:
        return ds.map_batches(_run_task, batch_size=stage.batch_size, num_cpus=stage.num_cpus, fn_kwargs=dict(stage=stage))
    from ray.data import ActorPoolStrategy

    return ds.map_batches(stage.cls, compute=ActorPoolStrategy(size=stage.actors), fn_constructor_kwargs=stage.kwargs,
                          batch_size=stage.batch_size, num_cpus=stage.num_cpus, num_gpus=stage.num_gpus or None)


def run(config: TagConfig, on_progress=None) -> TagResult:
    """Tag `config.src` into `config.dst`; `on_progress(done, total)` is called as shards are committed."""
    import ray
    import ray.data

    config.validate()
    started = time.time()
    model = resolve_model(config.model, question=config.question)
    version = model_version(config, model)
    store = OutputStore.open(config.dst, config.endpoint_url)
    plan = plan_run(config.src, store, version, force=config.force, endpoint_url=config.endpoint_url,
                    retry_errors=config.retry_errors)
    if plan.deleted:
        store.mark_deleted(plan.deleted, version)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started))}-{uuid.uuid4().hex[:8]}"
    result = TagResult(run_id=run_id, dst=store.uri, model_version=version, listed=plan.listed,
                       skipped=plan.skipped_done, skipped_non_audio=plan.skipped_non_audio,
                       retried=plan.retried, deleted=len(plan.deleted), random_weights=model.random_weights)
    if on_progress:
        on_progress(0, len(plan.todo))
    if plan.todo:
        init_ray(config.ray_address)
        ray.data.DataContext.get_current().enable_progress_bars = False
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        gpus = config.gpus_per_actor if config.gpus_per_actor is not None else (1.0 if has_gpu else 0.0)
        device = "cuda" if gpus > 0 else "cpu"
        ds = ray.data.from_items([{"uri": r.uri, "fingerprint": r.fingerprint} for r in plan.todo],
                                 override_num_blocks=max(1, min(len(plan.todo), 200)))
        for stage in build_stages(config, model, version, device=device, gpus_per_actor=gpus):
            ds = _map_stage(ds, stage)
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
