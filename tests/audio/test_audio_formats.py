"""Every supported format, at every common rate, decodes to a faithful 24 kHz mono signal."""

from __future__ import annotations

import io
import pickle

import av
import fsspec
import numpy as np
import pytest
import soundfile as sf
from audio_signals import TONE_HZ, middle, peak_hz, rms_db, sine, sine_rms_db

from musiscene_core.audio import SAMPLE_RATE, AudioInfo, decode, iter_chunks, probe, scan_file, write_audio

FORMATS = ["wav", "aiff", "flac", "ogg", "opus", "mp3", "aac", "m4a", "mp4", "mkv", "webm"]
RATES = [8000, 44100, 48000, 96000]
LOSSLESS = {"wav", "aiff", "flac"}
VIDEO = {"mp4", "mkv", "webm"}


def stored_rate(fmt: str, rate: int) -> int:
    """The native rate a reader sees for a file written at `rate`.

    Opus (also inside webm) cannot store 44.1 or 96 kHz: write_audio resamples those to 48 kHz,
    and FFmpeg's Opus decoder always outputs 48 kHz anyway (8 kHz input is stored as narrow-band
    Opus and decoded at 48 kHz). MP3 stores at most 48 kHz, so 96 kHz is written at 48 kHz.
    Every other format stores every rate here as it is.
    """
    if fmt in ("opus", "webm"):
        return 48000
    if fmt == "mp3" and rate > 48000:
        return 48000
    return rate


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_sine_keeps_pitch_and_level(tmp_path, fmt, rate):
    path = write_audio(tmp_path / f"tone.{fmt}", sine(rate, 2.0), rate, fmt, channels=2)

    info = probe(path)
    audio = decode(path)

    assert info.format == fmt
    assert (info.sample_rate, info.channels) == (stored_rate(fmt, rate), 2)
    assert audio.sample_rate == SAMPLE_RATE and audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    if fmt in LOSSLESS:
        assert len(audio.samples) == 2 * SAMPLE_RATE
    else:  # encoder priming and padding; raw ADTS at 8 kHz carries the most (~0.18 s)
        assert abs(len(audio.samples) / SAMPLE_RATE - 2.0) < 0.2
    assert abs(audio.duration_s - len(audio.samples) / SAMPLE_RATE) < 0.01
    steady = middle(audio.samples, SAMPLE_RATE)
    assert abs(peak_hz(steady, SAMPLE_RATE) - TONE_HZ) <= 1.0
    assert abs(rms_db(steady) - sine_rms_db()) < 0.5


def test_lossless_decode_matches_libsndfile_sample_for_sample(tmp_path):
    stereo = np.stack([sine(44100, 1.5), sine(44100, 1.5, hz=1000, peak=0.25)], axis=1)
    path = write_audio(tmp_path / "two.flac", stereo, 44100, "flac", subtype="PCM_24")
    ours = decode(path, target_sr=44100).samples  # same rate: no resampling, only the downmix
    reference, _ = sf.read(path, dtype="float32")
    np.testing.assert_allclose(ours, reference.mean(axis=1), atol=1e-6)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_sample_formats(tmp_path, subtype):
    path = write_audio(tmp_path / f"{subtype}.wav", sine(44100, 2.0), 44100, "wav", subtype=subtype)
    audio = decode(path)
    steady = middle(audio.samples, SAMPLE_RATE)
    assert abs(rms_db(steady) - sine_rms_db()) < 0.05
    assert abs(peak_hz(steady, SAMPLE_RATE) - TONE_HZ) <= 1.0


def test_float_wav_above_full_scale_is_not_clipped(tmp_path):
    path = write_audio(tmp_path / "hot.wav", sine(24000, 2.0, peak=1.5), 24000, "wav", subtype="FLOAT")
    samples = decode(path).samples
    assert samples.max() == pytest.approx(1.5, abs=1e-3)


