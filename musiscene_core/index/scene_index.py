"""Scene search over a built index folder: text -> tracks (captions index), track -> similar tracks (audio index)."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import faiss
import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa

from musiscene_core.catalog.identity import sha256_stream
from musiscene_core.errors import UserError
from musiscene_core.index import persistence, vector_index
from musiscene_core.index.manifest import IndexInfo, PartInfo, read_manifest
from musiscene_core.output_location import OutputLocation

if TYPE_CHECKING:
    from musiscene_core.models.text_embedder import TextEmbedder

# Each widening of a search that came back short (selective filters) multiplies its knob by this.
_WIDEN_FACTOR = 4


@dataclass(frozen=True)
class SearchHit:
    rank: int  # 1 = best
    score: float  # cosine similarity to the query
    track_id: str
    uri: str
    duration_s: float | None
    caption: str
    model_version: str | None  # the model that captioned the track

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SceneIndex:
    """A loaded index folder. `search` embeds text lazily, so `similar` never loads a text model."""

    def __init__(
        self,
        location: OutputLocation,
        info: IndexInfo,
        ids: pa.Table,
        captions: faiss.Index,
        audio: faiss.Index,
        embedder: TextEmbedder | None = None,
    ):
        self.location = location
        self.info = info
        self._captions = captions
        self._audio = audio
        self._track_ids = pd.Index(ids.column("track_id").to_numpy(zero_copy_only=False))
        self._uris = pd.Index(ids.column("uri").to_numpy(zero_copy_only=False))
        self._durations = ids.column("duration_s").to_numpy(zero_copy_only=False).astype(np.float64)
        self._captions_text = ids.column("caption").combine_chunks()
        self._model_versions = _row_model_versions(ids, info)
        self._embedder = embedder
        if embedder is not None:
            self._check_embedder(embedder)

    @classmethod
    def load(
        cls,
        dst: str | os.PathLike,
        embedder: TextEmbedder | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
    ) -> SceneIndex:
        """Open the index of the output folder `dst` (local path or fsspec URL), checking every file's digest."""
        location = OutputLocation(dst, storage_options, endpoint_url)
        if not location.fs.exists(location.root):
            raise UserError(f"{location.url} does not exist; pass the output folder of a tagging run")
        info = read_manifest(location)
        if info is None:
            raise UserError(f"no index under {location.url}; build one with `musiscene index build {location.url}`")
        if info.rows == 0:
            raise UserError(f"the index under {location.url} is empty; tag some tracks and rebuild it")
        ids = persistence.read_ids(location, info)
        captions = persistence.read_faiss(location, info.captions.file, info.captions.digest())
        audio = persistence.read_faiss(location, info.audio.file, info.audio.digest())
        if not (ids.num_rows == captions.ntotal == audio.ntotal == info.rows):
            raise UserError(f"the index files under {location.url} disagree on their row count; rebuild the index")
        return cls(location, info, ids, captions, audio, embedder)

    def __len__(self) -> int:
        return self.info.rows

    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:
            from musiscene_core.models.text_embedder import TextEmbedder

            self._embedder = TextEmbedder(self.info.captions.embedding_model)
            self._check_embedder(self._embedder)
        return self._embedder

    def search(
        self,
        text: str,
        k: int = 10,
        min_duration: float | None = None,
        max_duration: float | None = None,
    ) -> list[SearchHit]:
        """The k tracks whose scene captions are closest to `text`, within the duration bounds (seconds)."""
        if not text or not text.strip():
            raise UserError("the search text is empty; describe a scene, e.g. 'a chase through neon-lit streets'")
        allowed = self._duration_mask(min_duration, max_duration)
        query = self.embedder.embed([text])
        return self._nearest(self._captions, self.info.captions, query, _check_k(k), allowed)

    def similar(
        self,
        track_id_or_path: str | os.PathLike,
        k: int = 10,
        min_duration: float | None = None,
        max_duration: float | None = None,
    ) -> list[SearchHit]:
        """The k tracks whose audio embeddings are closest to a tagged track's (given by id, uri or file)."""
        row = self.row_of(track_id_or_path)
        allowed = self._duration_mask(min_duration, max_duration)
        allowed = np.ones(len(self), dtype=bool) if allowed is None else allowed.copy()
        allowed[row] = False  # the track itself is not a result
        query = self._audio.reconstruct(int(row)).reshape(1, -1)
        return self._nearest(self._audio, self.info.audio, query, _check_k(k), allowed)

    def row_of(self, track_id_or_path: str | os.PathLike) -> int:
        """Row of a track given by its id, its uri as indexed, or a file whose content hash is its id."""
        reference = os.fspath(track_id_or_path)
        for lookup in (self._track_ids, self._uris):
            position = lookup.get_indexer([reference])[0] if lookup.is_unique else _first(lookup, reference)
            if position >= 0:
                return int(position)
        track_id = self._content_sha256(reference)
        if track_id is None:
            raise UserError(
                f"{reference!r} is neither a track id in the index nor a readable file; "
                "tag it first with `musiscene tag`, then rebuild the index"
            )
        position = self._track_ids.get_indexer([track_id])[0]
        if position < 0:
            raise UserError(
                f"{reference} (track {track_id[:12]}) is not in the index; "
                "tag it first with `musiscene tag`, then rebuild the index with `musiscene index build`"
            )
        return int(position)

    def track_id_at(self, row: int) -> str:
        return str(self._track_ids[row])

    def row_of_track_id(self, track_id: str) -> int | None:
        """Row of an exact track id, or None; unlike `row_of`, never touches the filesystem."""
        position = self._track_ids.get_indexer([track_id])[0] if self._track_ids.is_unique else _first(self._track_ids, track_id)
        return None if position < 0 else int(position)

    def track_at(self, row: int) -> SearchHit:
        """The indexed row as a hit of rank 0 and score 0 (uri, duration, caption, model version)."""
        return self._hit(0, row, 0.0)

    def _nearest(
        self, index: faiss.Index, part: PartInfo, query: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[SearchHit]:
        """Search, widening the knob when filters leave fewer than k results although more exist."""
        wanted = min(k, len(self) if allowed is None else int(allowed.sum()))
        if wanted == 0:
            return []
        knobs = dict(part.search_params)
        limit = vector_index.knob_limit(index)
        while True:
            # Never ask FAISS for more rows than can exist: it allocates k results per query up front.
            scores, rows = vector_index.search(index, query, wanted, knobs, allowed)
            found = [(int(row), float(score)) for row, score in zip(rows[0], scores[0]) if row >= 0]
            if len(found) >= wanted or limit is None:
                break
            name, widest = limit
            current = knobs.get(name, 1)
            if current >= widest:
                break
            knobs[name] = min(widest, current * _WIDEN_FACTOR)
        return [self._hit(rank, row, score) for rank, (row, score) in enumerate(found, start=1)]

    def _hit(self, rank: int, row: int, score: float) -> SearchHit:
        duration = float(self._durations[row])
        return SearchHit(
            rank=rank,
            score=round(score, 6),
            track_id=self.track_id_at(row),
            uri=str(self._uris[row]),
            duration_s=None if math.isnan(duration) else duration,
            caption=self._captions_text[row].as_py(),
            model_version=self._model_versions[row].as_py(),
        )

    def _duration_mask(self, min_duration: float | None, max_duration: float | None) -> np.ndarray | None:
        if min_duration is None and max_duration is None:
            return None
        if min_duration is not None and max_duration is not None and min_duration > max_duration:
            raise UserError(f"the minimum duration {min_duration} s exceeds the maximum {max_duration} s")
        # Tracks of unknown duration (NaN) fail every bound, as they should under a duration filter.
        mask = ~np.isnan(self._durations)
        if min_duration is not None:
            mask &= self._durations >= min_duration
        if max_duration is not None:
            mask &= self._durations <= max_duration
        return mask

    def _check_embedder(self, embedder: TextEmbedder) -> None:
        expected = self.info.captions.embedding_model
        if embedder.name != expected or embedder.dim != self.info.captions.dim:
            raise UserError(
                f"the index under {self.location.url} was built from captions embedded with {expected} "
                f"({self.info.captions.dim}-d), but the query embedder is {embedder.name} ({embedder.dim}-d); "
                "search with the same embedder or rebuild the index"
            )

    def _content_sha256(self, reference: str) -> str | None:
        """sha256 of a file's bytes (the track id of tables.TRACKS), or None when it is not a readable file."""
        protocol = fsspec.core.split_protocol(reference)[0]
        try:
            if protocol is None or protocol == "file":
                fs, path = fsspec.filesystem("file"), reference
            else:
                # A URL on the index's own store (say s3) reuses its credentials and endpoint.
                store = self.location.fs.protocol
                same_store = protocol in ((store,) if isinstance(store, str) else store)
                fs, path = (self.location.fs, reference) if same_store else fsspec.core.url_to_fs(reference)
            if not fs.isfile(path):
                return None
            with fs.open(path, "rb") as handle:
                return sha256_stream(handle)
        except (OSError, ValueError, ImportError):
            return None


MAX_K = 10_000  # results per request: a page of hits, never a dump of the index


def _check_k(k: int) -> int:
    if k < 1:
        raise UserError(f"k must be at least 1, not {k}")
    if k > MAX_K:
        raise UserError(f"k must be at most {MAX_K:,}, not {k:,}")
    return int(k)


def _row_model_versions(ids: pa.Table, info: IndexInfo) -> pa.Array:
    """Per-row model versions; indexes built before ids.parquet had the column name at most one version."""
    if "model_version" in ids.column_names:
        return ids.column("model_version").combine_chunks()
    only = info.model_versions[0] if len(info.model_versions) == 1 else None
    return pa.nulls(ids.num_rows, pa.string()) if only is None else pa.array([only] * ids.num_rows, pa.string())


def _first(lookup: pd.Index, value: str) -> int:
    matches = np.flatnonzero(lookup == value)
    return int(matches[0]) if len(matches) else -1
