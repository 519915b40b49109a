"""Bad files give an AudioError of the right kind from every entry point, never another exception."""

from __future__ import annotations

import io
import os
import pickle

import av
import numpy as np
import pytest
import soundfile as sf
from audio_signals import sine

from musiscene_core.audio import (
    ERROR_KINDS,
    AudioError,
    MuLlamaParity,
    WholeTrack,
    decode,
    iter_chunks,
    probe,
    scan_file,
    write_audio,
)

READERS = {
    "probe": probe,
    "decode": decode,
    "scan_file": scan_file,
    "iter_chunks": lambda source: list(iter_chunks(source)),
    "parity windows": lambda source: list(MuLlamaParity().windows(source)),
    "whole-track windows": lambda source: list(WholeTrack().windows(source)),
}
# probe only reads the header, so it cannot see failures that lie in the audio data.
DATA_READERS = {name: read for name, read in READERS.items() if name != "probe"}


def assert_kind(readers: dict, source, kind: str) -> None:
    for name, read in readers.items():
        if hasattr(source, "seekable") and source.seekable():
            source.seek(0)
        with pytest.raises(AudioError) as caught:
            read(source)
        assert caught.value.kind == kind, f"{name}: {caught.value}"
        assert str(caught.value) == f"{kind}: {caught.value.reason}"
        reason = caught.value.reason
        assert reason.endswith(".") and "\n" not in reason and reason.count(". ") == 0, reason


def mutated(path, tmp_path, name: str, at: int, replacement: bytes):
    data = bytearray(path.read_bytes())
    at = at if at >= 0 else len(data) + at
    data[at : at + len(replacement)] = replacement
    out = tmp_path / name
    out.write_bytes(bytes(data))
    return out


@pytest.fixture()
def wav(tmp_path):
    return write_audio(tmp_path / "good.wav", sine(44100, 3.0), 44100, "wav", channels=2)


def test_missing_file(tmp_path):
    assert_kind(READERS, tmp_path / "nowhere.mp3", "not_found")
    assert_kind(READERS, str(tmp_path / "no" / "such" / "dir.flac"), "not_found")


def test_directory_is_unreadable(tmp_path):
    assert_kind(READERS, tmp_path, "unreadable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_file_without_read_permission(wav):
    wav.chmod(0)
    assert_kind(READERS, wav, "unreadable")


def test_open_refused_by_the_system_is_unreadable(wav, monkeypatch):
    # What a permission error looks like when the tests run as root and chmod cannot cause one.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("musiscene_core.audio.source.open", refuse, raising=False)
    assert_kind(READERS, wav, "unreadable")
    assert "permission denied" in probe_error(wav).reason


def test_zero_bytes_is_empty(tmp_path):
    (tmp_path / "zero.mp3").write_bytes(b"")
    assert_kind(READERS, tmp_path / "zero.mp3", "empty")
    assert_kind(READERS, io.BytesIO(), "empty")


def test_text_renamed_to_mp3_is_unsupported(tmp_path):
    fake = tmp_path / "song.mp3"
    fake.write_text("<html><body>404 Not Found</body></html>\n" * 50)
    assert_kind(READERS, fake, "unsupported")
    assert "text" in probe_error(fake).reason and ".mp3" in probe_error(fake).reason


def test_random_bytes_are_unsupported(tmp_path):
    noise = tmp_path / "noise.wav"
    noise.write_bytes(np.random.default_rng(7).bytes(100_000))
    assert_kind(READERS, noise, "unsupported")


def test_image_is_unsupported(tmp_path):
    png = tmp_path / "cover.flac"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    assert_kind(READERS, png, "unsupported")


def test_video_without_audio_track_is_unsupported(tmp_path):
    path = tmp_path / "silent-film.mp4"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=5)
        video.width = video.height = 32
        video.pix_fmt = "yuv420p"
        for index in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    assert_kind(READERS, path, "unsupported")
    assert "no audio track" in probe_error(path).reason


def test_corrupt_headers_are_unreadable(wav, tmp_path):
    # The RIFF/WAVE magic survives, so the format is recognised, but the chunk that describes
    # the audio is gone or says an impossible sample rate of 0.
    assert_kind(READERS, mutated(wav, tmp_path, "no-fmt.wav", 12, b"JUNK"), "unreadable")
    assert_kind(READERS, mutated(wav, tmp_path, "rate0.wav", 24, b"\0\0\0\0"), "unreadable")
    flac = write_audio(tmp_path / "good.flac", sine(44100, 3.0), 44100, "flac")
    assert_kind(READERS, mutated(flac, tmp_path, "bad-block.flac", 4, b"\x7f"), "unreadable")


def test_header_only_truncation_is_unreadable(tmp_path):
    for fmt in ("wav", "flac", "aiff", "mkv", "webm", "ogg"):
        path = write_audio(tmp_path / f"t.{fmt}", sine(44100, 3.0), 44100, fmt)
        cut = tmp_path / f"cut30.{fmt}"
        cut.write_bytes(path.read_bytes()[:30])
        assert_kind(READERS, cut, "unreadable")


def test_unknown_codec_in_known_container_is_unsupported(wav, tmp_path):
    assert_kind(READERS, mutated(wav, tmp_path, "codec.wav", 20, b"\xff\xff"), "unsupported")


def test_header_without_samples_is_empty(tmp_path):
    path = tmp_path / "header-only.wav"
    sf.write(path, np.zeros((0, 2), np.float32), 44100)
    assert_kind(DATA_READERS, path, "empty")