def test_level_is_kept_through_down_and_up_sampling(tmp_path):
    for rate in (8000, 96000):
        path = write_audio(tmp_path / f"{rate}.wav", sine(rate, 2.0), rate, "wav", subtype="FLOAT")
        assert abs(rms_db(middle(decode(path).samples, SAMPLE_RATE)) - sine_rms_db()) < 0.05


@pytest.mark.parametrize("fmt", ["wav", "flac", "m4a", "opus"])
def test_six_channels_are_averaged(tmp_path, fmt):
    # The tone in the front-left channel only: the mean of six channels is 1/6 of it.
    frames = np.zeros((2 * 48000, 6), dtype=np.float32)
    frames[:, 0] = sine(48000, 2.0)
    path = write_audio(tmp_path / f"surround.{fmt}", frames, 48000, fmt)
    assert probe(path).channels == 6
    steady = middle(decode(path).samples, SAMPLE_RATE)
    assert abs(rms_db(steady) - (sine_rms_db() + 20 * np.log10(1 / 6))) < 0.5
    assert abs(peak_hz(steady, SAMPLE_RATE) - TONE_HZ) <= 1.0


def test_stereo_downmix_is_the_mean_not_a_sum(tmp_path):
    tone = sine(44100, 2.0)
    same = write_audio(tmp_path / "same.wav", np.stack([tone, tone], axis=1), 44100, "wav", subtype="FLOAT")
    opposite = write_audio(tmp_path / "opposite.wav", np.stack([tone, -tone], axis=1), 44100, "wav", subtype="FLOAT")
    assert abs(rms_db(middle(decode(same).samples, SAMPLE_RATE)) - sine_rms_db()) < 0.05
    assert np.abs(decode(opposite).samples).max() < 1e-6


