"""Streaming a track's original file (local or object store, through fsspec) with HTTP range requests.

The file is only ever located through the uri stored in the index's rows; nothing from a
request names a path.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
from fastapi.responses import StreamingResponse

_CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Types browsers expect for audio that Python's mimetypes table misses or names otherwise.
_AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".webm": "audio/webm",
    ".mka": "audio/x-matroska",
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
}


class AudioGone(Exception):
    """The file a track's uri names cannot be read (moved, deleted, or no access)."""


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int):
        self.size = size


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a Range header asks for, or None to send the whole file.

    Multi-range and malformed headers are ignored (a server may do so; the client gets the whole
    file with 200). A range starting past the end raises RangeNotSatisfiable (416).
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.groups()
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        raise RangeNotSatisfiable(size)
    if end < start:
        return None
    return ByteRange(start, end)


def content_type(uri: str) -> str:
    path = uri.split("?", 1)[0].lower()
    dot = path.rfind(".")
    extension = path[dot:] if dot > path.rfind("/") else ""
    return _AUDIO_TYPES.get(extension) or mimetypes.guess_type(path)[0] or "application/octet-stream"


class AudioStore:
    """Opens the uris of indexed tracks (fsspec reuses one filesystem instance per protocol and options)."""

    def __init__(self, endpoint_url: str | None = None):
        self._endpoint_url = endpoint_url

    def response(self, uri: str, range_header: str | None) -> StreamingResponse:
        fs, path = self._resolve(uri)
        try:
            size = int(fs.size(path))
        except (OSError, ValueError) as exc:
            raise AudioGone() from exc
        wanted = parse_range(range_header, size)
        start, length = (0, size) if wanted is None else (wanted.start, wanted.length)
        headers = {"Accept-Ranges": "bytes", "Content-Length": str(length), "Cache-Control": "private, max-age=3600"}
        if wanted is not None:
            headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
        try:
            handle = fs.open(path, "rb")
        except (OSError, ValueError) as exc:
            raise AudioGone() from exc
        return StreamingResponse(
            _chunks(handle, start, length),
            status_code=200 if wanted is None else 206,
            media_type=content_type(uri),
            headers=headers,
        )

    def _resolve(self, uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
        protocol = fsspec.core.split_protocol(uri)[0] or "file"
        options = {"endpoint_url": self._endpoint_url} if self._endpoint_url and protocol in ("s3", "s3a") else {}
        try:
            return fsspec.core.url_to_fs(uri, **options)
        except (ImportError, ValueError) as exc:
            raise AudioGone() from exc


def _chunks(handle, start: int, length: int) -> Iterator[bytes]:
    """The bytes [start, start + length) of an open file, in chunks; closes it at the end or on disconnect."""
    with handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            block = handle.read(min(_CHUNK, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block
