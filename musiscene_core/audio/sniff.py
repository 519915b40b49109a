"""Recognise a container from its first bytes, never from its name.

A file called `song.mp3` may hold FLAC, AAC or a text page saved by a browser; FFmpeg, handed a
file name, weighs the extension in its guess. We read the magic numbers ourselves, tell FFmpeg
exactly which demuxer to use, and reject content we do not recognise before FFmpeg tries to
salvage it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# How far into the file (after any ID3 tag) raw MPEG/ADTS frame syncs are searched for.
SYNC_SEARCH_BYTES = 64 * 1024

ReadAt = Callable[[int, int], bytes]  # (offset, size) -> at most size bytes


@dataclass(frozen=True)
class Container:
    """`format` is our short name (see AudioInfo.format); `demuxer` is FFmpeg's input format."""

    format: str
    demuxer: str


def detect_container(read_at: ReadAt) -> Container | None:
    """The container the bytes hold, or None when they match no format we decode."""
    head = read_at(0, 64)
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return Container("wav", "wav")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return Container("aiff", "aiff")
    if head[:4] == b"OggS":
        return _ogg(read_at)
    if head[4:8] == b"ftyp":
        # QuickTime keeps its own name; every other ISO-BMFF brand is refined to "mp4" or "m4a"
        # once the reader knows whether a video track is present.
        return Container("mov" if head[8:12] == b"qt  " else "mp4", "mov,mp4,m4a,3gp,3g2,mj2")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return Container("webm" if _ebml_doctype(read_at(0, 256)) == b"webm" else "mkv", "matroska,webm")

    offset = _id3v2_size(head)  # MP3, FLAC and ADTS files may all start with an ID3 tag
    if read_at(offset, 4) == b"fLaC":
        return Container("flac", "flac")
    return _mpeg_frames(read_at(offset, SYNC_SEARCH_BYTES))


def looks_like_text(head: bytes) -> bool:
    """True for content that is printable UTF-8 (used only to word an error message)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _ogg(read_at: ReadAt) -> Container:
    # The first page carries exactly the codec identification packet; its body starts after the
    # 27-byte page header and the segment table.
    page = read_at(0, 27 + 255 + 16)
    if len(page) > 27:
        body = page[27 + page[26] :]
        if body.startswith(b"OpusHead"):
            return Container("opus", "ogg")
    return Container("ogg", "ogg")


def _ebml_doctype(head: bytes) -> bytes | None:
    at = head.find(b"\x42\x82")  # the DocType element id
    if at < 0 or at + 3 > len(head):
        return None
    size_byte = head[at + 2]
    # The element size is an EBML variable-length integer; DocType sizes are tiny, so only the
    # one-byte form (leading bit set) is expected.
    if not size_byte & 0x80:
        return None
    size = size_byte & 0x7F
    return head[at + 3 : at + 3 + size]


def _id3v2_size(head: bytes) -> int:
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    size = 0
    for byte in head[6:10]:  # "syncsafe" integer: 7 bits per byte
        size = (size << 7) | (byte & 0x7F)
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


# Bit rates in kbit/s by (is MPEG-1, layer) and bit-rate index 1..14.
_MPEG_BITRATES = {
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Sample rates by version bits (0 = MPEG-2.5, 2 = MPEG-2, 3 = MPEG-1) and rate index 0..2.
_MPEG_RATES = {0: (11025, 12000, 8000), 2: (22050, 24000, 16000), 3: (44100, 48000, 32000)}
_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)

# A single sync word shows up in random bytes every few kilobytes; a chain of this many frames,
# each starting exactly where the previous one ends, does not.
_FRAMES_TO_CONFIRM = 3


def _mpeg_frame_length(data: bytes, at: int) -> int | None:
    """Length of the MPEG audio layer II/III frame whose header starts at `at`, else None."""
    b1, b2 = data[at + 1], data[at + 2]
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3  # layer bits: 3 = layer I, 2 = II, 1 = III
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 3
    if version == 1 or layer not in (1, 2) or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    layer_number = 4 - layer
    bitrate = _MPEG_BITRATES[(mpeg1, layer_number)][bitrate_index - 1] * 1000
    rate = _MPEG_RATES[version][rate_index]
    samples_per_frame = 576 if (layer_number == 3 and not mpeg1) else 1152
    return samples_per_frame // 8 * bitrate // rate + ((b2 >> 1) & 1)


def _adts_frame_length(data: bytes, at: int) -> int | None:
    """Length of the ADTS (raw AAC) frame whose header starts at `at`, else None."""
    if at + 7 > len(data) or (data[at + 2] >> 2) & 0xF >= len(_ADTS_RATES):
        return None
    length = ((data[at + 3] & 0x3) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
    return length if length >= 7 else None


def _mpeg_frames(data: bytes) -> Container | None:
    """MP3 or ADTS AAC when a chain of frames starts within the searched bytes."""
    at = data.find(b"\xff")
    while 0 <= at <= len(data) - 4:
        if data[at + 1] & 0xE0 == 0xE0:
            is_adts = data[at + 1] & 0xF6 == 0xF0  # 12-bit sync, layer bits 00
            frame_length = _adts_frame_length if is_adts else _mpeg_frame_length
            if _chain_holds(data, at, frame_length):
                return Container("aac", "aac") if is_adts else Container("mp3", "mp3")
        at = data.find(b"\xff", at + 1)
    return None


def _chain_holds(data: bytes, at: int, frame_length: Callable[[bytes, int], int | None]) -> bool:
    for seen in range(1, _FRAMES_TO_CONFIRM + 1):
        length = frame_length(data, at)
        if length is None:
            return False
        at += length
        if at > len(data) - 3:
            # The searched bytes (or a tiny file) end inside the chain; two linked headers are
            # still far too unlikely to be chance.
            return seen >= 2
        if data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
            return False
    return True
