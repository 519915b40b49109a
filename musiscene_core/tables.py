"""The output tables of a tagging run: one versioned schema shared by writers and readers, one builder per table.

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

import datetime as dt
from collections.abc import Sequence

import numpy as np
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
    return [
        pa.array([record["window_policy"]] * rows, pa.string()),
        pa.array([record["window_s"]] * rows, pa.float64()),
        pa.array([record["hop_s"]] * rows, pa.float64()),
    ]


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


def _nullable(values) -> list:
    return [str(v) if v else None for v in values]


def tracks_table(batch: dict, model_version: str, tagged_at: dt.datetime) -> pa.Table:
    """One row per track of a stage batch, ok or error; missing values ("" , 0, NaN in the batch) become nulls."""
    n = len(batch["uri"])
    return pa.Table.from_pydict(
        {
            "track_id": _nullable(batch["track_id"]),
            "uri": list(batch["uri"]),
            "bytes": [int(b) for b in batch["bytes"]],
            "fingerprint": list(batch["fingerprint"]),
            "format": _nullable(batch["format"]),
            "duration_s": [None if np.isnan(d) else float(d) for d in batch["duration_s"]],
            "sample_rate": [int(s) or None for s in batch["sample_rate"]],
            "channels": [int(c) or None for c in batch["channels"]],
            "status": list(batch["status"]),
            "error_kind": _nullable(batch["error_kind"]),
            "error": _nullable(batch["error"]),
            "model_version": [model_version] * n,
            "tagged_at": [tagged_at] * n,
        },
        schema=tracks_schema(),
    )


def captions_table(
    track_ids: Sequence[str],
    questions: Sequence[str],
    captions: Sequence[str],
    caption_embedding: np.ndarray,
    embed_models: Sequence[str],
    model_version: str,
) -> pa.Table:
    """One row per captioned track; `caption_embedding` is [n, dim] float32."""
    return pa.Table.from_arrays(
        [
            pa.array(list(track_ids), pa.string()),
            pa.array(list(questions), pa.string()),
            pa.array(list(captions), pa.string()),
            pa.FixedSizeListArray.from_arrays(pa.array(caption_embedding.reshape(-1)), caption_embedding.shape[1]),
            pa.array(list(embed_models), pa.string()),
            pa.array([model_version] * len(track_ids), pa.string()),
        ],
        schema=captions_schema(caption_embedding.shape[1]),
    )


def features_table(
    track_ids: Sequence[str], layer_means: np.ndarray, audio_embedding: np.ndarray, model_version: str, window_policy: dict
) -> pa.Table:
    """One row per track: MERT layer means [n, layers, hidden] (stored float16), the audio embedding [n, dim] and
    the window policy (`policy_record`) that made them."""
    n, layers, hidden = layer_means.shape
    return pa.Table.from_arrays(
        [
            pa.array(list(track_ids), pa.string()),
            pa.FixedSizeListArray.from_arrays(pa.array(layer_means.astype(np.float16).reshape(-1)), layers * hidden),
            pa.array([layers] * n, pa.int32()),
            pa.array([hidden] * n, pa.int32()),
            pa.FixedSizeListArray.from_arrays(pa.array(audio_embedding.reshape(-1)), audio_embedding.shape[1]),
            pa.array([model_version] * n, pa.string()),
            *policy_columns(window_policy, n),
        ],
        schema=features_schema(layers, hidden, audio_embedding.shape[1]),
    )
