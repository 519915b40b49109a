"""Deciding what a run must do: list the catalog, drop files already tagged by the same model version,
retry the errors worth retrying, and find the files that left the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field

from musiscene_core import tables
from musiscene_core.catalog import TrackRef, list_tracks
from musiscene_core.catalog.listing import is_manifest
from musiscene_core.catalog.storage import open_location
from musiscene_core.tagging.current import DELETED, OK, current_tracks
from musiscene_core.tagging.retry import is_permanent
from musiscene_core.tagging.store import OutputStore


@dataclass
class Plan:
    todo: list[TrackRef]
    skipped_done: int  # already tagged by this model version with the same fingerprint
    skipped_non_audio: int
    listed: int
    retried: int = 0  # files in `todo` whose current row is an error row
    deleted: list[str] = field(default_factory=list)  # URIs tagged before that the listing no longer holds
    skipped_paths: dict = field(default_factory=dict)  # links and special files not listed, by reason


def plan_run(
    src: str,
    store: OutputStore,
    model_version: str,
    force: bool = False,
    endpoint_url: str | None = None,
    retry_errors: bool = False,
) -> Plan:
    """Unchanged files (same uri and fingerprint: size+mtime or ETag) are skipped without being read.

    A file is done when its current row has this model version and its fingerprint, and is ok or a
    permanent error (unless `retry_errors`); transient errors are always tried again."""
    listing = list_tracks(src, endpoint_url)
    current = current_tracks(store.read_table(tables.TRACKS))
    rows = (
        {}
        if current is None
        else {
            row["uri"]: row for row in current.select(["uri", "fingerprint", "status", "error_kind", "model_version"]).to_pylist()
        }
    )
    todo, retried = [], 0
    for ref in listing.tracks:
        row = rows.get(ref.uri)
        if not force and row is not None and _done(row, ref, model_version, retry_errors):
            continue
        todo.append(ref)
        retried += row is not None and row["status"] not in (OK, DELETED)
    listed = {ref.uri for ref in listing.tracks}
    in_scope = _catalog_scope(src, endpoint_url)
    deleted = sorted(uri for uri, row in rows.items() if row["status"] != DELETED and uri not in listed and in_scope(uri))
    return Plan(
        todo=todo,
        skipped_done=len(listing.tracks) - len(todo),
        skipped_non_audio=listing.skipped_non_audio,
        listed=len(listing.tracks),
        retried=retried,
        deleted=deleted,
        skipped_paths=dict(listing.skipped_paths),
    )


def _done(row: dict, ref: TrackRef, model_version: str, retry_errors: bool) -> bool:
    if row["model_version"] != model_version or row["fingerprint"] != ref.fingerprint:
        return False
    return row["status"] == OK or (not retry_errors and is_permanent(row["error_kind"]))


def _catalog_scope(src: str, endpoint_url: str | None):
    """Which URIs of the output a full listing of `src` speaks for: those under its folder or prefix;
    a manifest is the whole catalog of the output folder, so every URI."""
    if is_manifest(src):
        return lambda uri: True
    location = open_location(src, endpoint_url)
    root = location.uri(location.root).rstrip("/")
    return lambda uri: uri == root or uri.startswith(root + "/")
