"""The typed configuration of a tagging run: defaults run on one machine; YAML and CLI override them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from musiscene_core.config_files import read_config_file
from musiscene_core.errors import UserError
from musiscene_core.tagging.stages import MAX_INLINE_SECONDS

# Upper bounds far above any useful value: a typo (an extra zero or five) is refused instead of
# allocating until the machine runs out of memory.
_LIMITS = {
    "decode_batch_size": 4096,
    "model_batch_size": 4096,
    "mert_actors": 10_000,
    "caption_actors": 10_000,
    "embed_actors": 10_000,
    "max_new_tokens": 4096,
    "shard_rows": 1_000_000,
}


@dataclass
class TagConfig:
    src: str
    dst: str
    model: str = "musiscene"  # preset name or model directory
    endpoint_url: str | None = None  # S3-compatible endpoint for SRC and DST
    ray_address: str | None = None  # None: start Ray on this machine
    policy: str = "whole"  # "whole" (windows over the whole track) or "mu-llama" (first 60 s, as the reference)
    window_s: float = 30.0
    hop_s: float = 30.0
    min_seconds: float = 1.0
    # Tracks with more audio than this (sum of window lengths) travel to MERT as a stream of window
    # groups instead of one array: the memory bound per track in flight.
    max_inline_s: float = MAX_INLINE_SECONDS
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
    retry_errors: bool = False  # also retry permanent errors (not usable audio) of unchanged files
    build_index: bool = True
    memory_budget: str = "4GB"

    def validate(self) -> TagConfig:
        if self.policy not in ("whole", "mu-llama"):
            raise UserError(f"unknown window policy {self.policy!r}; use 'whole' or 'mu-llama'")
        for name, most in _LIMITS.items():
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1")
            if getattr(self, name) > most:
                raise UserError(f"{name.replace('_', '-')} must be at most {most:,}, not {getattr(self, name):,}")
        if self.window_s > 3600 or self.hop_s > 3600:
            raise UserError("window and hop lengths must be at most 3600 s")
        if self.window_s <= 0 or self.hop_s <= 0:
            raise UserError("window and hop lengths must be positive")
        if self.max_inline_s < self.window_s:
            raise UserError("max-inline-s must be at least one window (window_s)")
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
    def from_yaml(cls, path: str | Path, **overrides) -> TagConfig:
        data = read_config_file(path, cls)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data).validate()

    def decode_settings(self) -> dict:
        """How tracks become windows: the decode stage's options, shared with MERT's streamed reads."""
        return dict(
            policy=self.policy,
            window_s=self.window_s,
            hop_s=self.hop_s,
            min_seconds=self.min_seconds,
            endpoint_url=self.endpoint_url,
            max_inline_s=self.max_inline_s,
        )

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
