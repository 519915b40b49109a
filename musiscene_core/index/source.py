"""The rows an index is built from: current ok tracks that have both a caption and features.

Follows the output tables' reading rule (`musiscene_core.tagging.current`): a URI's newest tracks
row, and the captions and features of that row's track id and model version. Reads only the
columns the index needs (never the MERT layer means), keeps one row per track_id (byte-identical
files under several URIs are one track), and orders rows by track_id so a build is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from musiscene_core import tables
from musiscene_core.errors import UserError
from musiscene_core.output_location import OutputLocation, damaged_shard_error
from musiscene_core.tagging.current import current_ok_tracks, current_rows


@dataclass
class IndexRows:
    """Aligned arrays, one entry per indexable track."""

    track_ids: np.ndarray  # object array of str
    uris: np.ndarray  # object array of str
    durations: np.ndarray  # float64, NaN where unknown
    captions: np.ndarray  # object array of str
    row_versions: np.ndarray  # object array of str: the model version of each row
    caption_vectors: np.ndarray  # float32 [n, caption_dim], unit rows
    audio_vectors: np.ndarray  # float32 [n, audio_dim], unit rows
    caption_model: str
    audio_models: list[str]
    model_versions: list[str]
    # Why tracks that look tagged were left out: reason -> count.
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.track_ids)

    def take(self, positions: np.ndarray) -> IndexRows:
        return IndexRows(
            track_ids=self.track_ids[positions],
            uris=self.uris[positions],
            durations=self.durations[positions],
            captions=self.captions[positions],
            row_versions=self.row_versions[positions],
            caption_vectors=self.caption_vectors[positions],
            audio_vectors=self.audio_vectors[positions],
            caption_model=self.caption_model,
            audio_models=self.audio_models,
            model_versions=self.model_versions,
            skipped=self.skipped,
        )


def read_index_rows(location: OutputLocation) -> IndexRows:
    """Join current ok tracks, their captions and features; raise UserError when nothing is indexable."""
    tracks = _read_table(location, tables.TRACKS, ["track_id", "uri", "duration_s", "status", "model_version", "tagged_at"])
    ok = current_ok_tracks(tracks)
    captions = current_rows(
        _read_table(location, tables.CAPTIONS, ["track_id", "caption", "caption_embedding", "embed_model", "model_version"]), ok
    )
    features = current_rows(_read_table(location, tables.FEATURES, ["track_id", "audio_embedding", "model_version"]), ok)

    ok_tracks = _one_row_per_track(ok)
    skipped: dict[str, int] = {}

    caption_vectors, caption_valid = _unit_vectors(captions.column("caption_embedding"))
    audio_vectors, audio_valid = _unit_vectors(features.column("audio_embedding"))

    track_ids = np.array(ok_tracks["track_id"].to_numpy(), dtype=object)
    versions = np.array(ok_tracks["model_version"].to_numpy(), dtype=object)
    wanted = pd.MultiIndex.from_arrays([track_ids, versions])
    caption_pos = _pairs(captions).get_indexer(wanted)
    feature_pos = _pairs(features).get_indexer(wanted)
    has_caption = caption_pos >= 0
    has_features = feature_pos >= 0
    _count(skipped, "no caption", ~has_caption)
    _count(skipped, "no features", has_caption & ~has_features)
    both = has_caption & has_features
    valid = both.copy()
    valid[both] = caption_valid[caption_pos[both]] & audio_valid[feature_pos[both]]
    _count(skipped, "invalid embedding", both & ~valid)

    keep = np.flatnonzero(valid)
    order = keep[np.argsort(track_ids[keep], kind="stable")]
    if len(order) == 0:
        raise UserError(
            f"nothing to index under {location.url}: no ok track has both a caption and features"
            + (f" ({_describe(skipped)})" if skipped else "")
        )
    caption_rows = caption_pos[order]
    feature_rows = feature_pos[order]

    caption_models = _distinct(captions.column("embed_model").take(pa.array(caption_rows)))
    if len(caption_models) != 1:
        raise UserError(
            f"captions under {location.url} were embedded with {len(caption_models)} different models "
            f"({', '.join(caption_models) or 'none recorded'}); re-embed them with one model before indexing"
        )
    durations = ok_tracks["duration_s"].to_numpy(dtype=np.float64, na_value=np.nan)
    return IndexRows(
        track_ids=track_ids[order],
        uris=np.array(ok_tracks["uri"].to_numpy(), dtype=object)[order],
        durations=durations[order],
        captions=_strings(captions, "caption")[caption_rows],
        row_versions=versions[order],
        caption_vectors=caption_vectors[caption_rows],
        audio_vectors=audio_vectors[feature_rows],
        caption_model=caption_models[0],
        audio_models=_distinct(features.column("model_version").take(pa.array(feature_rows))),
        model_versions=sorted(set(versions[order])),
        skipped=skipped,
    )


def _read_table(location: OutputLocation, name: str, columns: list[str]) -> pa.Table:
    dataset = location.parquet_dataset(name)
    if dataset is None:
        raise UserError(f"no {name}/ table under {location.url}; tag a catalog into it first")
    missing = [column for column in columns if column not in dataset.schema.names]
    if missing:
        raise UserError(f"the {name}/ table under {location.url} lacks column(s) {', '.join(missing)}")
    try:
        return dataset.to_table(columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise damaged_shard_error(location, name, exc) from exc


def _one_row_per_track(ok: pa.Table) -> pd.DataFrame:
    """Current ok rows, one per track_id: byte-identical files under several URIs keep the newest row."""
    frame = ok.to_pandas()
    frame = frame.sort_values("tagged_at", ascending=False, kind="stable", na_position="last")
    return frame.drop_duplicates("track_id", keep="first").reset_index(drop=True)


def _pairs(table: pa.Table) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([_strings(table, "track_id"), _strings(table, "model_version")])


def _unit_vectors(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-size-list column -> (float32 [n, dim] of unit rows, validity mask).

    Null, non-finite or zero vectors are invalid: they cannot be normalised and would poison
    inner-product search.
    """
    dim = column.type.list_size
    parts = [chunk.flatten().to_numpy(zero_copy_only=False) for chunk in column.chunks]
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    present = pc.is_valid(column).to_numpy(zero_copy_only=False)
    # flatten() drops null entries: scatter the present rows back to their positions (a writable copy).
    vectors = np.zeros((len(column), dim), dtype=np.float32)
    vectors[present] = flat.reshape(-1, dim)
    norms = np.linalg.norm(vectors, axis=1)
    valid = present & np.isfinite(norms) & (norms > 0)
    vectors[~valid] = 0.0
    norms[~valid] = 1.0
    vectors /= norms[:, None]
    return vectors, valid


def _strings(table: pa.Table, column: str) -> np.ndarray:
    return np.array(table.column(column).to_pylist(), dtype=object)


def _distinct(values: pa.Array | pa.ChunkedArray) -> list[str]:
    return sorted(str(value) for value in pc.unique(values).to_pylist() if value is not None)


def _count(skipped: dict[str, int], reason: str, mask: np.ndarray) -> None:
    if mask.any():
        skipped[reason] = int(mask.sum())


def _describe(skipped: dict[str, int]) -> str:
    return ", ".join(f"{count} {reason}" for reason, count in skipped.items())
