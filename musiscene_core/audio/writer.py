"""Write audio (and small test videos) in every format the reader accepts.

Used by tests, fixtures and the demo catalog. PCM containers, FLAC, Ogg Vorbis and MP3 go
through libsndfile (exact control of the sample format; LAME in VBR mode, because LAME at a
constant bit rate below 320 kbit/s lowers even a pure tone's level by 0.45 dB); AAC, Opus and
the video containers through the FFmpeg bundled with PyAV (encoders aac, libopus, libx264,
libvpx).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

# libsndfile container name and default sample format per format.
_SOUNDFILE_FORMATS = {
    "wav": ("WAV", "PCM_16"),
    "aiff": ("AIFF", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
_SOUNDFILE_BLOCK = 32768  # frames per write call

# Formats whose codec stores only some sample rates, by the FFmpeg encoder that knows the list.
_RATE_LIMITED_CODECS = {"mp3": "libmp3lame"}


@dataclass(frozen=True)
class _FfmpegRecipe:
    muxer: str
    audio_codec: str
    video_codec: str | None = None


_FFMPEG_FORMATS = {
    "opus": _FfmpegRecipe("opus", "libopus"),
    "aac": _FfmpegRecipe("adts", "aac"),
    "m4a": _FfmpegRecipe("ipod", "aac"),
    "mp4": _FfmpegRecipe("mp4", "aac", "libx264"),
    "mkv": _FfmpegRecipe("matroska", "aac", "libx264"),
    "webm": _FfmpegRecipe("webm", "libopus", "libvpx"),
}

WRITABLE_FORMATS = tuple(_SOUNDFILE_FORMATS) + tuple(_FFMPEG_FORMATS)

# FFmpeg's default layout for each channel count.
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}

# The test videos: a tiny grey picture whose brightness drifts, a few frames per second.
_VIDEO_SIZE = 32
_VIDEO_FPS = 5


def write_audio(
    path: str | os.PathLike,
    samples: np.ndarray,
    sample_rate: int,
    format: str,
    channels: int | None = None,
    subtype: str | None = None,
) -> Path:
    """Write `samples` (float in [-1, 1]; shape (n,) or (n, channels)) to `path` as `format`.

    `channels` copies a 1-D signal into that many channels (default: the array's own count).
    `subtype` is libsndfile's sample format for wav/aiff/flac: "PCM_U8" (wav), "PCM_S8",
    "PCM_16" (the default), "PCM_24", "PCM_32", "FLOAT", "DOUBLE" (not flac). Codecs that
    cannot store `sample_rate` (Opus stores 8/12/16/24/48 kHz, MP3 8 to 48 kHz) get the audio
    resampled to the nearest rate they can store, preferring the next higher one.
    mp4 and mkv get H.264 video + AAC audio, webm VP8 video + Opus audio.
    """
    if format not in WRITABLE_FORMATS:
        raise ValueError(f"cannot write format {format!r}; choose one of {', '.join(WRITABLE_FORMATS)}")
    frames = _as_frames(samples, channels)
    path = Path(path)
    if format in _SOUNDFILE_FORMATS:
        container, default_subtype = _SOUNDFILE_FORMATS[format]
        if format in _RATE_LIMITED_CODECS:
            frames, sample_rate = _at_storable_rate(frames, sample_rate, _RATE_LIMITED_CODECS[format])
        with sf.SoundFile(path, "w", sample_rate, frames.shape[1], subtype or default_subtype, format=container) as out:
            # libsndfile 1.2.2's Vorbis encoder crashes, or writes headers only, when handed
            # a minute of audio in one call; modest blocks are safe for every format.
            for start in range(0, len(frames), _SOUNDFILE_BLOCK):
                out.write(frames[start : start + _SOUNDFILE_BLOCK])
        return path
    if subtype is not None:
        raise ValueError(f"subtype applies to libsndfile formats ({', '.join(_SOUNDFILE_FORMATS)}), not {format}")
    _write_with_ffmpeg(path, frames, sample_rate, _FFMPEG_FORMATS[format])
    return path


def storable_rate(codec_name: str, sample_rate: int) -> int:
    """The rate `codec_name` will store for audio at `sample_rate` (see write_audio)."""
    rates = av.Codec(codec_name, "w").audio_rates
    if not rates or sample_rate in rates:
        return sample_rate
    higher = [r for r in rates if r > sample_rate]
    return min(higher) if higher else max(rates)


def _at_storable_rate(frames: np.ndarray, sample_rate: int, codec_name: str) -> tuple[np.ndarray, int]:
    rate = storable_rate(codec_name, sample_rate)
    if rate == sample_rate:
        return frames, rate
    return soxr.resample(frames, sample_rate, rate, quality="VHQ").astype(np.float32), rate


def _as_frames(samples: np.ndarray, channels: int | None) -> np.ndarray:
    frames = np.asarray(samples, dtype=np.float32)
    if frames.ndim == 1:
        frames = np.repeat(frames[:, None], channels or 1, axis=1)
    elif frames.ndim != 2 or (channels is not None and channels != frames.shape[1]):
        raise ValueError(f"samples must be (n,) or (n, channels); got shape {frames.shape} for channels={channels}")
    return np.ascontiguousarray(frames)


def _write_with_ffmpeg(path: Path, frames: np.ndarray, sample_rate: int, recipe: _FfmpegRecipe) -> None:
    if not len(frames):
        raise ValueError("FFmpeg-written formats need at least one sample; wav, aiff and flac can be written empty")
    frames, rate = _at_storable_rate(frames, sample_rate, recipe.audio_codec)
    layout = _LAYOUTS.get(frames.shape[1])
    if layout is None:
        raise ValueError(f"cannot write {frames.shape[1]} channels with FFmpeg; 1 to 8 are supported")
    seconds = len(frames) / rate
    with av.open(str(path), mode="w", format=recipe.muxer) as out:
        audio = out.add_stream(recipe.audio_codec, rate=rate, layout=layout)
        audio.bit_rate = _audio_bit_rate(rate, frames.shape[1])
        video = _add_video_stream(out, recipe.video_codec) if recipe.video_codec else None
        # Feed audio and video in 1/FPS steps so the muxer can interleave them as it goes.
        step = max(1, rate // _VIDEO_FPS)
        for index, start in enumerate(range(0, len(frames), step)):
            block = np.ascontiguousarray(frames[start : start + step].T)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(audio.encode(frame))
            if video is not None and index < math.ceil(seconds * _VIDEO_FPS):
                out.mux(video.encode(_video_frame(index)))
        out.mux(audio.encode(None))
        if video is not None:
            out.mux(video.encode(None))


def _audio_bit_rate(rate: int, channels: int) -> int:
    # Generous, so that level and pitch survive; AAC's encoder lowers it where a low rate caps it.
    per_channel = 64_000 if rate >= 32_000 else 32_000 if rate >= 16_000 else 16_000
    return per_channel * channels


def _add_video_stream(out: av.container.OutputContainer, codec_name: str) -> av.video.stream.VideoStream:
    video = out.add_stream(codec_name, rate=_VIDEO_FPS)
    video.width = video.height = _VIDEO_SIZE
    video.pix_fmt = "yuv420p"
    if codec_name == "libx264":
        video.options = {"preset": "ultrafast"}
    return video


def _video_frame(index: int) -> av.VideoFrame:
    level = 64 + (index * 8) % 128
    picture = np.full((_VIDEO_SIZE, _VIDEO_SIZE, 3), level, dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
    frame.pts = index
    return frame
