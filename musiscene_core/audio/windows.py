"""Which stretches of a track the model looks at.

A policy turns a source into a lazy sequence of windows of 24 kHz mono audio. Policies are
small frozen dataclasses so they can be recorded in outputs, compared, and shipped to workers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .info import DEFAULT_MIN_SECONDS, SAMPLE_RATE
from .load import decode, iter_chunks
from .source import Source

# MU-LLaMA cuts the 24 kHz waveform at 60 s before MERT sees it.
MU_LLAMA_SECONDS = 60.0


@dataclass(frozen=True, eq=False)  # holds an array: compare samples explicitly
class Window:
    """`samples` (mono float32 at the policy's rate) start `start_s` seconds into the track."""

    index: int
    start_s: float
    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


class WindowPolicy(ABC):
    """Produces a track's windows lazily; decoding happens as windows are consumed.

    With `require_complete`, a source whose audio ends well before the duration its header declares
    raises AudioError("decode_failed") (see `iter_chunks`), after its earlier windows were yielded."""

    sample_rate: int = SAMPLE_RATE

    @abstractmethod
    def windows(self, source: Source) -> Iterator[Window]:
        """Windows in order; raises AudioError for an unusable source."""


@dataclass(frozen=True)
class MuLlamaParity(WindowPolicy):
    """Exactly what the MU-LLaMA reference encodes: the first 60 s of the track as one window
    (the whole track when it is shorter). Its `encode_audio` loops over
    `range(0, len(x) // (sr * 60) + 1, 60)`, which only ever yields offset 0."""

    min_seconds: float = DEFAULT_MIN_SECONDS
    require_complete: bool = False

    def windows(self, source: Source) -> Iterator[Window]:
        audio = decode(
            source,
            self.sample_rate,
            max_seconds=MU_LLAMA_SECONDS,
            min_seconds=self.min_seconds,
            require_complete=self.require_complete,
        )
        yield Window(0, 0.0, audio.samples, self.sample_rate)


@dataclass(frozen=True)
class WholeTrack(WindowPolicy):
    """Windows of `window_s` seconds every `hop_s` seconds over the whole track.

    A track shorter than one window is a single window. A trailing partial window is kept when
    it lasts at least `min_window_s` (default 5 s, the crop length MERT was pre-trained on); it
    is the last window, since later starts would only repeat audio it already holds. Tracks
    shorter than `min_seconds` raise AudioError("too_short").
    """

    window_s: float = 30.0
    hop_s: float = 30.0
    min_window_s: float = 5.0
    min_seconds: float = DEFAULT_MIN_SECONDS
    require_complete: bool = False

    def __post_init__(self):
        if self.window_s <= 0 or self.hop_s <= 0:
            raise ValueError(f"window_s and hop_s must be positive, got {self.window_s} and {self.hop_s}")
        if not 0 <= self.min_window_s <= self.window_s:
            raise ValueError(f"min_window_s must lie in [0, window_s], got {self.min_window_s}")

    def windows(self, source: Source) -> Iterator[Window]:
        rate = self.sample_rate
        window, hop = round(self.window_s * rate), round(self.hop_s * rate)
        buffer = np.zeros(0, dtype=np.float32)
        buffer_start = 0  # track position (in samples) of buffer[0]
        next_start = 0  # track position of the next window
        index = 0
        for chunk in iter_chunks(source, rate, min_seconds=self.min_seconds, require_complete=self.require_complete):
            # Drop what no future window needs (with hop > window that includes skipped gaps).
            drop = min(next_start - buffer_start, len(buffer))
            buffer = np.concatenate([buffer[drop:], chunk])
            buffer_start += drop
            while next_start + window <= buffer_start + len(buffer):
                offset = next_start - buffer_start
                yield Window(index, next_start / rate, buffer[offset : offset + window].copy(), rate)
                index += 1
                next_start += hop
        remaining = buffer[next_start - buffer_start :]  # empty when the last window ended the track
        if remaining.size and (index == 0 or remaining.size >= round(self.min_window_s * rate)):
            yield Window(index, next_start / rate, remaining.copy(), rate)


# What the tagging pipeline uses unless told otherwise: every part of the track is heard.
DEFAULT_WINDOW_POLICY = WholeTrack()
