"""Build or update the index folder of a tagging run: captions.faiss, audio.faiss, ids.parquet, index.json.

A second build on the same folder adds only the tracks the index lacks, unless the planned
index type changed (the row count crossed a size threshold) or an indexed row is no longer
current (the file was deleted or changed, or tagged again by another model version): then it
rebuilds from the tables, which are the source of truth.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import faiss
import numpy as np
import pandas as pd

from musiscene_core.errors import UserError
from musiscene_core.index import persistence, recall, vector_index
from musiscene_core.index.manifest import (
    AUDIO_PART,
    CAPTIONS_PART,
    IDS_FILE,
    METRIC,
    IndexInfo,
    PartInfo,
    read_manifest,
    write_manifest,
)
from musiscene_core.index.selection import (
    DEFAULT_FLAT_THRESHOLD,
    DEFAULT_MEMORY_BUDGET,
    IndexPlan,
    parse_memory_size,
    plan_index,
)
from musiscene_core.index.source import IndexRows, read_index_rows
from musiscene_core.output_location import OutputLocation

log = logging.getLogger(__name__)


@dataclass
class _Part:
    """One FAISS index being built: its name, plan, index and the vectors of all its rows, in row order."""

    name: str
    plan: IndexPlan
    index: faiss.Index
    vectors: np.ndarray
    embedding_model: str


def build_index(
    dst: str | os.PathLike,
    memory_budget: str | int = DEFAULT_MEMORY_BUDGET,
    *,
    flat_threshold: int = DEFAULT_FLAT_THRESHOLD,
    recall_target: float = recall.DEFAULT_RECALL_TARGET,
    recall_queries: int = recall.DEFAULT_RECALL_QUERIES,
    rebuild: bool = False,
    storage_options: dict[str, Any] | None = None,
    endpoint_url: str | None = None,
    seed: int = 0,
) -> IndexInfo:
    """Index the ok tracks of the output folder `dst` (local path or fsspec URL) into `dst/index/`.

    `memory_budget` bounds the memory both FAISS indexes take together when loaded for search
    ("4GB", "512MiB" or bytes); it is shared between them in proportion to their dimensions.
    Tracks already indexed are not added again; `rebuild=True` starts from scratch.
    """
    started = time.perf_counter()
    location = OutputLocation(dst, storage_options, endpoint_url)
    budget = parse_memory_size(memory_budget)
    rows = read_index_rows(location)
    existing = None if rebuild else read_manifest(location)

    if existing is not None:
        update = _incremental_update(location, existing, rows, budget, flat_threshold, seed)
        if update is None:
            log.info("index under %s is up to date (%d rows)", location.url, existing.rows)
            return dataclasses.replace(existing, added_rows=0, rebuilt=False, skipped=rows.skipped)
        parts, indexed, added, rebuilt = update
    else:
        parts, indexed = _fresh_parts(rows, budget, flat_threshold, seed), rows
        added, rebuilt = len(rows), True

    tunings = {}
    for part in parts:
        log.info("measuring recall@%d of %s (%s)", recall.RECALL_K, part.name, part.plan.factory)
        tunings[part.name] = recall.tune(part.index, part.vectors, recall_target, recall_queries, seed)

    return _commit(
        location,
        parts,
        tunings,
        indexed,
        rows,
        budget=budget,
        flat_threshold=flat_threshold,
        recall_target=recall_target,
        started=started,
        added=added,
        rebuilt=rebuilt,
    )


def _plans(rows: int, caption_dim: int, audio_dim: int, budget: int, flat_threshold: int) -> tuple[IndexPlan, IndexPlan]:
    caption_share = budget * caption_dim // (caption_dim + audio_dim)
    return (
        plan_index(rows, caption_dim, caption_share, flat_threshold),
        plan_index(rows, audio_dim, budget - caption_share, flat_threshold),
    )


def _fresh_parts(rows: IndexRows, budget: int, flat_threshold: int, seed: int) -> list[_Part]:
    caption_plan, audio_plan = _plans(
        len(rows), rows.caption_vectors.shape[1], rows.audio_vectors.shape[1], budget, flat_threshold
    )
    parts = []
    for name, plan, vectors, model in (
        (CAPTIONS_PART, caption_plan, rows.caption_vectors, rows.caption_model),
        (AUDIO_PART, audio_plan, rows.audio_vectors, ", ".join(rows.audio_models)),
    ):
        log.info("building %s index %s over %d rows", name, plan.factory, len(rows))
        index = vector_index.create_index(plan, vectors.shape[1])
        vector_index.train_and_add(index, vectors, seed)
        parts.append(_Part(name, plan, index, vectors, model))
    return parts


def _incremental_update(
    location: OutputLocation, existing: IndexInfo, rows: IndexRows, budget: int, flat_threshold: int, seed: int
) -> tuple[list[_Part], IndexRows, int, bool] | None:
    """(parts, indexed rows, rows added, rebuilt or not); None when the index already matches the tables."""
    if existing.captions.embedding_model != rows.caption_model:
        raise UserError(
            f"the index under {location.url} holds captions embedded with {existing.captions.embedding_model}, "
            f"but the captions table now uses {rows.caption_model}; rebuild it with `musiscene index build --rebuild`"
        )
    indexed = persistence.read_ids(location, existing)
    indexed_ids = indexed.column("track_id").to_numpy(zero_copy_only=False)
    # A row is still served only with the same model version: an upgraded, re-captioned or deleted
    # track counts as gone (indexes built before versions were recorded per row count as all gone).
    indexed_versions = (
        indexed.column("model_version").to_numpy(zero_copy_only=False)
        if "model_version" in indexed.column_names
        else np.full(len(indexed_ids), None, dtype=object)
    )
    positions = pd.MultiIndex.from_arrays([rows.track_ids, rows.row_versions]).get_indexer(
        pd.MultiIndex.from_arrays([indexed_ids, indexed_versions])
    )
    fresh = np.ones(len(rows), dtype=bool)
    fresh[positions[positions >= 0]] = False
    gone = bool((positions < 0).any())
    dims = (rows.caption_vectors.shape[1], rows.audio_vectors.shape[1])
    caption_plan, audio_plan = _plans(len(indexed_ids) + int(fresh.sum()), *dims, budget, flat_threshold)
    same_shape = (caption_plan.factory, audio_plan.factory) == (existing.captions.factory, existing.audio.factory) and dims == (
        existing.captions.dim,
        existing.audio.dim,
    )
    if same_shape and not gone and not fresh.any():
        return None
    if not same_shape or gone:
        # A new index type (more rows, another budget or threshold), or indexed rows no longer
        # current (deleted, changed, tagged by another model version): start again from the tables.
        log.info("rebuilding the index under %s from its tables", location.url)
        return _fresh_parts(rows, budget, flat_threshold, seed), rows, len(rows), True

    order = np.concatenate([positions, np.flatnonzero(fresh)])
    indexed = rows.take(order)
    new_rows = rows.take(np.flatnonzero(fresh))
    parts = []
    for name, plan, vectors, new_vectors, model in (
        (CAPTIONS_PART, caption_plan, indexed.caption_vectors, new_rows.caption_vectors, rows.caption_model),
        (AUDIO_PART, audio_plan, indexed.audio_vectors, new_rows.audio_vectors, ", ".join(rows.audio_models)),
    ):
        info = existing.part(name)
        index = persistence.read_faiss(location, info.file, info.digest())
        log.info("adding %d rows to the %s index", len(new_vectors), name)
        vector_index.add_vectors(index, new_vectors)
        parts.append(_Part(name, plan, index, vectors, model))
    return parts, indexed, len(new_rows), False


def _commit(
    location: OutputLocation,
    parts: list[_Part],
    tunings: dict[str, recall.Tuning],
    indexed: IndexRows,
    source: IndexRows,
    *,
    budget: int,
    flat_threshold: int,
    recall_target: float,
    started: float,
    added: int,
    rebuilt: bool,
) -> IndexInfo:
    """Write the FAISS files and ids.parquet, then index.json last: the build exists once that is written."""
    with location.commit() as commit:
        infos = {}
        for part in parts:
            digest = persistence.write_faiss(commit, f"{part.name}.faiss", part.index)
            tuning = tunings[part.name]
            infos[part.name] = PartInfo(
                file=f"{part.name}.faiss",
                factory=part.plan.factory,
                dim=int(part.vectors.shape[1]),
                embedding_model=part.embedding_model,
                search_params=tuning.knobs,
                recall_at_10=tuning.recall,
                recall_queries=tuning.queries,
                bytes=digest.bytes,
                sha256=digest.sha256,
            )
        ids = persistence.ids_table(indexed.track_ids, indexed.uris, indexed.durations, indexed.captions, indexed.row_versions)
        ids_digest = persistence.write_ids(commit, ids)
        info = IndexInfo(
            rows=len(indexed),
            metric=METRIC,
            captions=infos[CAPTIONS_PART],
            audio=infos[AUDIO_PART],
            ids_file=IDS_FILE,
            ids_bytes=ids_digest.bytes,
            ids_sha256=ids_digest.sha256,
            model_versions=source.model_versions,
            memory_budget=budget,
            flat_threshold=flat_threshold,
            recall_target=recall_target,
            build_seconds=round(time.perf_counter() - started, 3),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            added_rows=added,
            rebuilt=rebuilt,
            skipped=source.skipped,
        )
        write_manifest(commit, info)
    log.info("indexed %d rows under %s (%d added)", info.rows, location.url, added)
    return info
