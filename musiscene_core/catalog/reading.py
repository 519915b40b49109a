"""Reading a catalog file once: its content hash, its size, and a seekable source to decode from."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from musiscene_core.catalog.identity import sha256_stream
from musiscene_core.catalog.storage import Location

# Remote files are copied once into a spooled buffer while hashing, then decoded from it;
# beyond this size the buffer spills to a temporary file so memory stays bounded.
SPOOL_IN_MEMORY_BYTES = 64 << 20


@dataclass
class OpenedTrack:
    track_id: str
    size: int
    source: str | BinaryIO  # a local path, or a seekable file positioned at 0


@contextmanager
def open_track(location: Location, path: str) -> Iterator[OpenedTrack]:
    """Hash `path` while reading it; local files are then decoded from disk, remote ones from the spool."""
    with location.fs.open(path, "rb") as stream:
        if not location.is_remote:
            track_id = sha256_stream(stream)
            yield OpenedTrack(track_id, stream.tell(), path)
            return
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
            track_id = sha256_stream(stream, sink=spool)
            size = spool.tell()
            spool.seek(0)
            yield OpenedTrack(track_id, size, spool)
