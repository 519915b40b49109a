"""Track identity: the SHA-256 of a file's bytes, computed while streaming."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

CHUNK_BYTES = 1 << 20


def sha256_stream(stream: BinaryIO, sink: BinaryIO | None = None) -> str:
    """Hash a binary stream in chunks; when `sink` is given the bytes are copied there too, so a remote file is read once."""
    digest = hashlib.sha256()
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
    return digest.hexdigest()


def fingerprint(size: int, mtime: float | None = None, etag: str | None = None) -> str:
    """A cheap change detector from listing metadata: the ETag when the store gives one, else size + mtime."""
    if etag:
        return f"etag:{etag.strip(chr(34))}:{size}"
    return f"size-mtime:{size}:{mtime!r}"
