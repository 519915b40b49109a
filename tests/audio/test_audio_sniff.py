"""Container recognition from content bytes."""

from __future__ import annotations

import numpy as np
import pytest
from audio_signals import sine

from musiscene_core.audio import decode, probe, write_audio
from musiscene_core.audio.sniff import Container, detect_container, looks_like_text


def detect(data: bytes) -> Container | None:
    return detect_container(lambda offset, size: data[offset : offset + size])


def id3_tag(payload_size: int) -> bytes:
    size = bytes((payload_size >> shift) & 0x7F for shift in (21, 14, 7, 0))  # syncsafe
    return b"ID3\x04\x00\x00" + size + bytes(payload_size)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sniff")
    tone = sine(44100, 1.5)
    return {fmt: write_audio(folder / f"t.{fmt}", tone, 44100, fmt).read_bytes() for fmt in ("mp3", "aac", "flac")}


def test_magic_numbers():
    assert detect(b"RIFF\x24\0\0\0WAVEfmt ") == Container("wav", "wav")
    assert detect(b"RF64\xff\xff\xff\xffWAVEds64") == Container("wav", "wav")
    assert detect(b"FORM\0\0\0\0AIFFCOMM") == Container("aiff", "aiff")
    assert detect(b"\0\0\0\x20ftypisom\0\0\0\0").format == "mp4"
    assert detect(b"\0\0\0\x14ftypqt  \0\0\0\0").format == "mov"


def test_ogg_codec_decides_between_ogg_and_opus():
    def first_page(packet: bytes) -> bytes:
        return b"OggS\0\x02" + bytes(20) + bytes([1, len(packet)]) + packet

    assert detect(first_page(b"OpusHead\x01\x02")).format == "opus"
    assert detect(first_page(b"\x01vorbis\0\0\0\0")).format == "ogg"


def test_matroska_doctype_decides_between_mkv_and_webm():
    def ebml(doctype: bytes) -> bytes:
        return b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82" + bytes([0x80 | len(doctype)]) + doctype

    assert detect(ebml(b"webm")).format == "webm"
    assert detect(ebml(b"matroska")).format == "mkv"


def test_raw_mpeg_and_adts_frame_chains(encoded):
    assert encoded["mp3"][:2] == b"\xff\xfb"  # no ID3 tag: recognised by its frames alone
    assert detect(encoded["mp3"]).format == "mp3"
    assert detect(encoded["aac"]) == Container("aac", "aac")


def test_id3_tags_are_skipped_before_mp3_and_flac(encoded, tmp_path):
    tagged_mp3 = id3_tag(300_000) + encoded["mp3"]  # e.g. embedded cover art
    tagged_flac = id3_tag(2_000) + encoded["flac"]
    assert detect(tagged_mp3).format == "mp3"
    assert detect(tagged_flac).format == "flac"
    for name, data in (("tagged.mp3", tagged_mp3), ("tagged.flac", tagged_flac)):
        path = tmp_path / name
        path.write_bytes(data)
        assert probe(path).format == name.split(".")[1]
        assert abs(len(decode(path).samples) / 24000 - 1.5) < 0.05


def test_junk_before_the_first_mp3_frame(encoded):
    assert detect(bytes(1000) + encoded["mp3"]).format == "mp3"


def test_lone_sync_words_in_noise_are_not_mpeg():
    noise = bytearray(np.random.default_rng(11).bytes(200_000))
    assert detect(bytes(noise)) is None
    noise[:4] = b"\xff\xfb\x90\xc4"  # one valid MP3 header, followed by no second frame
    assert detect(bytes(noise)) is None


def test_text_is_recognised_for_the_message():
    assert looks_like_text("Hello, wörld!\nline two\t".encode())
    assert not looks_like_text(b"\x00\x01binary")
    assert detect(b"just some text that is not audio at all\n" * 100) is None