def test_undecodable_audio_data_is_decode_failed(tmp_path):
    # Valid container and index, then half of the AAC payload overwritten: most packets fail.
    path = write_audio(tmp_path / "t.m4a", sine(44100, 4.0), 44100, "m4a", channels=2)
    data = bytearray(path.read_bytes())
    payload = data.find(b"mdat") + 8
    data[payload : payload + (len(data) - payload) // 2] = np.random.default_rng(3).bytes((len(data) - payload) // 2)
    broken = tmp_path / "broken.m4a"
    broken.write_bytes(bytes(data))
    assert probe(broken).duration_s == pytest.approx(4.0)  # the header alone looks fine
    assert_kind(DATA_READERS, broken, "decode_failed")


def test_nothing_decodable_despite_header_is_decode_failed(tmp_path):
    # A FLAC stream header followed by bytes that hold no FLAC frame at all.
    path = write_audio(tmp_path / "t.flac", sine(44100, 3.0), 44100, "flac")
    header = path.read_bytes()[: 4 + 4 + 34]  # "fLaC" + last-block STREAMINFO
    header = header[:4] + bytes([header[4] | 0x80]) + header[5:]
    broken = tmp_path / "frames-gone.flac"
    broken.write_bytes(header + bytes(20_000))
    assert_kind(DATA_READERS, broken, "decode_failed")


@pytest.mark.parametrize("fmt", ["wav", "aiff", "flac", "ogg", "opus", "mp3", "aac", "mkv", "webm"])
def test_truncated_streams_decode_what_is_there_but_scan_flags_them(tmp_path, fmt):
    path = write_audio(tmp_path / f"t.{fmt}", sine(44100, 8.0), 44100, fmt, channels=2)
    data = path.read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(data[: len(data) * 6 // 10])
    seconds = len(decode(cut).samples) / 24000
    assert 3.0 < seconds < 6.0  # bytes and seconds are not proportional in VBR streams
    if np.isfinite(probe(cut).duration_s) and probe(cut).duration_s > 7.0:
        # The header still declares 8 s: the catalog scan reports the file as cut off.
        with pytest.raises(AudioError) as err:
            scan_file(cut)
        assert err.value.kind == "decode_failed" and "ends early" in err.value.reason
    else:
        assert abs(scan_file(cut).duration_s - seconds) < 0.05


@pytest.mark.parametrize("fmt", ["m4a", "mp4"])
def test_truncated_mp4_without_its_index_is_unreadable(tmp_path, fmt):
    # Our writer puts the index (moov) after the audio, as most encoders do; cut it off and
    # the audio cannot be located.
    path = write_audio(tmp_path / f"t.{fmt}", sine(44100, 4.0), 44100, fmt)
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert_kind(READERS, cut, "unreadable")


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "opus", "mp3", "m4a", "webm"])
def test_short_clip_is_too_short(tmp_path, fmt):
    path = write_audio(tmp_path / f"blip.{fmt}", sine(44100, 0.2), 44100, fmt)
    assert_kind(DATA_READERS, path, "too_short")
    assert probe(path).duration_s < 0.3


def test_minimum_duration_is_configurable(tmp_path):
    path = write_audio(tmp_path / "blip.wav", sine(44100, 0.2), 44100, "wav")
    assert len(decode(path, min_seconds=0.1).samples) == round(0.2 * 24000)
    assert scan_file(path, min_seconds=0.1).duration_s == pytest.approx(0.2)
    assert len(list(MuLlamaParity(min_seconds=0.1).windows(path))) == 1
    with pytest.raises(AudioError, match="too_short"):
        decode(write_audio(tmp_path / "three.wav", sine(44100, 3.0), 44100, "wav"), min_seconds=5.0)


def test_too_short_is_raised_before_any_chunk(tmp_path):
    chunks = iter_chunks(write_audio(tmp_path / "b.wav", sine(44100, 0.5), 44100, "wav"))
    with pytest.raises(AudioError, match="too_short"):
        next(chunks)


def test_unseekable_file_object_is_unreadable(wav):
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            return self._data.readinto(buffer)

    assert_kind(READERS, Pipe(wav.read_bytes()), "unreadable")


class FailingReader(io.BytesIO):
    """A remote file whose connection drops after `limit` bytes."""

    def __init__(self, data: bytes, limit: int):
        super().__init__(data)
        self.limit = limit

    def read(self, size=-1):
        if self.tell() > self.limit:
            raise OSError("connection reset by peer")
        return super().read(size)


def test_file_object_failing_while_the_header_is_read(wav):
    assert_kind(READERS, FailingReader(wav.read_bytes(), limit=4096), "unreadable")


def test_file_object_failing_part_way_through(tmp_path):
    path = write_audio(tmp_path / "long.wav", sine(44100, 30.0), 44100, "wav", channels=2)
    assert_kind(DATA_READERS, FailingReader(path.read_bytes(), limit=1_000_000), "unreadable")


def test_error_round_trips_through_pickle():
    error = AudioError("decode_failed", "3 of 10 audio packets failed to decode.")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.reason, str(copy)) == (error.kind, error.reason, str(error))


def test_error_kinds_are_a_fixed_set():
    assert {"not_found", "unreadable", "unsupported", "empty", "too_short", "decode_failed"} <= ERROR_KINDS
    with pytest.raises(ValueError):
        AudioError("weird", "no such kind.")


def probe_error(source) -> AudioError:
    with pytest.raises(AudioError) as caught:
        probe(source)
    return caught.value
