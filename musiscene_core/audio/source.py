"""Turn what the caller handed us (a path or an open binary file) into a seekable file."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import AudioError

# A local path, or an open binary file object that can seek (a local file, an fsspec file for
# s3://..., io.BytesIO).
Source = str | os.PathLike | BinaryIO


@dataclass
class OpenSource:
    file: BinaryIO
    name: str  # for messages and as the extension hint; "<file object>" when nothing better is known
    size: int

    def read_at(self, offset: int, size: int) -> bytes:
        self.file.seek(offset)
        return self.file.read(size)

    @property
    def extension(self) -> str:
        return Path(self.name).suffix.lower()


def describe(source: Source) -> str:
    """A short name for messages."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "path", None) or getattr(source, "name", None) or "<file object>")


@contextmanager
def open_source(source: Source) -> Iterator[OpenSource]:
    """Yield the source as a file positioned at 0. Files we open are closed afterwards; a file
    object the caller passed stays open (it is theirs). Raises AudioError for missing, empty or
    unreadable sources."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        size = _checked_size(path)
        try:
            file = open(path, "rb")
        except OSError as err:
            raise AudioError("unreadable", f"the file cannot be opened ({_os_reason(err)}).") from None
        with file:
            yield OpenSource(file, path, size)
        return
    if not (hasattr(source, "read") and hasattr(source, "seek")):
        raise TypeError(f"expected a path or a binary file object, got {type(source).__name__}")
    seekable = getattr(source, "seekable", None)
    if seekable is not None and not seekable():
        raise AudioError("unreadable", "the file object cannot seek, which container parsing needs.")
    try:
        size = source.seek(0, io.SEEK_END)
        source.seek(0)
    except OSError as err:
        raise AudioError("unreadable", f"the file object cannot be read ({_os_reason(err)}).") from None
    if size == 0:
        raise AudioError("empty", "the file is 0 bytes long.")
    yield OpenSource(source, describe(source), size)


def _checked_size(path: str) -> int:
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise AudioError("not_found", f"no file exists at {path}.") from None
    except OSError as err:
        raise AudioError("unreadable", f"the file cannot be inspected ({_os_reason(err)}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise AudioError("unreadable", f"{path} is a directory, not a file.")
    if not stat.S_ISREG(info.st_mode):
        # A FIFO or device would block or never end; catalogs hold regular files.
        raise AudioError("unreadable", f"{path} is not a regular file.")
    if info.st_size == 0:
        raise AudioError("empty", "the file is 0 bytes long.")
    return info.st_size


def _os_reason(err: OSError) -> str:
    return (err.strerror or str(err) or type(err).__name__).rstrip(".").lower()
