"""The JSON API: scene search, "more like this", track rows, audio, catalogs, health and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from musiscene_core.index import SceneIndex, SearchHit
from musiscene_core.serve.audio import AudioGone
from musiscene_core.serve.catalogs import Catalog

MAX_K = 1000
MAX_QUERY_CHARS = 1000

router = APIRouter()

TrackId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}$", description="A track id: the SHA-256 of the file's bytes, in lowercase hex.")
]
K = Annotated[int, Query(ge=1, le=MAX_K, description="How many tracks to return.")]
MinDuration = Annotated[float | None, Query(ge=0, allow_inf_nan=False, description="Shortest track, in seconds.")]
MaxDuration = Annotated[float | None, Query(ge=0, allow_inf_nan=False, description="Longest track, in seconds.")]
CatalogName = Annotated[
    str | None, Query(max_length=64, description="Which catalog to search; the server's first one by default.")
]


class Hit(BaseModel):
    rank: int
    score: float
    track_id: str
    uri: str
    duration_s: float | None
    caption: str
    model_version: str | None


class SearchResult(BaseModel):
    query: str
    catalog: str
    k: int
    hits: list[Hit]


class SimilarResult(BaseModel):
    track_id: str
    catalog: str
    k: int
    hits: list[Hit]


class Track(BaseModel):
    track_id: str
    catalog: str
    uri: str
    duration_s: float | None
    caption: str
    model_version: str | None
    audio_url: str


class CatalogSummary(BaseModel):
    name: str
    tracks: int
    model_versions: list[str]
    embedding_model: str
    built_at: str


class Error(BaseModel):
    error: str


_ERRORS = {
    400: {"model": Error, "description": "A request the index cannot answer (say, an empty query)."},
    401: {"model": Error, "description": "Missing or wrong bearer token."},
    404: {"model": Error, "description": "Unknown catalog or track."},
    422: {"model": Error, "description": "A parameter out of range."},
}


@router.get("/healthz", summary="Liveness: 200 while the server answers (no token needed).")
def healthz(request: Request) -> dict:
    return {"status": "ok", "catalogs": len(request.app.state.catalogs.names)}


@router.get("/catalogs", responses=_ERRORS, summary="The catalogs this server searches.")
def catalogs(request: Request) -> list[CatalogSummary]:
    return [
        CatalogSummary(
            name=catalog.name,
            tracks=len(catalog.index),
            model_versions=catalog.index.info.model_versions,
            embedding_model=catalog.index.info.captions.embedding_model,
            built_at=catalog.index.info.created_at,
        )
        for catalog in request.app.state.catalogs.catalogs()
    ]


@router.get("/search", responses=_ERRORS, summary="Tracks whose imagined scene best matches a text.")
def search(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="A scene description.")],
    k: K = 10,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    catalog: CatalogName = None,
) -> SearchResult:
    served = _catalog(request, catalog)
    hits = served.index.search(q, k=k, min_duration=min_duration, max_duration=max_duration)
    return SearchResult(query=q, catalog=served.name, k=k, hits=_hits(hits))


@router.get("/similar/{track_id}", responses=_ERRORS, summary="More like this: tracks that sound like a track.")
def similar(
    request: Request,
    track_id: TrackId,
    k: K = 10,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    catalog: CatalogName = None,
) -> SimilarResult:
    served = _catalog(request, catalog)
    _row(served.index, track_id)
    hits = served.index.similar(track_id, k=k, min_duration=min_duration, max_duration=max_duration)
    return SimilarResult(track_id=track_id, catalog=served.name, k=k, hits=_hits(hits))


@router.get("/tracks/{track_id}", responses=_ERRORS, summary="A track's indexed row and caption.")
def track(request: Request, track_id: TrackId, catalog: CatalogName = None) -> Track:
    served = _catalog(request, catalog)
    hit = served.index.track_at(_row(served.index, track_id))
    return Track(
        track_id=hit.track_id,
        catalog=served.name,
        uri=hit.uri,
        duration_s=hit.duration_s,
        caption=hit.caption,
        model_version=hit.model_version,
        audio_url=f"tracks/{hit.track_id}/audio?catalog={served.name}",
    )


@router.get(
    "/tracks/{track_id}/audio",
    responses=_ERRORS
    | {
        200: {"content": {"audio/*": {}}, "description": "The whole original file."},
        206: {"content": {"audio/*": {}}, "description": "The byte range asked for with a Range header."},
        416: {"model": Error, "description": "A range beyond the end of the file."},
    },
    response_class=Response,
    summary="The track's original audio file, with HTTP range requests.",
)
def audio(request: Request, track_id: TrackId, catalog: CatalogName = None) -> Response:
    served = _catalog(request, catalog)
    uri = served.index.track_at(_row(served.index, track_id)).uri
    try:
        return request.app.state.audio.response(uri, request.headers.get("range"))
    except AudioGone:
        raise HTTPException(404, "the audio file of this track is no longer readable where it was tagged.") from None


@router.get("/metrics", response_class=Response, responses=_ERRORS, summary="Prometheus metrics (text format).")
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")


def _catalog(request: Request, name: str | None) -> Catalog:
    try:
        return request.app.state.catalogs.get(name)
    except KeyError:
        raise HTTPException(404, "no catalog of that name is served here; GET /catalogs lists them.") from None


def _row(index: SceneIndex, track_id: str) -> int:
    row = index.row_of_track_id(track_id)
    if row is None:
        raise HTTPException(404, "no track with this id is in the catalog's index.")
    return row


def _hits(hits: list[SearchHit]) -> list[Hit]:
    return [Hit(**hit.to_dict()) for hit in hits]
