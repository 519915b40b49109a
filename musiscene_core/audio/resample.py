"""Streaming sample-rate conversion with soxr, and re-blocking of the resampled stream."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import soxr

# soxr "HQ": 20-bit precision, passband flat to ~91% of Nyquist; the same filter librosa uses
# by default ("soxr_hq"), far below anything MERT's features can notice.
RESAMPLE_QUALITY = "HQ"

_EMPTY = np.zeros(0, dtype=np.float32)


class StreamResampler:
    """Resamples consecutive mono blocks to `target_sr` without holding the whole signal.

    Blocks carry their own rate; when it changes midway (it can in MP3 and AAC streams), the
    filter for the old rate is flushed and a new one starts, so no audio is lost or repeated.
    """

    def __init__(self, target_sr: int):
        self.target_sr = target_sr
        self._rate = 0
        self._stream: soxr.ResampleStream | None = None

    def push(self, rate: int, block: np.ndarray) -> np.ndarray:
        flushed = self._switch_to(rate) if rate != self._rate else _EMPTY
        converted = block if self._stream is None else self._stream.resample_chunk(block)
        return np.concatenate([flushed, converted]) if flushed.size else converted

    def finish(self) -> np.ndarray:
        """The filter's remaining output at the end of the signal."""
        return self._switch_to(0)

    def _switch_to(self, rate: int) -> np.ndarray:
        tail = self._stream.resample_chunk(_EMPTY, last=True) if self._stream is not None else _EMPTY
        self._rate = rate
        needs_filter = rate not in (0, self.target_sr)
        self._stream = (
            soxr.ResampleStream(rate, self.target_sr, 1, dtype="float32", quality=RESAMPLE_QUALITY) if needs_filter else None
        )
        return tail


def resampled(blocks: Iterable[tuple[int, np.ndarray]], target_sr: int) -> Iterator[np.ndarray]:
    """Mono float32 pieces at `target_sr` from (rate, samples) blocks, as they become ready."""
    resampler = StreamResampler(target_sr)
    for rate, block in blocks:
        out = resampler.push(rate, block)
        if out.size:
            yield out
    tail = resampler.finish()
    if tail.size:
        yield tail


def rechunked(pieces: Iterable[np.ndarray], chunk_samples: int) -> Iterator[np.ndarray]:
    """The same samples regrouped into chunks of exactly `chunk_samples` (the last may be shorter)."""
    pending: list[np.ndarray] = []
    pending_samples = 0
    for piece in pieces:
        pending.append(piece)
        pending_samples += piece.size
        if pending_samples < chunk_samples:
            continue
        joined = np.concatenate(pending)
        cut = len(joined) - len(joined) % chunk_samples
        for start in range(0, cut, chunk_samples):
            yield joined[start : start + chunk_samples]
        rest = joined[cut:]
        pending, pending_samples = ([rest], rest.size) if rest.size else ([], 0)
    if pending_samples:
        yield np.concatenate(pending)