@pytest.mark.parametrize(("muxer", "codec", "fmt"), [("mp2", "mp2", "mp3"), ("ipod", "alac", "m4a")])
def test_codecs_the_writer_does_not_produce(tmp_path, muxer, codec, fmt):
    path = tmp_path / f"tone.{muxer}"
    tone = sine(44100, 2.0)
    with av.open(str(path), "w", format=muxer) as out:
        stream = out.add_stream(codec, rate=44100, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    info = probe(path)
    assert (info.format, info.codec) == (fmt, codec)
    steady = middle(decode(path).samples, SAMPLE_RATE)
    assert abs(rms_db(steady) - sine_rms_db()) < 0.5
    assert abs(peak_hz(steady, SAMPLE_RATE) - TONE_HZ) <= 1.0


def test_video_files_report_their_container_and_audio_codec(tmp_path):
    expected = {"mp4": "aac", "mkv": "aac", "webm": "opus"}
    for fmt, codec in expected.items():
        info = probe(write_audio(tmp_path / f"clip.{fmt}", sine(48000, 1.5), 48000, fmt))
        assert (info.format, info.codec) == (fmt, codec)


def test_cover_art_does_not_make_m4a_a_video(tmp_path):
    path = tmp_path / "with-cover.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        audio = out.add_stream("aac", rate=44100, layout="mono")
        cover = out.add_stream("mjpeg")
        cover.width = cover.height = 16
        cover.pix_fmt = "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        tone = av.AudioFrame.from_ndarray(sine(44100, 2.0)[None, :], format="fltp", layout="mono")
        tone.sample_rate, tone.pts = 44100, 0
        out.mux(audio.encode(tone))
        out.mux(audio.encode(None))
        picture = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        picture.pts = 0
        out.mux(cover.encode(picture))
        out.mux(cover.encode(None))
    assert probe(path).format == "m4a"
    assert abs(len(decode(path).samples) / SAMPLE_RATE - 2.0) < 0.1


def test_format_comes_from_content_not_extension(tmp_path):
    flac_named_mp3 = write_audio(tmp_path / "song.flac", sine(44100, 1.5), 44100, "flac").rename(tmp_path / "song.mp3")
    mp3_named_wav = write_audio(tmp_path / "other.mp3", sine(44100, 1.5), 44100, "mp3").rename(tmp_path / "other.wav")
    no_extension = write_audio(tmp_path / "x.ogg", sine(44100, 1.5), 44100, "ogg").rename(tmp_path / "track")
    assert probe(flac_named_mp3).format == "flac"
    assert probe(mp3_named_wav).format == "mp3"
    assert probe(no_extension).format == "ogg"
    assert len(decode(flac_named_mp3).samples) == round(1.5 * SAMPLE_RATE)


@pytest.mark.parametrize(
    "name", ["Ünïcödé — track 01 (live).flac", "колокол.mp3", "曲 1.m4a", "a: b?.wav", "-starts with dash.ogg"]
)
def test_unicode_and_odd_file_names(tmp_path, name):
    fmt = name.rsplit(".", 1)[1]
    path = write_audio(tmp_path / "plain", sine(44100, 1.5), 44100, fmt).rename(tmp_path / name)
    assert probe(str(path)).format == fmt
    assert abs(len(decode(str(path)).samples) / SAMPLE_RATE - 1.5) < 0.1


def test_open_file_objects_are_read_and_left_open(tmp_path):
    path = write_audio(tmp_path / "t.mp3", sine(44100, 2.0), 44100, "mp3")
    from_path = decode(path).samples
    with open(path, "rb") as handle:
        handle.seek(123)  # a file object is always read from its start
        assert probe(handle).format == "mp3"
        np.testing.assert_array_equal(decode(handle).samples, from_path)
        assert not handle.closed
    buffer = io.BytesIO(path.read_bytes())
    np.testing.assert_array_equal(decode(buffer).samples, from_path)
    assert scan_file(buffer).channels == 1


def test_fsspec_file_objects(tmp_path):
    # The same kind of object s3fs hands out for s3:// URLs, from fsspec's in-memory filesystem.
    path = write_audio(tmp_path / "t.flac", sine(48000, 2.0), 48000, "flac")
    memory = fsspec.filesystem("memory")
    memory.pipe("/bucket/catalog/t.flac", path.read_bytes())
    with memory.open("/bucket/catalog/t.flac", "rb") as handle:
        audio = decode(handle)
    assert audio.info.format == "flac"
    np.testing.assert_array_equal(audio.samples, decode(path).samples)


def test_max_seconds_stops_early_and_reports_the_header_duration(tmp_path):
    path = write_audio(tmp_path / "long.wav", sine(44100, 10.0), 44100, "wav")
    audio = decode(path, max_seconds=3.0)
    assert len(audio.samples) == 3 * SAMPLE_RATE
    assert audio.duration_s == pytest.approx(10.0)
    np.testing.assert_array_equal(audio.samples, decode(path).samples[: 3 * SAMPLE_RATE])


def test_other_target_rates(tmp_path):
    path = write_audio(tmp_path / "t.wav", sine(44100, 2.0), 44100, "wav")
    audio = decode(path, target_sr=16000)
    assert audio.sample_rate == 16000 and len(audio.samples) == 32000
    assert abs(peak_hz(middle(audio.samples, 16000), 16000) - TONE_HZ) <= 1.0


def test_iter_chunks_concatenate_to_decode(tmp_path):
    path = write_audio(tmp_path / "t.ogg", sine(44100, 7.3), 44100, "ogg")
    chunks = list(iter_chunks(path, chunk_seconds=2.0))
    assert [len(c) for c in chunks[:-1]] == [2 * SAMPLE_RATE] * 3
    assert 0 < len(chunks[-1]) <= 2 * SAMPLE_RATE
    np.testing.assert_array_equal(np.concatenate(chunks), decode(path).samples)


def test_scan_file_returns_the_decoded_duration(tmp_path):
    path = write_audio(tmp_path / "t.flac", sine(44100, 3.5), 44100, "flac", channels=2)
    info = scan_file(path)
    assert info == AudioInfo("flac", "flac", 44100, 2, 3.5)


def test_audio_info_is_plain_data():
    info = AudioInfo("mp3", "mp3", 44100, 2, 12.5)
    assert pickle.loads(pickle.dumps(info)) == info
