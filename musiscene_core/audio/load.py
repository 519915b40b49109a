"""The public reading API: probe a header, decode a track, stream it in chunks, validate it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace

import numpy as np

from .decoder import open_audio
from .errors import AudioError
from .info import DEFAULT_MIN_SECONDS, SAMPLE_RATE, AudioInfo
from .resample import rechunked, resampled
from .source import Source


@dataclass(frozen=True, eq=False)  # holds an array: compare samples explicitly
class DecodedAudio:
    """Mono float32 samples at `sample_rate`. `info` is the file's header; `duration_s` is the
    decoded length of the whole source when it was read to the end, the header's otherwise."""

    samples: np.ndarray
    sample_rate: int
    info: AudioInfo
    duration_s: float


def probe(source: Source) -> AudioInfo:
    """Read the container header only: format, codec, native rate and channels, stated duration
    (nan when the container does not state one). Raises AudioError."""
    with open_audio(source) as track:
        return track.info


def decode(
    source: Source,
    target_sr: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    require_complete: bool = False,
) -> DecodedAudio:
    """Decode to mono float32 at `target_sr`, reading no further than `max_seconds` of audio.
    Raises AudioError, with kind "too_short" when the source is shorter than `min_seconds`, and with
    `require_complete`, "decode_failed" when a source read to its end stops well before the duration
    its header declares (a truncated copy; by default what is there is kept, as players do)."""
    if max_seconds is not None and max_seconds < min_seconds:
        raise ValueError(f"max_seconds ({max_seconds}) is below min_seconds ({min_seconds})")
    limit = None if max_seconds is None else round(max_seconds * target_sr)
    with open_audio(source) as track:
        pieces: list[np.ndarray] = []
        collected = 0
        with closing(resampled(track.blocks(), target_sr)) as pieces_in:
            for piece in pieces_in:
                pieces.append(piece)
                collected += piece.size
                if limit is not None and collected >= limit:
                    break  # stop decoding: the rest of the file is never read
        read_to_end = limit is None or collected < limit
        samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        if not read_to_end:
            samples = samples[:limit]
        duration = track.stats.seconds if read_to_end else track.info.duration_s
        info = track.info
    if read_to_end:
        if require_complete:
            _require_complete(duration, info)
        _require_length(duration, min_seconds)
    return DecodedAudio(samples=samples, sample_rate=target_sr, info=info, duration_s=duration)


def iter_chunks(
    source: Source,
    target_sr: int = SAMPLE_RATE,
    chunk_seconds: float = 10.0,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    require_complete: bool = False,
) -> Iterator[np.ndarray]:
    """Mono float32 chunks at `target_sr`, each exactly `chunk_seconds` long except the last,
    produced while the file is decoded (memory stays at a few chunks whatever the track length).

    A source shorter than `min_seconds` raises AudioError("too_short") before any chunk is
    yielded, as long as `min_seconds <= chunk_seconds`; other decoding failures can surface after
    some chunks were yielded. With `require_complete`, a source that ends well before the duration its
    header declares raises AudioError("decode_failed") in place of the last chunk: only at the end of
    the stream is the truncation known, so a consumer must not commit anything before the iteration ends."""
    chunk_samples = max(1, round(chunk_seconds * target_sr))
    with open_audio(source) as track:
        held: np.ndarray | None = None
        # One chunk is held back so that the too-short check can run before anything is yielded.
        with closing(rechunked(resampled(track.blocks(), target_sr), chunk_samples)) as chunks:
            for chunk in chunks:
                if held is not None:
                    yield held
                held = chunk
        if require_complete:
            _require_complete(track.stats.seconds, track.info)
        _require_length(track.stats.seconds, min_seconds)
        if held is not None:
            yield held


def scan_file(source: Source, min_seconds: float = DEFAULT_MIN_SECONDS) -> AudioInfo:
    """Decode the whole file (no resampling, bounded memory) to prove it is usable; returns its
    header info with `duration_s` replaced by the true decoded duration. A file that decodes to
    clearly less than its header declares is reported as truncated. Raises AudioError."""
    with open_audio(source) as track:
        for _ in track.frames():
            pass
        seconds = track.stats.seconds
        info = track.info
    _require_complete(seconds, info)
    _require_length(seconds, min_seconds)
    return replace(info, duration_s=seconds)


# A file whose audio ends well before the duration its header declares was cut off (an interrupted
# copy or download): players play the part that is there, but a catalog scan must flag it.
TRUNCATION_TOLERANCE = 0.1


def _require_complete(seconds: float, info: AudioInfo) -> None:
    declared = info.duration_s
    if np.isfinite(declared) and declared - seconds > max(0.5, TRUNCATION_TOLERANCE * declared):
        raise AudioError(
            "decode_failed",
            f"the {info.format} file ends early: its header declares {declared:.1f} s but only {seconds:.1f} s decode (truncated?).",
        )


def _require_length(seconds: float, min_seconds: float) -> None:
    if seconds < min_seconds:
        raise AudioError("too_short", f"the audio lasts {seconds:.2f} s, less than the {min_seconds:g} s minimum.")
