"""Ray Data runner of the tagging job: listing -> decode -> MERT -> caption -> embed -> Parquet shards.

Thin by design: the stages and their placement come from `musiscene_core.tagging.graph.build_stages`
(the same graph the sequential runner runs); this module maps them onto Ray Data (CPU tasks or actor
pools, GPUs when the cluster has them), ties every worker to the driver's life, holds the output
folder's lock and reports progress. `jobs/tag.py` and `musiscene tag` call `run`.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from musiscene_core import tables
from musiscene_core.errors import RunInterrupted
from musiscene_core.models import resolve_model
from musiscene_core.pipelines import placement
from musiscene_core.pipelines.driver import DriverRef, sigterm_interrupts, stop_on_sigterm, validate_model, worker_failure
from musiscene_core.pipelines.ray_init import init_ray
from musiscene_core.tagging.config import TagConfig
from musiscene_core.tagging.graph import WRITE, Stage, build_stages, model_version
from musiscene_core.tagging.lock import OutputLock
from musiscene_core.tagging.plan import plan_run
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
    skipped_paths: dict = field(default_factory=dict)  # links and special files not listed, by reason
    interrupted: bool = False
    committed: int | None = None  # tracks this run committed, counted in the tables when it was interrupted

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
            "skipped_paths": dict(sorted(self.skipped_paths.items())),
            "retried": self.retried,
            "deleted": self.deleted,
            "interrupted": self.interrupted,
            "committed": self.processed if self.committed is None else self.committed,
            "audio_hours": round(self.audio_seconds / 3600.0, 4),
            "seconds": round(self.seconds, 2),
            "tracks_per_hour": round(self.processed / hours, 1) if hours > 0 else None,
            "index": self.index,
        }


def _run_task(batch, stage: Stage, driver: DriverRef, run_id: str):
    driver.watch()
    built = stage.build()
    if stage.name == WRITE:
        # A run whose lock was taken over (its driver was presumed dead) must not add a second copy.
        OutputLock.check_holder(built.store.location, run_id)
    return built(batch)


def _watched(stage: type) -> type:
    """`stage` as an actor class that exits when the run's driver is gone (see DriverRef)."""

    class Watched(stage):
        def __init__(self, driver: DriverRef, **kwargs):
            driver.watch()
            super().__init__(**kwargs)

    Watched.__name__ = Watched.__qualname__ = stage.__name__
    return Watched


def _map_stage(ds, stage: Stage, config: TagConfig, driver: DriverRef, run_id: str):
    """One stage onto Ray Data: stateless CPU tasks, or an actor pool that builds the stage once per actor;
    pools, concurrency and failure policy as `placement` decides."""
    if stage.actors is None:
        return ds.map_batches(
            _run_task, fn_kwargs=dict(stage=stage, driver=driver, run_id=run_id), **placement.stage_args(stage, config)
        )
    return ds.map_batches(
        _watched(stage.cls), fn_constructor_kwargs=dict(driver=driver, **stage.kwargs), **placement.stage_args(stage, config)
    )


def _new_run_id(started: float) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started))}-{uuid.uuid4().hex[:8]}"


def run(config: TagConfig, on_progress=None) -> TagResult:
    """Tag `config.src` into `config.dst`; `on_progress(done, total)` is called as shards are committed.

    Checks the output folder (by taking its lock) and the model before any work; an interruption
    (Ctrl-C, SIGTERM) stops the run, records what it committed and raises `RunInterrupted`.
    """
    config.validate()
    started = time.time()
    run_id = _new_run_id(started)
    model = resolve_model(config.model, question=config.question)
    validate_model(config.model)
    version = model_version(config, model)
    store = OutputStore.open(config.dst, config.endpoint_url)
    result = TagResult(run_id=run_id, dst=store.uri, model_version=version, random_weights=model.random_weights)
    with OutputLock.acquire(store.location, run_id), stop_on_sigterm():
        try:
            _tag(config, model, version, store, result, on_progress)
        except KeyboardInterrupt:
            result.interrupted = True
            # Workers commit ahead of what the driver has counted; the tables say what is really there.
            result.committed = _committed_since(store, started)
        result.seconds = time.time() - started
        store.write_run_record(run_id, {"config": config.as_dict(), "model": model.describe(), **result.as_dict()})
    if result.interrupted:
        raise RunInterrupted(
            f"stopped; {result.committed} track(s) were committed by this run "
            f"(run record {store.uri}/runs/{run_id}.json); rerun the same command to continue"
        )
    return result


