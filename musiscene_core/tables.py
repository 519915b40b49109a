"""The output tables of a tagging run: one versioned schema shared by writers and readers.

An output folder (local path or s3:// prefix) holds:

    tracks/*.parquet     one row per catalog file (ok or error)
    captions/*.parquet   one row per ok track
    features/*.parquet   one row per ok track (MERT layer means + audio embedding + window policy)
    index/               captions.faiss, audio.faiss, ids.parquet, index.json
    runs/*.json          one record per run (config, models, counts, durations)

Shards are append-only history; which rows are current is decided by one rule, in
`musiscene_core.tagging.current`.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "2"  # 2: features record the window policy that made them

TRACKS = "tracks"
CAPTIONS = "captions"
FEATURES = "features"
INDEX_DIR = "index"
RUNS_DIR = "runs"

_META = {b"musiscene.schema_version": SCHEMA_VERSION.encode()}


def tracks_schema() -> pa.Schema:
    return pa.schema(
        [
            ("track_id", pa.string()),  # sha256 hex of the file's bytes; null when unreadable
            ("uri", pa.string()),
            ("bytes", pa.int64()),
            ("fingerprint", pa.string()),  # cheap change detector: size+mtime or the S3 ETag
            ("format", pa.string()),
            ("duration_s", pa.float64()),
            ("sample_rate", pa.int32()),
            ("channels", pa.int32()),
            ("status", pa.string()),  # "ok" | "error"
            ("error_kind", pa.string()),
            ("error", pa.string()),
            ("model_version", pa.string()),
            ("tagged_at", pa.timestamp("us", tz="UTC")),
        ],
        metadata=_META,
    )


def captions_schema(embedding_dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("track_id", pa.string()),
            ("question", pa.string()),
            ("caption", pa.string()),
            ("caption_embedding", pa.list_(pa.float32(), embedding_dim)),
            ("embed_model", pa.string()),
            ("model_version", pa.string()),
        ],
        metadata=_META,
    )


def policy_columns(record: dict, rows: int) -> list[pa.Array]:
    """The window-policy columns of `rows` features rows made under `record` (see `window_policy_record`)."""
    return [pa.array([record["window_policy"]] * rows, pa.string()), pa.array([record["window_s"]] * rows, pa.float64()),
            pa.array([record["hop_s"]] * rows, pa.float64())]


def features_schema(num_layers: int, hidden: int, audio_dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("track_id", pa.string()),
            # MERT per-layer time-means, row-major [num_layers, hidden], float16 to halve storage.
            ("mert_layer_means", pa.list_(pa.float16(), num_layers * hidden)),
            ("mert_layers", pa.int32()),
            ("mert_hidden", pa.int32()),
            ("audio_embedding", pa.list_(pa.float32(), audio_dim)),
            ("model_version", pa.string()),
            # The window policy that made the layer means: "whole" (window_s/hop_s) or "mu-llama" (first 60 s).
            ("window_policy", pa.string()),
            ("window_s", pa.float64()),
            ("hop_s", pa.float64()),
        ],
        metadata=_META,
    )
