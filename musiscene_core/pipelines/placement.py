"""Where the tagging job's stages run on a Ray cluster, how their pools scale, and how the job rides out failures.

The stage graph (`tagging.graph.build_stages`) says which stages run, in which order, as tasks or actor
pools, with what CPUs and GPUs; this module adds what only Ray Data knows about, read from `TagConfig`:
pool scaling, task concurrency, retries and restarts, and the job-wide Data settings.

Placement
- Decode runs as plain CPU tasks, sized apart from the model actors: `decode_cpus` per task and at
  most `decode_tasks` at once (default: two per model actor, enough to keep every actor fed).
- Each model stage is an actor pool: fixed (`mert_actors` …) or autoscaling between that size and
  `max_actors`, Ray Data adding actors while work queues up and removing idle ones.
- GPUs per model actor may be fractional: 0.5 places a MERT actor and a caption actor on one GPU.

Backpressure (the bound on decoded audio)
- At most `decode_tasks` decode tasks run, each holding `decode_batch_size` tracks, and each model
  actor has at most `MAX_BATCHES_IN_FLIGHT` batches queued. So decoded audio waiting in the object
  store is bounded by (decode_tasks + actors x MAX_BATCHES_IN_FLIGHT) x batch size x the longest
  track's samples (a 10-minute track is 57.6 MB as 24 kHz float32). On top, `object_store_limit`
  caps what the whole job may hold in the object store; Ray Data stops scheduling upstream tasks
  when it is reached, and anything beyond the node's object store spills to disk.

Fault tolerance (chosen, not defaulted)
- Tasks (decode, write) are retried `task_retries` times when their worker or node dies; they are
  idempotent: decoding is pure, and a shard's name is derived from the run and the tracks it holds,
  so a retried write replaces its own shard instead of adding a second one.
- Model actors are restarted without limit (`actor_restarts`, -1) and their in-flight batches
  retried, so a lost node (spot preemption) costs the batches it held, not the job.
- `max_errored_blocks` stays 0: a bad track is already an error row, so a failing block means the
  infrastructure failed; dropping it would lose tracks silently. The job fails instead, and the
  rerun of the same command resumes where the committed shards end.
"""

from __future__ import annotations

from musiscene_core.tagging.config import TagConfig
from musiscene_core.tagging.graph import DECODE, Stage

# Batches queued per model actor: enough to overlap transfer with compute, small enough to bound memory.
MAX_BATCHES_IN_FLIGHT = 2


def actor_pool(size: int, config: TagConfig):
    """A fixed pool of `size` actors, or an autoscaling one from `size` to `max_actors`."""
    from ray.data import ActorPoolStrategy

    if config.max_actors and config.max_actors > size:
        return ActorPoolStrategy(min_size=size, max_size=config.max_actors, max_tasks_in_flight_per_actor=MAX_BATCHES_IN_FLIGHT)
    return ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=MAX_BATCHES_IN_FLIGHT)


def decode_tasks(config: TagConfig) -> int:
    if config.decode_tasks:
        return config.decode_tasks
    actors = config.max_actors or config.mert_actors
    return max(2, 2 * actors)


def stage_args(stage: Stage, config: TagConfig) -> dict:
    """map_batches arguments of a stage of the graph: its concurrency, resources and failure policy.

    Task stages (decode, write) are retried when their worker dies; decode runs at most `decode_tasks`
    at once (the backpressure bound above). Actor stages are pools restarted after a lost node, their
    in-flight batches retried."""
    if stage.actors is None:
        args = dict(batch_size=stage.batch_size, num_cpus=stage.num_cpus, max_retries=config.task_retries)
        if stage.name == DECODE:
            from ray.data import TaskPoolStrategy

            args["compute"] = TaskPoolStrategy(size=decode_tasks(config))
        return args
    return dict(
        compute=actor_pool(stage.actors, config),
        batch_size=stage.batch_size,
        num_cpus=stage.num_cpus,
        num_gpus=stage.num_gpus or None,
        max_restarts=config.actor_restarts,
        max_task_retries=-1 if config.actor_restarts != 0 else 0,
    )


def configure_data_context(config: TagConfig) -> None:
    """The job-wide Ray Data settings: failure policy and the object-store budget."""
    import ray.data
    from ray.data import ExecutionResources

    from musiscene_core.index.selection import parse_memory_size

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.max_errored_blocks = 0
    if config.object_store_limit:
        context.execution_options.resource_limits = ExecutionResources.for_limits(
            object_store_memory=parse_memory_size(config.object_store_limit)
        )
