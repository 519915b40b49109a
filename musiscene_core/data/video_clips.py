"""The clips of a video dataset: listing videos (folder, s3:// prefix or manifest with optional
segments) and extracting one clip's soundtrack (24 kHz mono) and N evenly spaced frames with PyAV."""

from __future__ import annotations

import math
import os
import posixpath
from dataclasses import dataclass

import av
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from musiscene_core.audio import SAMPLE_RATE, AudioError, decode
from musiscene_core.catalog.identity import fingerprint
from musiscene_core.catalog.listing import MANIFEST_EXTENSIONS
from musiscene_core.catalog.storage import open_location
from musiscene_core.errors import UserError

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts"})
WHOLE = "whole"  # the segment label of a clip that is the whole video
# Column names accepted for segment bounds in a manifest (AudioSet lists use start_seconds/end_seconds).
_START_COLUMNS = ("start_s", "start", "start_seconds")
_END_COLUMNS = ("end_s", "end", "end_seconds")


class ClipError(Exception):
    """A clip that cannot be used: `kind` names the reason for counting, `reason` is one sentence."""

    def __init__(self, kind: str, reason: str):
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason

    def __reduce__(self):
        return (type(self), (self.kind, self.reason))


@dataclass(frozen=True)
class ClipRef:
    """One clip as listed: a video and an optional [start, end) in seconds."""

    uri: str
    fingerprint: str  # size + mtime, or the S3 ETag: skips unchanged videos on reruns without reading them
    start_s: float | None = None
    end_s: float | None = None

    @property
    def segment(self) -> str:
        if self.start_s is None and self.end_s is None:
            return WHOLE
        end = "end" if self.end_s is None else f"{self.end_s:.3f}"
        return f"{self.start_s or 0.0:.3f}-{end}"


def _mtime(info: dict) -> float | None:
    value = info.get("mtime", info.get("LastModified"))
    return value.timestamp() if hasattr(value, "timestamp") else (float(value) if value is not None else None)


def _fingerprint(info: dict) -> str:
    return fingerprint(int(info.get("size") or 0), _mtime(info), info.get("ETag") or info.get("etag"))


def list_clips(src: str, endpoint_url: str | None = None) -> list[ClipRef]:
    """Every clip of `src`, sorted by (uri, start) so runs are deterministic; exact repeats listed once."""
    if src.lower().endswith(MANIFEST_EXTENSIONS):
        clips = _manifest_clips(src, endpoint_url)
    else:
        location = open_location(src, endpoint_url)
        try:
            if not location.fs.exists(location.root):
                raise UserError(f"video source {src!r} does not exist")
            if not location.fs.isdir(location.root):
                found = {location.root: location.fs.info(location.root)}
            else:
                found = location.fs.find(location.root, detail=True, withdirs=False)
        except (OSError, ValueError) as exc:
            if isinstance(exc, UserError):
                raise
            raise UserError(f"video source {src!r} cannot be listed: {exc}") from exc
        clips = [
            ClipRef(location.uri(path), _fingerprint(info))
            for path, info in found.items()
            if info.get("type", "file") == "file" and posixpath.splitext(path)[1].lower() in VIDEO_EXTENSIONS
        ]
    if not clips:
        raise UserError(f"no videos found in {src!r} (extensions: {', '.join(sorted(VIDEO_EXTENSIONS))})")
    return sorted(set(clips), key=lambda c: (c.uri, c.start_s or 0.0, math.inf if c.end_s is None else c.end_s))


def _column(table: pa.Table, names: tuple[str, ...]) -> list | None:
    for name in names:
        if name in table.column_names:
            return table.column(name).to_pylist()
    return None


def _bound(value, uri: str, what: str) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise UserError(f"manifest row for {uri!r} has a non-numeric {what} time {value!r}") from None
    if seconds < 0 or not math.isfinite(seconds):
        raise UserError(f"manifest row for {uri!r} has an invalid {what} time {value!r}")
    return seconds


def _manifest_clips(src: str, endpoint_url: str | None) -> list[ClipRef]:
    location = open_location(src, endpoint_url)
    csv = src.lower().endswith(".csv")
    try:
        with location.fs.open(location.root, "rb") as handle:
            table = pacsv.read_csv(handle) if csv else pq.read_table(handle)
    except FileNotFoundError as exc:
        raise UserError(f"manifest {src!r} does not exist") from exc
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"manifest {src!r} cannot be read as {'CSV' if csv else 'Parquet'}") from exc
    if "uri" not in table.column_names:
        raise UserError(f"manifest {src!r} has no 'uri' column (columns: {', '.join(table.column_names) or 'none'})")
    starts = _column(table, _START_COLUMNS) or [None] * len(table)
    ends = _column(table, _END_COLUMNS) or [None] * len(table)
    base = posixpath.dirname(location.uri(location.root))
    clips, infos = [], {}
    for uri, start, end in zip(table.column("uri").to_pylist(), starts, ends):
        if not uri:
            continue
        if "://" not in uri and not os.path.isabs(uri):
            uri = posixpath.join(base, uri)
        start_s, end_s = _bound(start, uri, "start"), _bound(end, uri, "end")
        if end_s is not None and end_s <= (start_s or 0.0):
            raise UserError(f"manifest row for {uri!r} ends ({end_s:g} s) before it starts ({start_s or 0.0:g} s)")
        if uri not in infos:
            try:
                where = open_location(uri, endpoint_url)
                infos[uri] = where.fs.info(where.root)
            except (FileNotFoundError, OSError):
                infos[uri] = {"size": 0}  # kept: it becomes a not_found error row rather than vanishing
        clips.append(ClipRef(uri, _fingerprint(infos[uri]), start_s, end_s))
    return clips


