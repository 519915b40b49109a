"""The duration a WAV file's RIFF header declares, read from its data chunk's size field.

FFmpeg derives a WAV file's duration from the file size, so a copy cut in half (or one whose data
chunk size was damaged) looks complete. The declared size is the evidence that it is not: with it
as the header duration, a scan reports such a file as ending early, as it does for other formats."""

from __future__ import annotations

import struct
from collections.abc import Callable

# Writers that stream WAV without knowing the length leave these placeholders in the size field.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
_MAX_CHUNKS = 64


def wav_declared_seconds(read_at: Callable[[int, int], bytes]) -> float | None:
    """Seconds of audio the data chunk declares; None when the header does not say (or is not RIFF WAVE)."""
    if read_at(0, 4) != b"RIFF" or read_at(8, 4) != b"WAVE":
        return None  # RF64, Wave64 and others declare sizes elsewhere
    offset, byte_rate = 12, 0
    for _ in range(_MAX_CHUNKS):
        header = read_at(offset, 8)
        if len(header) < 8:
            return None
        chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk_id == b"fmt ":
            fmt = read_at(offset + 8, 16)
            if len(fmt) >= 12:
                byte_rate = struct.unpack("<I", fmt[8:12])[0]
        elif chunk_id == b"data":
            return size / byte_rate if byte_rate > 0 and size not in _UNKNOWN_SIZES else None
        offset += 8 + size + (size & 1)  # chunks are padded to even sizes
    return None
