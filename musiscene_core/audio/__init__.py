"""Audio I/O: any common audio or video file -> mono float32 at 24 kHz, streamed in bounded
memory, with every failure reported as an AudioError of a fixed kind."""

from .errors import ERROR_KINDS, AudioError
from .info import DEFAULT_MIN_SECONDS, SAMPLE_RATE, AudioInfo
from .load import DecodedAudio, decode, iter_chunks, probe, scan_file
from .source import Source
from .windows import DEFAULT_WINDOW_POLICY, MuLlamaParity, WholeTrack, Window, WindowPolicy
from .writer import WRITABLE_FORMATS, write_audio

__all__ = [
    "SAMPLE_RATE",
    "DEFAULT_MIN_SECONDS",
    "ERROR_KINDS",
    "AudioError",
    "AudioInfo",
    "DecodedAudio",
    "Source",
    "probe",
    "decode",
    "iter_chunks",
    "scan_file",
    "Window",
    "WindowPolicy",
    "MuLlamaParity",
    "WholeTrack",
    "DEFAULT_WINDOW_POLICY",
    "WRITABLE_FORMATS",
    "write_audio",
]
