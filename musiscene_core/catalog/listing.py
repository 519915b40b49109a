"""Listing the tracks of a catalog: a folder, an s3:// prefix, or a manifest with a `uri` column."""

from __future__ import annotations

import os
import posixpath
import stat
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from musiscene_core.catalog.identity import fingerprint
from musiscene_core.catalog.storage import Location, open_location
from musiscene_core.errors import UserError
from musiscene_core.s3_errors import s3_reason

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".m4v", ".mkv", ".webm", ".aif", ".aiff"}
)
MANIFEST_EXTENSIONS = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class TrackRef:
    """One file of a catalog as its store lists it, before anything is read."""

    uri: str
    path: str  # path on the location's filesystem
    size: int
    fingerprint: str
    location: Location

    @property
    def extension(self) -> str:
        return posixpath.splitext(self.path)[1].lower()


@dataclass
class Listing:
    tracks: list[TrackRef]
    skipped_non_audio: int  # files under the source whose extension is not audio/video
    # paths that are not listed, by reason: broken_link, link_loop (a folder reached again through a
    # link), not_a_regular_file (FIFOs, devices: reading them would never end)
    skipped_paths: Counter = field(default_factory=Counter)


def _walk_local(root: str) -> tuple[dict[str, dict], Counter]:
    """Files under a local folder, following symbolic links (libraries are often built from them).

    A folder already visited (a link to an ancestor, or a second link to the same folder) is not
    entered again, so loops end and no file is listed twice."""
    found: dict[str, dict] = {}
    skipped: Counter = Counter()
    visited: set[tuple[int, int]] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        identity = os.stat(folder)
        key = (identity.st_dev, identity.st_ino)
        if key in visited:
            subfolders[:] = []
            skipped["link_loop"] += 1
            continue
        visited.add(key)
        for name in files:
            path = os.path.join(folder, name)
            try:
                info = os.stat(path)
            except OSError:
                skipped["broken_link" if os.path.islink(path) else "unreadable"] += 1
                continue
            if not stat.S_ISREG(info.st_mode):
                skipped["not_a_regular_file"] += 1
                continue
            found[path] = {"type": "file", "size": info.st_size, "mtime": info.st_mtime}
    return found, skipped


def _mtime(info: dict) -> float | None:
    value = info.get("mtime", info.get("LastModified"))
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if value is not None else None


def _ref(location: Location, path: str, info: dict) -> TrackRef:
    size = int(info.get("size") or 0)
    etag = info.get("ETag") or info.get("etag")
    return TrackRef(
        uri=location.uri(path),
        path=path,
        size=size,
        fingerprint=fingerprint(size, _mtime(info), etag),
        location=location,
    )


def is_manifest(src: str) -> bool:
    return src.lower().endswith(MANIFEST_EXTENSIONS)


def list_tracks(src: str, endpoint_url: str | None = None) -> Listing:
    """List audio files under `src` (or named by a manifest), sorted by URI so runs are deterministic."""
    if is_manifest(src):
        return _list_manifest(src, endpoint_url)
    location = open_location(src, endpoint_url)
    fs = location.fs
    try:
        if not fs.exists(location.root):
            raise UserError(f"catalog source {src!r} does not exist")
        if not fs.isdir(location.root):
            info = fs.info(location.root)
            return Listing([_ref(location, location.root, info)], 0)
        skipped_paths: Counter = Counter()
        if location.is_remote:
            found = fs.find(location.root, detail=True, withdirs=False)
        else:
            found, skipped_paths = _walk_local(location.root)
    except PermissionError as exc:
        raise UserError(f"catalog source {src!r} cannot be read: permission denied") from exc
    except UserError:
        raise
    except (OSError, ValueError) as exc:
        raise UserError(f"catalog source {src!r} cannot be listed: {s3_reason(exc) if location.is_remote else exc}") from exc
    except Exception as exc:  # botocore's own errors (dead endpoint, no credentials) are not OSErrors
        if not location.is_remote:
            raise
        raise UserError(f"catalog source {src!r} cannot be listed: {s3_reason(exc)}") from exc
    tracks, skipped = [], 0
    for path in sorted(found):
        info = found[path]
        if info.get("type", "file") != "file":
            continue
        if posixpath.splitext(path)[1].lower() in AUDIO_EXTENSIONS:
            tracks.append(_ref(location, path, info))
        else:
            skipped += 1
    return Listing(tracks, skipped, skipped_paths)


def read_manifest_uris(src: str, endpoint_url: str | None = None) -> list[str]:
    location = open_location(src, endpoint_url)
    try:
        with location.fs.open(location.root, "rb") as handle:
            table = pq.read_table(handle) if not src.lower().endswith(".csv") else pacsv.read_csv(handle)
    except FileNotFoundError as exc:
        raise UserError(f"manifest {src!r} does not exist") from exc
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"manifest {src!r} cannot be read as {'CSV' if src.lower().endswith('.csv') else 'Parquet'}") from exc
    if "uri" not in table.column_names:
        raise UserError(f"manifest {src!r} has no 'uri' column (columns: {', '.join(table.column_names) or 'none'})")
    if not (
        pa.types.is_string(table.schema.field("uri").type)
        or pa.types.is_large_string(table.schema.field("uri").type)
        or pa.types.is_null(table.schema.field("uri").type)
    ):
        raise UserError(
            f"manifest {src!r} has a 'uri' column of {table.schema.field('uri').type} values; it must hold paths or URIs as text"
        )
    base = posixpath.dirname(location.uri(location.root))
    uris = []
    for uri in table.column("uri").to_pylist():
        if not uri:
            continue
        if uri.lower().startswith("file://"):
            uri = uri[len("file://") :]
        if "://" not in uri and not os.path.isabs(uri):
            uri = posixpath.join(base, uri)
        uris.append(uri)
    return uris


def _list_manifest(src: str, endpoint_url: str | None) -> Listing:
    tracks: list[TrackRef] = []
    skipped: Counter = Counter()
    locations: dict[str, Location] = {}
    for uri in sorted(set(read_manifest_uris(src, endpoint_url))):
        scheme_key = uri.split("://", 1)[0] if "://" in uri else "file"
        location = locations.get(scheme_key)
        if location is None:
            location = locations[scheme_key] = open_location(uri if scheme_key != "file" else "/", endpoint_url)
        path = open_location(uri, endpoint_url).root if scheme_key != "file" else os.path.abspath(uri)
        try:
            info = location.fs.info(path)
        except (FileNotFoundError, OSError):
            info = {"size": 0}  # kept: the scan reports it as not_found rather than dropping it
        if scheme_key == "file" and os.path.exists(path) and not os.path.isfile(path):
            skipped["not_a_regular_file"] += 1  # a FIFO or /dev/zero would be read forever
            continue
        tracks.append(_ref(location, path, info))
    return Listing(tracks, 0, skipped)
