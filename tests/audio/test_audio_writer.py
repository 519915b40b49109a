"""The writer used for fixtures and the demo catalog produces what it promises."""

from __future__ import annotations

import av
import numpy as np
import pytest
import soundfile as sf
from audio_signals import sine

from musiscene_core.audio import WRITABLE_FORMATS, probe, write_audio
from musiscene_core.audio.writer import storable_rate


@pytest.mark.parametrize(("fmt", "video_codec"), [("mp4", "h264"), ("mkv", "h264"), ("webm", "vp8")])
def test_video_containers_hold_a_video_and_an_audio_stream(tmp_path, fmt, video_codec):
    path = write_audio(tmp_path / f"clip.{fmt}", sine(48000, 2.0), 48000, fmt)
    with av.open(str(path)) as container:
        (video,) = container.streams.video
        assert video.codec_context.name == video_codec
        assert len(container.streams.audio) == 1
        assert sum(1 for _ in container.decode(video)) == 10  # 2 s at 5 frames per second


def test_rates_a_codec_cannot_store_are_moved_to_the_next_one_it_can():
    assert storable_rate("libopus", 44100) == 48000
    assert storable_rate("libopus", 96000) == 48000
    assert storable_rate("libopus", 8000) == 8000
    assert storable_rate("libmp3lame", 96000) == 48000
    assert storable_rate("libmp3lame", 44100) == 44100
    assert storable_rate("aac", 96000) == 96000


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_subtypes(tmp_path, subtype):
    path = write_audio(tmp_path / "t.wav", sine(16000, 1.0), 16000, "wav", subtype=subtype)
    assert sf.info(path).subtype == subtype


def test_one_dimensional_signal_copied_into_channels(tmp_path):
    path = write_audio(tmp_path / "t.flac", sine(44100, 1.0), 44100, "flac", channels=2)
    frames, _ = sf.read(path)
    assert frames.shape == (44100, 2)
    np.testing.assert_array_equal(frames[:, 0], frames[:, 1])


def test_every_writable_format_reads_back_as_itself(tmp_path):
    for fmt in WRITABLE_FORMATS:
        assert probe(write_audio(tmp_path / f"t.{fmt}", sine(44100, 1.2), 44100, fmt)).format == fmt


def test_writer_rejects_what_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match="cannot write format"):
        write_audio(tmp_path / "t.wma", sine(44100, 1.0), 44100, "wma")
    with pytest.raises(ValueError, match="subtype"):
        write_audio(tmp_path / "t.m4a", sine(44100, 1.0), 44100, "m4a", subtype="PCM_16")
    with pytest.raises(ValueError, match="at least one sample"):
        write_audio(tmp_path / "t.m4a", np.zeros(0, np.float32), 44100, "m4a")
    with pytest.raises(ValueError, match="shape"):
        write_audio(tmp_path / "t.wav", np.zeros((2, 3, 4), np.float32), 44100, "wav")
