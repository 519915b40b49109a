"""The output folder of a run (a tagging run's tables, indexes, run records): a local path or any fsspec URL (s3://...).

Writes are grouped in a `Commit` so that a reader never mistakes a half-written file (a table
shard, an index) for a whole one: locally files are staged under temporary names and renamed into
place together; on object stores (where every PUT is atomic per object) they are written in place.
Within a commit the last file written is the commit marker (the index's `index.json` records the
size and sha256 of every other file, and readers check the files against it).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

import fsspec
import pyarrow as pa
import pyarrow.dataset as pads
from fsspec.implementations.local import LocalFileSystem

from musiscene_core.errors import UserError

_S3_PROTOCOLS = {"s3", "s3a"}

T = TypeVar("T")


@dataclass(frozen=True)
class FileDigest:
    """Size and sha256 of a written or read file, as recorded in index.json."""

    bytes: int
    sha256: str


class _HashingWriter:
    """A write callback that counts and hashes bytes on their way to a file."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self._hash = hashlib.sha256()
        self.size = 0

    def __call__(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        self._handle.write(data)
        return len(data)

    def digest(self) -> FileDigest:
        return FileDigest(bytes=self.size, sha256=self._hash.hexdigest())


SHARD_PREFIX, SHARD_SUFFIX = "part-", ".parquet"


def is_shard_name(name: str) -> bool:
    return name.startswith(SHARD_PREFIX) and name.endswith(SHARD_SUFFIX)


def damaged_shard_error(location: OutputLocation, table: str, exc: BaseException, path: str | None = None) -> UserError:
    """One sentence for a shard that cannot be read, with the way out."""
    where = path or f"a shard of {location.path(table)}"
    reason = " ".join(str(exc).split())[:200].rstrip(".")
    dst = location.root if location.is_local else location.url
    return UserError(
        f"{where} cannot be read ({reason}); run `musiscene repair {dst}` to set damaged shards aside "
        "(their tracks are tagged again by the next run)"
    )


class OutputLocation:
    """An output folder plus the filesystem that reaches it."""

    def __init__(
        self,
        dst: str | os.PathLike,
        storage_options: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
    ):
        self.url = str(dst)
        options = dict(storage_options or {})
        protocol = fsspec.core.split_protocol(self.url)[0] or "file"
        if endpoint_url:
            if protocol not in _S3_PROTOCOLS:
                raise UserError(f"--endpoint-url applies to s3:// locations, not to {self.url!r}")
            options["endpoint_url"] = endpoint_url
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **options)
        except (ImportError, ValueError) as exc:
            raise UserError(f"cannot open output location {self.url!r}: {exc}") from exc
        self.root = self.root.rstrip("/")
        # fsspec shares filesystem instances, and object stores cache listings in them: files
        # written since (new shards, another build's index) must be seen.
        self.fs.invalidate_cache()

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    def shard_files(self, table: str) -> list[str]:
        """The shards of `table/`: only the project's own names (`part-*.parquet`), so writers'
        temporary files and stray files (a README, a copy's leftovers) are never read as data."""
        folder = self.path(table)
        if not self.fs.isdir(folder):
            return []
        return sorted(path for path in self.fs.ls(folder, detail=False) if is_shard_name(path.rsplit("/", 1)[-1]))

    def parquet_dataset(self, table: str) -> pads.Dataset | None:
        """The shards of `table/` as one dataset, or None when there are none."""
        files = self.shard_files(table)
        if not files:
            return None
        try:
            return pads.dataset(files, filesystem=self.fs, format="parquet")
        except (pa.ArrowInvalid, OSError) as exc:
            raise damaged_shard_error(self, table, exc) from exc

    def read_file(self, parts: tuple[str, ...], read: Callable[[Callable[[int], bytes]], T]) -> tuple[T, FileDigest]:
        """Return `read(source)` and the digest of the bytes it consumed; `source(n)` reads up to n bytes.

        Hashing as the bytes stream by lets a reader check a large file without a second pass.
        """
        digest = hashlib.sha256()
        size = 0

        with self.fs.open(self.path(*parts), "rb") as handle:

            def source(count: int) -> bytes:
                nonlocal size
                data = handle.read(count)
                digest.update(data)
                size += len(data)
                return data

            result = read(source)
            # A reader may stop before the end (e.g. a trailing footer it ignores): hash the rest too.
            while source(1 << 20):
                pass
        return result, FileDigest(bytes=size, sha256=digest.hexdigest())

    @contextmanager
    def commit(self) -> Iterator[Commit]:
        """Group writes so that they land together: see `Commit`."""
        commit = Commit(self)
        try:
            yield commit
        except BaseException:
            commit.abort()
            raise
        commit.finish()


class Commit:
    """Files written as one change, in order; the last one written should be the commit marker.

    Locally every file is first written under a temporary name in its final folder, and all are
    renamed into place only once every write succeeded (in write order), so a failed build leaves
    the previous files untouched. Object stores have no rename: there files are written in place,
    in order, and readers rely on the marker's digests to notice a change still under way.
    """

    def __init__(self, location: OutputLocation):
        self._location = location
        self._staged: list[tuple[str, str]] = []  # (temporary, final), local only

    def write_file(self, parts: tuple[str, ...], write: Callable[[Callable[[bytes], int]], None]) -> FileDigest:
        """Write one file through `write(sink)`, where `sink(data)` appends bytes."""
        location = self._location
        final = location.path(*parts)
        location.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        if not location.is_local:
            with location.fs.open(final, "wb") as handle:
                sink = _HashingWriter(handle)
                write(sink)
            return sink.digest()
        folder, name = os.path.split(final)
        temporary = os.path.join(folder, f".{name}.tmp-{uuid.uuid4().hex}")
        self._staged.append((temporary, final))
        with open(temporary, "wb") as handle:
            sink = _HashingWriter(handle)
            write(sink)
            handle.flush()
            os.fsync(handle.fileno())
        return sink.digest()

    def write_bytes(self, parts: tuple[str, ...], data: bytes) -> FileDigest:
        return self.write_file(parts, lambda sink: sink(data))

    def finish(self) -> None:
        for temporary, final in self._staged:
            os.replace(temporary, final)
        self._staged.clear()

    def abort(self) -> None:
        for temporary, _ in self._staged:
            if os.path.exists(temporary):
                os.remove(temporary)
        self._staged.clear()
