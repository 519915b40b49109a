"""Scanning a catalog: identify, validate and describe every listed file, in listing order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import pyarrow as pa

from musiscene_core.audio import AudioError, scan_file
from musiscene_core.catalog.listing import TrackRef
from musiscene_core.catalog.reading import open_track


@dataclass
class ScanRow:
    uri: str
    track_id: str | None
    bytes: int
    fingerprint: str
    format: str | None
    duration_s: float | None
    sample_rate: int | None
    channels: int | None
    status: str  # "ok" | "error"
    error_kind: str | None = None
    error: str | None = None
    duplicate_of: str | None = None  # uri of the first byte-identical file, when this one repeats it


MANIFEST_SCHEMA = pa.schema(
    [
        ("uri", pa.string()),
        ("track_id", pa.string()),
        ("bytes", pa.int64()),
        ("fingerprint", pa.string()),
        ("format", pa.string()),
        ("duration_s", pa.float64()),
        ("sample_rate", pa.int32()),
        ("channels", pa.int32()),
        ("status", pa.string()),
        ("error_kind", pa.string()),
        ("error", pa.string()),
        ("duplicate_of", pa.string()),
    ]
)


def _error_row(ref: TrackRef, kind: str, reason: str, track_id: str | None = None, size: int | None = None) -> ScanRow:
    return ScanRow(
        uri=ref.uri,
        track_id=track_id,
        bytes=ref.size if size is None else size,
        fingerprint=ref.fingerprint,
        format=None,
        duration_s=None,
        sample_rate=None,
        channels=None,
        status="error",
        error_kind=kind,
        error=f"{kind}: {reason}",
    )


def scan_track(ref: TrackRef, min_seconds: float) -> ScanRow:
    """Hash and fully decode one file; any failure becomes an error row, never an exception."""
    track_id: str | None = None
    size: int | None = None
    try:
        with open_track(ref.location, ref.path) as opened:
            track_id, size = opened.track_id, opened.size
            info = scan_file(opened.source, min_seconds=min_seconds)
    except AudioError as exc:
        return _error_row(ref, exc.kind, exc.reason, track_id=track_id, size=size)
    except FileNotFoundError:
        return _error_row(ref, "not_found", "the file does not exist (or disappeared after it was listed)")
    except PermissionError:
        return _error_row(ref, "unreadable", "permission denied")
    except OSError as exc:
        return _error_row(ref, "unreadable", f"the file could not be read ({exc.__class__.__name__}: {exc})")
    return ScanRow(
        uri=ref.uri,
        track_id=track_id,
        bytes=size,
        fingerprint=ref.fingerprint,
        format=info.format,
        duration_s=info.duration_s,
        sample_rate=info.sample_rate,
        channels=info.channels,
        status="ok",
    )


def scan_tracks(
    refs: Iterable[TrackRef],
    min_seconds: float = 1.0,
    workers: int = 2,
    on_row: Callable[[ScanRow], None] | None = None,
) -> Iterator[ScanRow]:
    """Scan in parallel threads (decoding releases the GIL) and yield rows in listing order, marking duplicates."""
    first_uri_of: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for row in pool.map(lambda ref: scan_track(ref, min_seconds), refs):
            if row.track_id is not None and row.status == "ok":
                first = first_uri_of.setdefault(row.track_id, row.uri)
                if first != row.uri:
                    row.duplicate_of = first
            if on_row is not None:
                on_row(row)
            yield row


@dataclass
class ScanSummary:
    files: int = 0
    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    duplicates: int = 0
    audio_seconds: float = 0.0
    formats: Counter = field(default_factory=Counter)
    skipped_non_audio: int = 0

    def add(self, row: ScanRow) -> None:
        self.files += 1
        if row.status == "ok":
            self.ok += 1
            self.audio_seconds += row.duration_s or 0.0
            self.formats[row.format] += 1
        else:
            self.errors[row.error_kind] += 1
        if row.duplicate_of:
            self.duplicates += 1

    @property
    def audio_hours(self) -> float:
        return self.audio_seconds / 3600.0

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "ok": self.ok,
            "errors": dict(sorted(self.errors.items())),
            "duplicates": self.duplicates,
            "audio_hours": round(self.audio_hours, 4),
            "formats": dict(sorted(self.formats.items())),
            "skipped_non_audio": self.skipped_non_audio,
        }


def rows_to_table(rows: list[ScanRow]) -> pa.Table:
    return pa.Table.from_pylist([asdict(r) for r in rows], schema=MANIFEST_SCHEMA)
