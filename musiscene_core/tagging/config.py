"""The typed configuration of a tagging run: defaults run on one machine; YAML and CLI override them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path


from musiscene_core.config_files import read_yaml_mapping
from musiscene_core.errors import UserError


@dataclass
class TagConfig:
    src: str
    dst: str
    model: str = "tiny"  # preset name or model directory
    endpoint_url: str | None = None  # S3-compatible endpoint for SRC and DST
    ray_address: str | None = None  # None: start Ray on this machine
    policy: str = "whole"  # "whole" (windows over the whole track) or "mu-llama" (first 60 s, as the reference)
    window_s: float = 30.0
    hop_s: float = 30.0
    min_seconds: float = 1.0
    question: str | None = None  # None: the model preset's question
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 0.75
    seed: int = 0
    embedder: str | None = None  # None: all-MiniLM-L6-v2
    decode_batch_size: int = 4
    model_batch_size: int = 8
    mert_actors: int = 1
    caption_actors: int = 1
    embed_actors: int = 1
    gpus_per_actor: float | None = None  # None: 1 GPU per model actor when the cluster has GPUs, else CPU
    cpus_per_actor: float = 0.5
    # Run MERT, captioning and embedding in one actor pool (sized by mert_actors). Always on without GPUs,
    # where the stages share the same cores; with GPUs each stage gets its own pool unless this is set.
    fuse_models: bool = False
    shard_rows: int = 64  # rows per committed Parquet shard: the most work a crash can lose
    # Placement, scaling and failure policy on a cluster (musiscene_core.pipelines.placement explains each).
    max_actors: int | None = None  # None: fixed pools; N: each model pool autoscales from its size up to N
    decode_cpus: float | None = None  # CPUs per decode task; None: cpus_per_actor
    decode_tasks: int | None = None  # decode tasks at once (bounds decoded audio in flight); None: 2 per model actor
    object_store_limit: str | None = None  # e.g. "8GB": the object store the whole job may use; None: Ray's default
    task_retries: int = 3  # retries of a decode/write task whose worker or node died
    actor_restarts: int = -1  # restarts of a model actor whose node died (-1: unlimited)
    force: bool = False
    build_index: bool = True
    memory_budget: str = "4GB"

    def validate(self) -> "TagConfig":
        if self.policy not in ("whole", "mu-llama"):
            raise UserError(f"unknown window policy {self.policy!r}; use 'whole' or 'mu-llama'")
        for name in ("decode_batch_size", "model_batch_size", "mert_actors", "caption_actors", "embed_actors", "max_new_tokens", "shard_rows"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1")
        if self.window_s <= 0 or self.hop_s <= 0:
            raise UserError("window and hop lengths must be positive")
        if self.gpus_per_actor is not None and self.gpus_per_actor < 0:
            raise UserError("gpus-per-actor cannot be negative")
        if self.max_actors is not None and self.max_actors < self.mert_actors:
            raise UserError("max-actors must be at least the pool size (mert-actors)")
        if self.decode_tasks is not None and self.decode_tasks < 1:
            raise UserError("decode-tasks must be at least 1")
        if self.decode_cpus is not None and self.decode_cpus <= 0:
            raise UserError("decode-cpus must be positive")
        if self.task_retries < 0 or self.actor_restarts < -1:
            raise UserError("task-retries must be at least 0 and actor-restarts at least -1 (unlimited)")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "TagConfig":
        data = read_yaml_mapping(path)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"config file {str(path)!r} has unknown options: {', '.join(unknown)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data).validate()

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
