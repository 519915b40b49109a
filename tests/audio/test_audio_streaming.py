"""Streaming: resampling across rate changes, re-chunking, and memory that does not grow with length."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import soundfile as sf
from audio_signals import TONE_HZ, middle, peak_hz, rms_db, sine, sine_rms_db

from musiscene_core.audio import SAMPLE_RATE, decode, write_audio
from musiscene_core.audio.resample import StreamResampler, rechunked, resampled


def test_resampler_streams_match_one_shot_resampling():
    tone = sine(44100, 3.0)
    blocks = [(44100, tone[start : start + 4410]) for start in range(0, len(tone), 4410)]
    streamed = np.concatenate(list(resampled(blocks, SAMPLE_RATE)))
    assert len(streamed) == 3 * SAMPLE_RATE
    whole = np.concatenate(list(resampled([(44100, tone)], SAMPLE_RATE)))
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


def test_resampler_follows_a_rate_change():
    first, second = sine(44100, 2.0), sine(22050, 2.0)
    out = np.concatenate(list(resampled([(44100, first), (22050, second)], SAMPLE_RATE)))
    assert len(out) == 4 * SAMPLE_RATE
    for part in (out[: 2 * SAMPLE_RATE], out[2 * SAMPLE_RATE :]):
        steady = middle(part, SAMPLE_RATE)
        assert abs(rms_db(steady) - sine_rms_db()) < 0.05
        assert abs(peak_hz(steady, SAMPLE_RATE) - TONE_HZ) <= 1.0


def test_resampler_passes_the_target_rate_through_untouched():
    block = sine(SAMPLE_RATE, 0.5)
    resampler = StreamResampler(SAMPLE_RATE)
    assert resampler.push(SAMPLE_RATE, block) is block
    assert resampler.finish().size == 0


def test_mp3_whose_rate_changes_midway(tmp_path):
    # Two MP3 streams back to back, 44.1 kHz then 22.05 kHz, as some joined files are.
    first = write_audio(tmp_path / "a.mp3", sine(44100, 2.0), 44100, "mp3").read_bytes()
    second = write_audio(tmp_path / "b.mp3", sine(22050, 2.0), 22050, "mp3").read_bytes()
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(first + second)
    samples = decode(joined).samples
    assert 4.0 <= len(samples) / SAMPLE_RATE < 4.2
    for part in (samples[: 2 * SAMPLE_RATE], samples[-2 * SAMPLE_RATE :]):
        steady = middle(part, SAMPLE_RATE)
        assert abs(rms_db(steady) - sine_rms_db()) < 0.5
        assert abs(peak_hz(steady, SAMPLE_RATE) - TONE_HZ) <= 1.0


def test_rechunked_regroups_without_losing_samples():
    pieces = [np.arange(start, start + size, dtype=np.float32) for start, size in [(0, 3), (3, 10), (13, 1), (14, 6)]]
    chunks = list(rechunked(pieces, 4))
    assert [len(c) for c in chunks] == [4, 4, 4, 4, 4]
    np.testing.assert_array_equal(np.concatenate(chunks), np.arange(20))
    assert [len(c) for c in rechunked(pieces[:2], 5)] == [5, 5, 3]


_MEASURE_ONE_HOUR = textwrap.dedent(
    """
    import json, resource, sys
    from musiscene_core.audio import WholeTrack, scan_file

    path = sys.argv[1]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    windows = [(w.start_s, len(w.samples)) for w in WholeTrack().windows(path)]
    info = scan_file(path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_mb": (peak - before) / 1024, "windows": len(windows),
                      "last": windows[-1], "duration": info.duration_s}))
    """
)


def test_one_hour_file_streams_in_bounded_memory(tmp_path):
    # One hour at 8 kHz (58 MB of 16-bit WAV) decodes to 86.4 million samples at 24 kHz:
    # 346 MB as float32 if it were ever held whole. Measured in a fresh process so that the
    # peak-RSS mark reflects only this work.
    path = tmp_path / "hour.wav"
    minute = np.tile(sine(8000, 1.0, peak=0.3), 60)
    with sf.SoundFile(path, "w", 8000, 1, "PCM_16") as out:
        for _ in range(60):
            out.write(minute)

    run = subprocess.run([sys.executable, "-c", _MEASURE_ONE_HOUR, str(path)], capture_output=True, text=True, check=True)
    result = json.loads(run.stdout)

    assert result["windows"] == 120 and result["last"] == [3570.0, 30 * SAMPLE_RATE]
    assert result["duration"] == 3600.0
    assert result["growth_mb"] < 100, result