def _tag(config: TagConfig, model, version: str, store: OutputStore, result: TagResult, on_progress) -> None:
    plan = plan_run(
        config.src, store, version, force=config.force, endpoint_url=config.endpoint_url, retry_errors=config.retry_errors
    )
    if plan.deleted:
        store.mark_deleted(plan.deleted, version)
    result.listed, result.skipped, result.skipped_non_audio = plan.listed, plan.skipped_done, plan.skipped_non_audio
    result.skipped_paths, result.retried, result.deleted = plan.skipped_paths, plan.retried, len(plan.deleted)
    if on_progress:
        on_progress(0, len(plan.todo))
    if plan.todo:
        _process(config, model, version, plan, result, on_progress)
    if config.build_index:
        result.index = _build_index(config, store)


def _process(config: TagConfig, model, version: str, plan, result: TagResult, on_progress) -> None:
    import ray
    import ray.data

    connected_here = not ray.is_initialized()
    init_ray(config.ray_address, gpus_per_actor=config.gpus_per_actor)
    sigterm_interrupts()
    placement.configure_data_context(config)
    driver = DriverRef.this_process()
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    gpus = config.gpus_per_actor if config.gpus_per_actor is not None else (1.0 if has_gpu else 0.0)
    device = "cuda" if gpus > 0 else "cpu"
    ds = ray.data.from_items(
        [{"uri": r.uri, "fingerprint": r.fingerprint} for r in plan.todo], override_num_blocks=max(1, min(len(plan.todo), 200))
    )
    for stage in build_stages(config, model, version, device=device, gpus_per_actor=gpus, run_id=result.run_id):
        ds = _map_stage(ds, stage, config, driver, result.run_id)
    try:
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
    except ray.exceptions.RayError as exc:
        raise worker_failure(exc, result.processed) from None
    finally:
        if connected_here:
            # A private Ray goes down with its workers; on a cluster, Ray ends a disconnected job's workers.
            ray.shutdown()


def _committed_since(store: OutputStore, started: float) -> int:
    import datetime as dt

    import pyarrow as pa
    import pyarrow.compute as pc

    table = store.read_table(tables.TRACKS, columns=["tagged_at"])
    if table is None:
        return 0
    since = pa.scalar(dt.datetime.fromtimestamp(started, dt.timezone.utc), type=table.schema.field("tagged_at").type)
    return int(pc.sum(pc.greater_equal(table.column("tagged_at"), since)).as_py() or 0)


def _build_index(config: TagConfig, store: OutputStore) -> dict:
    from musiscene_core.index import build_index

    current = store.current_tracks()
    if current is None or "ok" not in set(current.column("status").to_pylist()):
        return {
            "rows": 0,
            "added_rows": 0,
            "captions": None,
            "audio": None,
            "recall_at_10": None,
            "note": "nothing to index: no current track of the output decoded",
        }
    # The endpoint names the catalog's store when only SRC is on S3; the index goes where DST is.
    endpoint = config.endpoint_url if store.location.url.startswith("s3://") else None
    info = build_index(config.dst, memory_budget=config.memory_budget, endpoint_url=endpoint)
    return {
        "rows": info.rows,
        "added_rows": info.added_rows,
        "captions": info.captions.factory,
        "audio": info.audio.factory,
        "recall_at_10": info.captions.recall_at_10,
    }
