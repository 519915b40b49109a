"""The typed configuration of a `build-dataset` run: defaults follow the paper's recipe on one machine."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from musiscene_core.config_files import read_yaml_mapping
from musiscene_core.data.fusion import (
    DEFAULT_API_KEY_ENV,
    EndpointSettings,
    FusionSettings,
)
from musiscene_core.data.splits import DEFAULT_FRACTIONS, parse_fractions
from musiscene_core.errors import UserError
from musiscene_core.models.presets import MU_LLAMA_QUESTION, MUSISCENE_QUESTION
from musiscene_core.models.video_captioner import DEFAULT_VIDEO_CAPTIONER


@dataclass
class BuildDatasetConfig:
    src: str  # folder, s3:// prefix, or CSV/Parquet manifest (uri, optional start/end seconds)
    dst: str  # output folder (local or s3://)
    model: str = "mu-llama"  # the music captioner: preset name or model directory
    music_question: str = MU_LLAMA_QUESTION
    question: str = MUSISCENE_QUESTION  # the question the scene captions answer (what training asks)
    video_captioner: str = DEFAULT_VIDEO_CAPTIONER  # "tiny", a model directory or a hub id
    frames: int = 6  # frames sampled per clip (GIT-VATEX was trained on 6)
    llm_endpoint: str | None = None  # OpenAI-compatible base URL, e.g. http://vllm:8000/v1
    llm_model: str | None = None  # model name served by the endpoint, or a local model dir / hub id without an endpoint
    llm_api_key_env: str = DEFAULT_API_KEY_ENV
    llm_timeout_s: float = 60.0
    llm_retries: int = 3
    llm_backoff_s: float = 1.0
    llm_concurrency: int = 8  # requests in flight per fusion actor
    llm_max_tokens: int = 96
    llm_temperature: float = 0.0
    prompt: str | None = None  # a template file; None: the built-in scene_fusion_v1
    splits: tuple[float, float, float] = DEFAULT_FRACTIONS
    split_seed: int = 0
    min_seconds: float = 1.0  # shortest usable soundtrack per clip
    max_clip_seconds: float = 600.0  # longer clips (e.g. whole films listed without segments) become too_long errors
    max_new_tokens: int = 64  # music caption length limit
    endpoint_url: str | None = None  # S3-compatible endpoint for s3:// paths
    ray_address: str | None = None
    decode_batch_size: int = 4
    model_batch_size: int = 8
    caption_actors: int = 1
    fusion_actors: int = 1
    gpus_per_actor: float | None = None  # None: 1 per caption actor when the cluster has GPUs
    cpus_per_actor: float = 0.5
    shard_rows: int = 64
    retry_errors: bool = False  # attempt clips whose fusion failed (llm_* errors) again
    force: bool = False

    def validate(self) -> BuildDatasetConfig:
        self.splits = parse_fractions(self.splits)
        for name in (
            "frames",
            "decode_batch_size",
            "model_batch_size",
            "caption_actors",
            "fusion_actors",
            "shard_rows",
            "llm_concurrency",
            "max_new_tokens",
        ):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1")
        if self.min_seconds <= 0 or self.max_clip_seconds <= self.min_seconds:
            raise UserError("min-seconds must be positive and below max-clip-seconds")
        if self.gpus_per_actor is not None and self.gpus_per_actor < 0:
            raise UserError("gpus-per-actor cannot be negative")
        if not self.question.strip() or not self.music_question.strip():
            raise UserError("questions cannot be empty")
        self.fusion().validate()
        return self

    def fusion(self) -> FusionSettings:
        if self.llm_endpoint:
            endpoint = EndpointSettings(
                url=self.llm_endpoint,
                model=self.llm_model or "",
                api_key_env=self.llm_api_key_env,
                timeout_s=self.llm_timeout_s,
                retries=self.llm_retries,
                backoff_s=self.llm_backoff_s,
                max_tokens=self.llm_max_tokens,
                temperature=self.llm_temperature,
            )
            return FusionSettings(endpoint=endpoint, concurrency=self.llm_concurrency)
        return FusionSettings(local_model=self.llm_model, concurrency=self.llm_concurrency)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> BuildDatasetConfig:
        data = read_yaml_mapping(path)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"config file {str(path)!r} has unknown options: {', '.join(unknown)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data).validate()

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
