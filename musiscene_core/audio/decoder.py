"""Stream one file's audio track as mono float32 at its native rate, with FFmpeg (PyAV).

Everything that can go wrong with a file is turned into an AudioError here; the layers above
only resample, cut and collect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import av
import numpy as np

from .errors import AudioError
from .info import AudioInfo
from .sniff import Container, detect_container, looks_like_text
from .source import OpenSource, Source, open_source
from .wav_header import wav_declared_seconds

# Larger than PyAV's 32 KiB default: fewer Python read callbacks per megabyte.
_IO_BUFFER_BYTES = 256 * 1024

# A stream is rejected when more than this share of its packets fail to decode. Isolated bad
# packets (a damaged sector, a cut-off last frame) are skipped, as players do.
_MAX_BAD_PACKET_SHARE = 0.10

# Integer PCM is scaled so that full scale maps to [-1, 1); floats pass through unclipped.
_SCALES = {"u8": 1 / 128, "s16": 1 / 2**15, "s32": 1 / 2**31, "s64": 1 / 2**63, "flt": 1.0, "dbl": 1.0}

_DEMUXERS = {"mp4": "mp4", "mov": "mp4", "mkv": "matroska", "webm": "matroska"}


@dataclass
class DecodeStats:
    """What a full pass over the track saw; filled in while frames are read."""

    packets: int = 0
    bad_packets: int = 0
    cut_short: bool = False  # the demuxer hit damaged or missing data before the end
    samples: int = 0  # decoded samples per channel, summed over rate changes
    _rate: int = 0
    _samples_at_rate: int = 0  # counted per rate so that durations add up without rounding drift
    _seconds_before: float = 0.0

    @property
    def seconds(self) -> float:
        """Decoded duration so far."""
        return self._seconds_before + (self._samples_at_rate / self._rate if self._rate else 0.0)

    def count(self, samples: int, rate: int) -> None:
        if rate != self._rate:
            self._seconds_before, self._rate, self._samples_at_rate = self.seconds, rate, 0
        self._samples_at_rate += samples
        self.samples += samples


@dataclass
class AudioTrack:
    """An opened container positioned at its first audio packet."""

    container: av.container.InputContainer
    stream: av.audio.stream.AudioStream
    info: AudioInfo
    header_duration_s: float | None  # None when the container does not say
    stats: DecodeStats = field(default_factory=DecodeStats)

    def frames(self) -> Iterator[av.AudioFrame]:
        """Decoded frames in order. After the last one, raises AudioError if the stream turned
        out to be undecodable or empty."""
        codec = self.stream.codec_context
        stats = self.stats
        try:
            for packet in self.container.demux(self.stream):
                if packet.size == 0:  # PyAV's end-of-stream marker; the decoder is flushed below
                    continue
                stats.packets += 1
                try:
                    decoded = codec.decode(packet)
                except av.error.FFmpegError:
                    stats.bad_packets += 1
                    continue
                yield from self._counted(decoded)
        except av.error.FFmpegError:
            # The demuxer cannot go on (truncated or damaged container): keep what was decoded.
            stats.cut_short = True
        except OSError as err:
            raise AudioError("unreadable", f"reading the file failed part-way ({err}).") from None
        try:
            yield from self._counted(codec.decode(None))
        except av.error.FFmpegError:
            stats.bad_packets += 1
        self._check_outcome()

    def blocks(self, min_block_seconds: float = 1.0) -> Iterator[tuple[int, np.ndarray]]:
        """(sample_rate, mono float32 samples) blocks of at least `min_block_seconds` (except the
        last); the rate is carried with each block because a stream may change it midway."""
        pending: list[np.ndarray] = []
        pending_rate = 0
        pending_samples = 0
        for frame in self.frames():
            rate = frame.sample_rate
            if pending and rate != pending_rate:
                yield pending_rate, _joined(pending)
                pending, pending_samples = [], 0
            pending.append(frame_to_mono(frame))
            pending_rate = rate
            pending_samples += frame.samples
            if pending_samples >= min_block_seconds * rate:
                yield pending_rate, _joined(pending)
                pending, pending_samples = [], 0
        if pending:
            yield pending_rate, _joined(pending)

    def _counted(self, frames: list[av.AudioFrame]) -> Iterator[av.AudioFrame]:
        for frame in frames:
            if frame.samples:
                self.stats.count(frame.samples, frame.sample_rate)
                yield frame

    def _check_outcome(self) -> None:
        stats = self.stats
        if stats.samples == 0:
            if stats.bad_packets or stats.cut_short or (self.header_duration_s or 0.0) > 0.0:
                declared = f" although the header declares {self.header_duration_s:.1f} s" if self.header_duration_s else ""
                raise AudioError("decode_failed", f"no audio could be decoded from the {self.info.format} file{declared}.")
            raise AudioError("empty", f"the {self.info.format} file holds no audio samples.")
        if stats.bad_packets > max(1.0, _MAX_BAD_PACKET_SHARE * stats.packets):
            raise AudioError(
                "decode_failed",
                f"{stats.bad_packets} of {stats.packets} audio packets in the {self.info.format} file failed to decode.",
            )


def frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    """The mean of a frame's channels as float32, integer formats scaled to [-1, 1)."""
    name = frame.format.name
    base = name[:-1] if frame.format.is_planar else name
    scale = _SCALES.get(base)
    if scale is None:
        raise AudioError("unsupported", f"the decoder produced sample format {name}, which is not handled.")
    channels = frame.layout.nb_channels
    data = frame.to_ndarray()
    # Rows of one channel each: planar frames come as (channels, n), interleaved as (1, n * channels).
    rows = data if frame.format.is_planar else data.reshape(-1, channels).T
    # Summing rows one by one is several times faster than mean(axis=...) over a short axis.
    mono = rows[0].astype(np.float32)
    for row in rows[1:]:
        mono += row
    if base == "u8":
        mono -= 128.0 * channels
    factor = scale / channels
    if factor != 1.0:
        mono *= np.float32(factor)
    return mono