@dataclass(frozen=True, eq=False)
class Clip:
    audio: np.ndarray  # mono float32 at 24 kHz
    frames: np.ndarray  # [N, height, width, 3] uint8 RGB
    duration_s: float


def _rgb(frame: av.VideoFrame, max_side: int) -> np.ndarray:
    scale = min(1.0, max_side / max(frame.width, frame.height))
    width, height = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
    return frame.to_ndarray(format="rgb24", width=width, height=height)


def _video_duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def sample_frames(
    source, start_s: float, end_s: float | None, count: int, max_side: int = 256, max_clip_s: float | None = None
) -> tuple[np.ndarray, float]:
    """`count` frames at the centres of `count` equal parts of [start, end); returns (frames, clip duration).

    Frames are decoded in order from the keyframe before `start_s`, so the sampled frame is the first one
    shown at or after each target time (the last decoded frame when the video ends first)."""
    try:
        with av.open(source, mode="r") as container:
            if not container.streams.video:
                raise ClipError("no_video", "the file has no video track")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            duration = _video_duration(container, stream)
            if duration is None:
                duration = _demuxed_duration(container, stream)
            end = min(end_s, duration) if end_s is not None else duration
            if duration is not None and start_s >= duration:
                raise ClipError(
                    "segment_out_of_range", f"the segment starts at {start_s:g} s but the video lasts {duration:.2f} s"
                )
            if max_clip_s is not None and end - start_s > max_clip_s:
                # Checked before any decoding: a whole feature film would otherwise be held in memory as one clip.
                raise ClipError(
                    "too_long",
                    f"the clip lasts {end - start_s:.0f} s, more than the {max_clip_s:g} s limit; "
                    "list shorter segments in a manifest or raise the limit",
                )
            if start_s > 0:
                container.seek(int(start_s / stream.time_base), stream=stream, backward=True, any_frame=False)
            frames: list[np.ndarray] = []
            targets = _targets(start_s, end, count)
            last = None
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                if frame.time < start_s - 1e-6:
                    continue
                if frame.time >= end:
                    break
                last = frame
                while targets and frame.time + 1e-6 >= targets[0] - _half_frame(stream):
                    frames.append(_rgb(frame, max_side))
                    targets.pop(0)
                if not targets:
                    break
            if last is None:
                raise ClipError("no_video", "no video frame decodes inside the segment")
            while len(frames) < count:  # the video ended before the last targets
                frames.append(_rgb(last, max_side))
            return np.stack(frames), float(max(0.0, end - start_s))
    except av.error.FFmpegError as exc:
        raise ClipError(
            "decode_failed", f"the video does not decode ({exc.__class__.__name__}: {getattr(exc, 'strerror', exc)})"
        ) from None


def _demuxed_duration(container, stream) -> float:
    """The end of the last packet, for containers whose header states no duration (read without decoding)."""
    end = 0.0
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    container.seek(0, stream=stream)
    return end


def _targets(start: float, end: float, count: int) -> list[float]:
    step = (end - start) / count
    return [start + (k + 0.5) * step for k in range(count)]


def _half_frame(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate
    return 0.5 / float(rate) if rate else 0.0


def clip_audio(source, start_s: float, end_s: float | None, min_seconds: float = 1.0) -> np.ndarray:
    """The soundtrack of [start, end) as mono float32 at 24 kHz (decoding stops at `end_s`)."""
    try:
        decoded = decode(source, max_seconds=end_s, min_seconds=0.0)
    except AudioError as exc:
        if exc.kind == "unsupported" and "no audio track" in exc.reason:
            raise ClipError("no_audio", "the video has no audio track") from None
        raise ClipError(f"audio_{exc.kind}", exc.reason) from None
    samples = decoded.samples[round(start_s * SAMPLE_RATE) :]
    if samples.size < min_seconds * SAMPLE_RATE:
        raise ClipError(
            "too_short", f"the clip has {samples.size / SAMPLE_RATE:.2f} s of audio, less than the {min_seconds:g} s minimum"
        )
    return samples


def extract_clip(
    source,
    start_s: float | None,
    end_s: float | None,
    frames: int,
    min_seconds: float = 1.0,
    max_side: int = 256,
    max_clip_s: float | None = None,
) -> Clip:
    """Frames, then soundtrack, of one clip; `source` is a local path or a seekable binary file."""
    start = start_s or 0.0
    pictures, duration = sample_frames(source, start, end_s, frames, max_side, max_clip_s)
    if hasattr(source, "seek"):
        source.seek(0)
    audio = clip_audio(source, start, end_s, min_seconds)
    return Clip(audio=audio, frames=pictures, duration_s=duration or audio.size / SAMPLE_RATE)
