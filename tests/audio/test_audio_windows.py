"""Window policies: how many windows, where they start, how long they are, and that they are lazy."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from audio_signals import sine

from musiscene_core.audio import (
    DEFAULT_WINDOW_POLICY,
    SAMPLE_RATE,
    MuLlamaParity,
    WholeTrack,
    Window,
    decode,
    write_audio,
)

RATE = 8000  # cheap to write and decode; the policies only see the 24 kHz output


def track(tmp_path, seconds: float, name: str = "t.wav"):
    # A slow ramp added to the tone makes every sample position distinguishable.
    tone = sine(RATE, seconds) + np.linspace(-0.2, 0.2, round(RATE * seconds), dtype=np.float32)
    return write_audio(tmp_path / name, tone, RATE, "wav", subtype="FLOAT")


class CountingReader(io.BytesIO):
    """A file object that remembers how far into the file it was read."""

    furthest = 0

    def read(self, size=-1):
        data = super().read(size)
        self.furthest = max(self.furthest, self.tell())
        return data


def layout(windows: list[Window]) -> list[tuple[int, float, float]]:
    return [(w.index, w.start_s, round(w.duration_s, 3)) for w in windows]


def test_parity_takes_the_first_60_seconds(tmp_path):
    path = track(tmp_path, 75.0)
    windows = list(MuLlamaParity().windows(path))
    assert layout(windows) == [(0, 0.0, 60.0)]
    np.testing.assert_array_equal(windows[0].samples, decode(path).samples[: 60 * SAMPLE_RATE])


def test_parity_keeps_a_short_track_whole(tmp_path):
    windows = list(MuLlamaParity().windows(track(tmp_path, 20.0)))
    assert layout(windows) == [(0, 0.0, 20.0)]


def test_parity_reads_little_more_than_a_minute_of_a_long_file(tmp_path):
    source = CountingReader(track(tmp_path, 300.0).read_bytes())
    list(MuLlamaParity().windows(source))
    assert source.furthest < 0.3 * len(source.getvalue())  # 60 s of 300 s, plus read-ahead


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (75.0, [(0, 0.0, 30.0), (1, 30.0, 30.0), (2, 60.0, 15.0)]),  # 15 s tail >= 5 s: kept
        (62.0, [(0, 0.0, 30.0), (1, 30.0, 30.0)]),  # 2 s tail: dropped
        (60.0, [(0, 0.0, 30.0), (1, 30.0, 30.0)]),  # exact fit: no empty tail
        (20.0, [(0, 0.0, 20.0)]),  # shorter than one window: the whole track
        (3.0, [(0, 0.0, 3.0)]),  # even below min_window_s, the first window is the track
    ],
)
def test_whole_track_defaults(tmp_path, seconds, expected):
    assert layout(list(WholeTrack().windows(track(tmp_path, seconds)))) == expected


def test_whole_track_overlapping_windows(tmp_path):
    path = track(tmp_path, 23.0)
    windows = list(WholeTrack(window_s=10.0, hop_s=5.0).windows(path))
    # Full windows at 0, 5, 10; the window at 15 runs past the end (8 s kept); a window at 20
    # would only repeat audio the one at 15 already holds.
    assert layout(windows) == [(0, 0.0, 10.0), (1, 5.0, 10.0), (2, 10.0, 10.0), (3, 15.0, 8.0)]
    whole = decode(path).samples
    for window in windows:
        start = round(window.start_s * SAMPLE_RATE)
        np.testing.assert_array_equal(window.samples, whole[start : start + len(window.samples)])


def test_whole_track_with_gaps_between_windows(tmp_path):
    path = track(tmp_path, 23.0)
    windows = list(WholeTrack(window_s=5.0, hop_s=10.0, min_window_s=4.0).windows(path))
    assert layout(windows) == [(0, 0.0, 5.0), (1, 10.0, 5.0)]  # the 3 s at 20 s are below 4 s
    whole = decode(path).samples
    np.testing.assert_array_equal(windows[1].samples, whole[10 * SAMPLE_RATE : 15 * SAMPLE_RATE])


def test_whole_track_min_window_is_configurable(tmp_path):
    path = track(tmp_path, 62.0)
    assert layout(list(WholeTrack(min_window_s=1.0).windows(path)))[-1] == (2, 60.0, 2.0)


def test_whole_track_windows_come_lazily(tmp_path):
    source = CountingReader(track(tmp_path, 300.0).read_bytes())
    first = next(iter(WholeTrack().windows(source)))
    assert first.duration_s == 30.0
    assert source.furthest < 0.25 * len(source.getvalue())


def test_policies_are_plain_comparable_values():
    assert DEFAULT_WINDOW_POLICY == WholeTrack(window_s=30.0, hop_s=30.0)
    assert pickle.loads(pickle.dumps(WholeTrack(10.0, 5.0))) == WholeTrack(10.0, 5.0)
    assert pickle.loads(pickle.dumps(MuLlamaParity())) == MuLlamaParity()


@pytest.mark.parametrize("bad", [dict(window_s=0.0), dict(hop_s=-1.0), dict(window_s=10.0, min_window_s=11.0)])
def test_whole_track_rejects_impossible_settings(bad):
    with pytest.raises(ValueError):
        WholeTrack(**bad)