@contextmanager
def open_audio(source: Source) -> Iterator[AudioTrack]:
    """Open the source, recognise its container from content and select its main audio track.
    Raises AudioError for anything that is not a readable audio track."""
    with open_source(source) as src:
        container_kind = _detected(src)
        declared = _wav_declared_seconds(src) if container_kind.format == "wav" else None
        container = _open_container(src, container_kind)
        try:
            yield _audio_track(container, container_kind, declared)
        finally:
            container.close()


def _wav_declared_seconds(src: OpenSource) -> float | None:
    try:
        return wav_declared_seconds(src.read_at)
    except OSError as err:
        raise AudioError("unreadable", f"the file cannot be read ({err}).") from None
    finally:
        src.file.seek(0)


def _detected(src: OpenSource) -> Container:
    try:
        found = detect_container(src.read_at)
        head = src.read_at(0, 512)
        src.file.seek(0)
    except OSError as err:
        raise AudioError("unreadable", f"the file cannot be read ({err}).") from None
    if found is not None:
        return found
    what = "text" if looks_like_text(head) else "not in any audio or video format we decode"
    named = f" although its name ends in {src.extension}" if src.extension else ""
    raise AudioError("unsupported", f"the content is {what}{named}.")


def _open_container(src: OpenSource, kind: Container) -> av.container.InputContainer:
    try:
        return av.open(
            src.file,
            mode="r",
            format=_DEMUXERS.get(kind.format, kind.demuxer),
            buffer_size=_IO_BUFFER_BYTES,
            metadata_errors="replace",  # badly encoded tags must not make a playable file fail
        )
    except av.error.FFmpegError as err:
        raise AudioError(
            "unreadable",
            f"the {kind.format} header cannot be parsed ({_ffmpeg_reason(err)}); the file is truncated or corrupt.",
        ) from None
    except OSError as err:
        raise AudioError("unreadable", f"the file cannot be read ({err}).") from None


def _audio_track(container: av.container.InputContainer, kind: Container, declared_s: float | None = None) -> AudioTrack:
    """The main audio track; `declared_s` overrides the container's duration where the header says more (WAV)."""
    stream = container.streams.best("audio")
    if stream is None:
        raise AudioError("unsupported", f"the {kind.format} file has no audio track.")
    codec = stream.codec_context
    codec_name = stream.codec_context.codec.canonical_name if codec is not None else "unknown"
    if codec is None or codec.sample_rate <= 0 or codec.layout.nb_channels <= 0:
        raise AudioError("unsupported", f"the {kind.format} file's audio track ({codec_name}) cannot be decoded here.")
    fmt = kind.format
    if fmt == "mp4" and not _has_real_video(container):
        fmt = "m4a"  # ISO-BMFF with sound only (cover art does not count as video)
    duration = declared_s if declared_s is not None else _header_duration(container, stream)
    info = AudioInfo(
        format=fmt,
        codec=codec_name,
        sample_rate=int(codec.sample_rate),
        channels=int(codec.layout.nb_channels),
        duration_s=duration if duration is not None else float("nan"),
    )
    return AudioTrack(container=container, stream=stream, info=info, header_duration_s=duration)


def _has_real_video(container: av.container.InputContainer) -> bool:
    return any(not (s.disposition & av.stream.Disposition.attached_pic) for s in container.streams.video)


def _header_duration(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float | None:
    if stream.duration is not None and stream.duration > 0 and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _ffmpeg_reason(err: av.error.FFmpegError) -> str:
    return (getattr(err, "strerror", None) or type(err).__name__).rstrip(".").lower()


def _joined(pieces: list[np.ndarray]) -> np.ndarray:
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
