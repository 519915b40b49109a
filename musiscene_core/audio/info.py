"""Constants and the header summary shared by the whole audio layer."""

from __future__ import annotations

from dataclasses import dataclass

# MERT (and therefore MU-LLaMA / MusiScene) consumes 24 kHz mono audio.
SAMPLE_RATE = 24000

# Anything shorter is almost certainly a broken file or a jingle, not a track worth captioning.
DEFAULT_MIN_SECONDS = 1.0


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds. `format` is the container detected from content ("wav", "flac", "ogg",
    "opus", "mp3", "aac", "m4a", "mp4", "mov", "mkv", "webm", "aiff"); `codec` is FFmpeg's
    decoder name for the audio track; `sample_rate` and `channels` are the track's native ones."""

    format: str
    codec: str
    sample_rate: int
    channels: int
    duration_s: float
