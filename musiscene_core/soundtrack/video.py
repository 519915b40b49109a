"""Reading a video's streams and writing a new soundtrack into it, with PyAV. The video packets are copied, never re-encoded."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from musiscene_core.errors import UserError

MUX_RATE = 48000  # AAC at the rate video tools expect
_AAC_FRAME = 1024


@dataclass(frozen=True)
class VideoInfo:
    path: str
    duration_s: float  # span of the video stream's packets (first pts to last pts + duration)
    has_audio: bool
    audio_duration_s: float | None
    video_codec: str
    width: int
    height: int


def _span(packets, time_base) -> float | None:
    first = last = None
    for packet in packets:
        if packet.pts is None:
            continue
        end = packet.pts + (packet.duration or 0)
        first = packet.pts if first is None else min(first, packet.pts)
        last = end if last is None else max(last, end)
    return None if first is None else float((last - first) * time_base)


def probe_video(path: str | Path) -> VideoInfo:
    """Demux the whole file (no decoding): proves it is readable and measures its streams exactly."""
    path = str(path)
    if not Path(path).is_file():
        raise UserError(f"{path} does not exist")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise UserError(f"{path} has no video stream")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            spans = {video.index: [], **({audio.index: []} if audio is not None else {})}
            for packet in container.demux(*[s for s in (video, audio) if s is not None]):
                if packet.stream.index in spans:
                    spans[packet.stream.index].append(packet)
            duration = _span(spans[video.index], video.time_base)
            audio_duration = _span(spans[audio.index], audio.time_base) if audio is not None else None
            info = VideoInfo(
                path,
                duration or 0.0,
                audio is not None and bool(audio_duration),
                audio_duration,
                video.codec_context.name,
                video.codec_context.width,
                video.codec_context.height,
            )
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path} is not a readable video ({str(exc).splitlines()[0] or exc.__class__.__name__})") from None
    if info.duration_s <= 0:
        raise UserError(f"{path} holds no video frames")
    return info


def read_audio(path: str, rate: int = MUX_RATE) -> np.ndarray:
    """The video's first audio stream as float32 [2, samples] at `rate` (for mixing under)."""
    pieces = []
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
    with av.open(path) as container:
        for frame in container.decode(container.streams.audio[0]):
            for out in resampler.resample(frame):
                pieces.append(out.to_ndarray())
        for out in resampler.resample(None):
            pieces.append(out.to_ndarray())
    return np.concatenate(pieces, axis=1).astype(np.float32) if pieces else np.zeros((2, 0), np.float32)


def mux(video_path: str, audio: np.ndarray, out_path: str | Path, rate: int = MUX_RATE, bit_rate: int = 192_000) -> None:
    """Write `out_path` (MP4): the input's first video stream copied packet for packet + `audio` ([2, T] float at `rate`) as AAC.

    Written to a temporary name and renamed, so an existing output is always complete.
    """
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.name}.partial")
    try:
        with av.open(video_path) as source, av.open(str(tmp), "w", format="mp4") as sink:
            video_in = source.streams.video[0]
            video_out = sink.add_stream_from_template(video_in)
            encoder = _AacWriter(sink, audio, rate, bit_rate)
            for packet in source.demux(video_in):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                # Interleave: audio runs a second ahead of the video the muxer has reached.
                encoder.write_until(float(packet.dts * video_in.time_base) + 1.0)
                packet.stream = video_out
                sink.mux(packet)
            encoder.finish()
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)


def check_muxable(video_path: str) -> None:
    """Raise a one-sentence error unless the video stream can be copied into an MP4 as it is."""
    with av.open(video_path) as source, av.open(io.BytesIO(), "w", format="mp4") as sink:
        codec = source.streams.video[0].codec_context.name
        try:
            sink.add_stream_from_template(source.streams.video[0])
        except (ValueError, av.error.FFmpegError):
            raise UserError(
                f"the {codec} video of {video_path} cannot be copied into an MP4; convert it to H.264, H.265, AV1 or VP9 first"
            ) from None


class _AacWriter:
    def __init__(self, sink, audio: np.ndarray, rate: int, bit_rate: int):
        self.sink = sink
        self.audio = np.ascontiguousarray(np.clip(audio, -1.0, 1.0), dtype=np.float32)
        self.rate = rate
        self.stream = sink.add_stream("aac", rate=rate, layout="stereo")
        self.stream.bit_rate = bit_rate
        self.written = 0

    def write_until(self, seconds: float) -> None:
        stop = min(self.audio.shape[1], int(seconds * self.rate))
        while self.written < stop:
            chunk = self.audio[:, self.written : self.written + _AAC_FRAME]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
            frame.sample_rate = self.rate
            frame.pts = self.written
            frame.time_base = Fraction(1, self.rate)
            self.sink.mux(self.stream.encode(frame))
            self.written += chunk.shape[1]

    def finish(self) -> None:
        self.write_until(self.audio.shape[1] / self.rate + 1.0)
        self.sink.mux(self.stream.encode(None))
