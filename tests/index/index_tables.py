"""Synthetic tagging-run tables in the schema of musiscene_core.tables, for index tests."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from musiscene_core import tables

CAPTION_DIM = 384
AUDIO_DIM = 32
MERT_LAYERS, MERT_HIDDEN = 2, 4
EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_VERSION = "musiscene-test/1"


def track_id_of(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def clustered_vectors(rng: np.random.Generator, n: int, dim: int, clusters: int = 20, spread: float = 0.6) -> np.ndarray:
    """Unit vectors drawn around `clusters` random centres: a Gaussian mixture on the sphere."""
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, dim)).astype(np.float32) * (spread / np.sqrt(dim))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@dataclass
class Shard:
    """One shard's rows: parallel lists, written as tracks/, captions/ and features/ files."""

    track_ids: list[str]
    uris: list[str]
    durations: list[float | None]
    captions: list[str]
    caption_vectors: np.ndarray
    audio_vectors: np.ndarray
    embed_model: str = EMBED_MODEL

    def subset(self, rows: slice) -> Shard:
        return Shard(
            self.track_ids[rows],
            self.uris[rows],
            self.durations[rows],
            self.captions[rows],
            self.caption_vectors[rows].copy(),
            self.audio_vectors[rows].copy(),
            self.embed_model,
        )


def random_shard(rng: np.random.Generator, names: list[str], caption_dim: int = CAPTION_DIM) -> Shard:
    n = len(names)
    return Shard(
        track_ids=[track_id_of(name) for name in names],
        uris=[f"file:///catalog/{name}.mp3" for name in names],
        durations=[float(value) for value in rng.uniform(20, 400, n).round(1)],
        captions=[f"scene number {name}" for name in names],
        caption_vectors=clustered_vectors(rng, n, caption_dim),
        audio_vectors=clustered_vectors(rng, n, AUDIO_DIM),
    )


def write_shard(
    dst: str | os.PathLike,
    shard: Shard,
    name: str,
    error_names: tuple[str, ...] = (),
    only: tuple[str, ...] = (tables.TRACKS, tables.CAPTIONS, tables.FEATURES),
) -> None:
    """Write tracks/<name>.parquet (plus one error row per `error_names`), captions/ and features/ (or `only` some)."""
    n = len(shard.track_ids)
    for folder in (tables.TRACKS, tables.CAPTIONS, tables.FEATURES):
        os.makedirs(os.path.join(dst, folder), exist_ok=True)
    now = datetime.now(timezone.utc)
    errors = len(error_names)
    tracks = pa.table(
        {
            "track_id": shard.track_ids + [track_id_of(e) for e in error_names],
            "uri": shard.uris + [f"file:///catalog/{e}.mp3" for e in error_names],
            "bytes": [1000] * (n + errors),
            "fingerprint": ["f"] * (n + errors),
            "format": ["mp3"] * (n + errors),
            "duration_s": shard.durations + [None] * errors,
            "sample_rate": [44100] * n + [None] * errors,
            "channels": [2] * n + [None] * errors,
            "status": ["ok"] * n + ["error"] * errors,
            "error_kind": [None] * n + ["decode"] * errors,
            "error": [None] * n + ["decode: broken"] * errors,
            "model_version": [MODEL_VERSION] * (n + errors),
            "tagged_at": [now] * (n + errors),
        },
        schema=tables.tracks_schema(),
    )
    captions = pa.table(
        {
            "track_id": shard.track_ids,
            "question": ["Imagine the scene"] * n,
            "caption": shard.captions,
            "caption_embedding": list(shard.caption_vectors),
            "embed_model": [shard.embed_model] * n,
            "model_version": [MODEL_VERSION] * n,
        },
        schema=tables.captions_schema(shard.caption_vectors.shape[1]),
    )
    features = pa.table(
        {
            "track_id": shard.track_ids,
            "mert_layer_means": [np.zeros(MERT_LAYERS * MERT_HIDDEN, dtype=np.float16)] * n,
            "mert_layers": [MERT_LAYERS] * n,
            "mert_hidden": [MERT_HIDDEN] * n,
            "audio_embedding": list(shard.audio_vectors),
            "model_version": [MODEL_VERSION] * n,
            "window_policy": ["whole"] * n,
            "window_s": [30.0] * n,
            "hop_s": [30.0] * n,
        },
        schema=tables.features_schema(MERT_LAYERS, MERT_HIDDEN, AUDIO_DIM),
    )
    for folder, table in ((tables.TRACKS, tracks), (tables.CAPTIONS, captions), (tables.FEATURES, features)):
        if folder in only:
            pq.write_table(table, os.path.join(dst, folder, f"{name}.parquet"))
