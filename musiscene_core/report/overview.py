"""The catalog overview of a tagging output folder: what `musiscene report` and the exploration notebook show.

Counts, error kinds, durations and audio hours come from the current `tracks` rows (one per uri, the
newest); model versions from those rows; throughput from the run records (`runs/*.json`); the
embedding maps from the tracks the index would hold (ok, captioned, with features): caption and
audio embeddings projected to 2-D by PCA, tracks grouped by k-means on their caption embeddings,
each group labelled with the words its captions use more than the others do.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow.compute as pc

from musiscene_core import tables
from musiscene_core.errors import UserError

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Function words never make a scene; everything else is counted as it is written.
STOP_WORDS = frozenset(
    "a an the and or but of in on at to for from by with without into onto over under through across along "
    "as is are was were be been being it its this that these those there their they them he she his her "
    "you your we our i me my while where when which who whose what some any all every each very just "
    "up down out off than then so such".split()
)
CLUSTER_WORDS = 3


@dataclass
class EmbeddingMap:
    """Tracks with captions and features, their 2-D coordinates and clusters."""

    uris: list[str]
    captions: list[str]
    caption_xy: np.ndarray  # [n, 2] PCA of the caption embeddings
    audio_xy: np.ndarray  # [n, 2] PCA of the audio embeddings
    clusters: np.ndarray  # [n] cluster of each track (k-means on caption embeddings)
    cluster_words: list[list[str]]  # per cluster, its most typical caption words
    cluster_examples: list[str]  # per cluster, the caption nearest its mean caption embedding
    caption_vectors: np.ndarray  # [n, dim] unit rows
    audio_vectors: np.ndarray  # [n, dim] unit rows


@dataclass
class CatalogOverview:
    dst: str
    tracks: int
    ok: int
    failed: int
    error_kinds: dict[str, int]
    audio_hours: float
    durations_s: np.ndarray  # of ok tracks with a known duration
    model_versions: dict[str, int]  # model version -> current tracks tagged by it
    runs: list[dict]  # one summary per run record, oldest first
    scene_words: list[tuple[str, int]]  # most common caption words: (word, captions using it)
    embedding_map: EmbeddingMap | None
    notes: list[str] = field(default_factory=list)  # why a part is missing


def catalog_overview(dst: str, endpoint_url: str | None = None, clusters: int = 6, top_words: int = 15) -> CatalogOverview:
    """Read a tagging output folder (local or s3://) and summarise it; raises UserError when it holds no tracks."""
    from musiscene_core.tagging.current import DELETED
    from musiscene_core.tagging.store import OutputStore

    if clusters < 1:
        raise UserError("--clusters must be at least 1")
    store = OutputStore.open(dst, endpoint_url)
    current = store.current_tracks()  # the output tables' reading rule; files gone from the catalog are left out
    if current is not None:
        current = current.filter(pc.not_equal(current.column("status"), DELETED))
    if current is None or current.num_rows == 0:
        raise UserError(f"no tracks/ table under {dst}; tag a catalog into it first")
    status = np.array(current.column("status").to_pylist(), dtype=object)
    ok = status == "ok"
    kinds = Counter(kind or "unknown" for kind, bad in zip(current.column("error_kind").to_pylist(), ~ok) if bad)
    durations = np.array(
        [d for d, good in zip(current.column("duration_s").to_pylist(), ok) if good and d is not None], dtype=np.float64
    )
    versions = Counter(v for v, good in zip(current.column("model_version").to_pylist(), ok) if good and v)
    notes: list[str] = []
    embedding_map = None
    words: list[tuple[str, int]] = []
    try:
        embedding_map = _embedding_map(store.location, clusters)
        words = scene_words(embedding_map.captions, top_words)
    except UserError as exc:
        notes.append(f"no embedding map: {exc}")
    return CatalogOverview(
        dst=dst,
        tracks=current.num_rows,
        ok=int(ok.sum()),
        failed=int((~ok).sum()),
        error_kinds=dict(kinds.most_common()),
        audio_hours=float(durations.sum() / 3600.0),
        durations_s=durations,
        model_versions=dict(versions.most_common()),
        runs=run_summaries(store),
        scene_words=words,
        embedding_map=embedding_map,
        notes=notes,
    )


def run_summaries(store) -> list[dict]:
    """The run records of the output folder, oldest first, with their throughput."""
    fs = store.location.fs
    folder = store.location.path(tables.RUNS_DIR)
    paths = sorted(fs.glob(folder + "/*.json")) if fs.isdir(folder) else []
    runs = []
    for path in paths:
        try:
            record = json.loads(fs.cat_file(path))
        except (OSError, ValueError):
            continue  # a half-written or foreign file is not a run record
        seconds = record.get("seconds") or 0.0
        hours = record.get("audio_hours") or 0.0
        runs.append(
            {
                "run_id": record.get("run_id", path.rsplit("/", 1)[-1][:-5]),
                "model": (record.get("model") or {}).get("name", "-"),
                "model_version": record.get("model_version", "-"),
                "processed": record.get("processed", 0),
                "ok": record.get("ok", 0),
                "failed": record.get("failed", 0),
                "skipped": record.get("skipped", 0),
                "audio_hours": hours,
                "seconds": seconds,
                "tracks_per_hour": record.get("tracks_per_hour"),
                # Hours of audio tagged per hour of wall time.
                "realtime_factor": hours * 3600.0 / seconds if seconds else None,
            }
        )
    return runs


def _embedding_map(location, clusters: int) -> EmbeddingMap:
    from musiscene_core.index.source import read_index_rows

    rows = read_index_rows(location)
    captions = [str(c) for c in rows.captions]
    labels = kmeans_clusters(rows.caption_vectors, clusters)
    return EmbeddingMap(
        uris=[str(u) for u in rows.uris],
        captions=captions,
        caption_xy=pca_2d(rows.caption_vectors),
        audio_xy=pca_2d(rows.audio_vectors),
        clusters=labels,
        cluster_words=typical_words(captions, labels),
        cluster_examples=central_captions(captions, rows.caption_vectors, labels),
        caption_vectors=rows.caption_vectors,
        audio_vectors=rows.audio_vectors,
    )


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows ([n, 2]; zeros where there is no variance)."""
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(axis=0)
    out = np.zeros((len(x), 2))
    if len(x) < 2:
        return out
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    k = min(2, len(s))
    out[:, :k] = u[:, :k] * s[:k]
    return out


def kmeans_clusters(vectors: np.ndarray, clusters: int, seed: int = 0) -> np.ndarray:
    """Cluster of each row by spherical k-means (FAISS) on unit vectors; deterministic for a seed."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    k = min(clusters, len(x))
    if k <= 1:
        return np.zeros(len(x), dtype=np.int64)
    kmeans = faiss.Kmeans(x.shape[1], k, niter=25, seed=seed, spherical=True, min_points_per_centroid=1)
    kmeans.train(x)
    _, assigned = kmeans.index.search(x, 1)
    # Number clusters by size, largest first, so colours and legends are stable across reruns.
    sizes = Counter(assigned[:, 0].tolist())
    order = {cluster: rank for rank, (cluster, _) in enumerate(sorted(sizes.items(), key=lambda item: (-item[1], item[0])))}
    return np.array([order[c] for c in assigned[:, 0]], dtype=np.int64)


def central_captions(captions: list[str], vectors: np.ndarray, labels: np.ndarray) -> list[str]:
    """Per cluster, the caption whose embedding is nearest the cluster's mean embedding."""
    examples = []
    for cluster in range(int(labels.max()) + 1 if len(labels) else 0):
        members = np.flatnonzero(labels == cluster)
        centre = vectors[members].mean(axis=0)
        examples.append(captions[members[int(np.argmax(vectors[members] @ centre))]])
    return examples


def caption_words(caption: str) -> set[str]:
    return {w for w in WORD.findall(caption.lower()) if w not in STOP_WORDS and len(w) > 1}


def typical_words(captions: list[str], labels: np.ndarray, n: int = CLUSTER_WORDS) -> list[list[str]]:
    """Per cluster, the words whose share of captions using them is highest in the cluster relative to the rest."""
    sets = [caption_words(c) for c in captions]
    result = []
    for cluster in range(int(labels.max()) + 1 if len(labels) else 0):
        inside = [s for s, label in zip(sets, labels) if label == cluster]
        outside = [s for s, label in zip(sets, labels) if label != cluster]
        inside_counts = Counter(w for s in inside for w in s)
        outside_counts = Counter(w for s in outside for w in s)
        scores = {w: c / len(inside) - (outside_counts[w] / len(outside) if outside else 0.0) for w, c in inside_counts.items()}
        ranked = sorted((w for w, score in scores.items() if score > 0), key=lambda w: (-scores[w], w))
        result.append(ranked[:n])
    return result


def scene_words(captions: list[str], top: int = 15) -> list[tuple[str, int]]:
    """The words most captions use (function words left out), with the number of captions using each."""
    counts = Counter(w for c in captions for w in caption_words(c))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
