import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musiscene_core.catalog import fingerprint, list_tracks, open_location, sha256_stream
from musiscene_core.errors import UserError


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_listing_is_sorted_recursive_and_filters_non_audio(tmp_path):
    _touch(tmp_path / "b" / "c" / "d" / "e" / "deep.flac")
    _touch(tmp_path / "a song with spaces ü.mp3")
    _touch(tmp_path / "Z.WAV")
    _touch(tmp_path / "notes.txt")
    listing = list_tracks(str(tmp_path))
    names = [ref.uri.removeprefix(str(tmp_path) + "/") for ref in listing.tracks]
    assert names == sorted(names)
    assert set(names) == {"b/c/d/e/deep.flac", "a song with spaces ü.mp3", "Z.WAV"}
    assert listing.skipped_non_audio == 1
    assert list_tracks(str(tmp_path)).tracks == listing.tracks


def test_single_file_source(tmp_path):
    path = _touch(tmp_path / "one.ogg", b"abc")
    listing = list_tracks(str(path))
    assert [ref.size for ref in listing.tracks] == [3]


def test_missing_folder_and_unknown_scheme_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        list_tracks(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="unsupported location scheme 'ftp://'"):
        list_tracks("ftp://host/music")


def test_sha256_stream_matches_hashlib_and_copies():
    data = bytes(range(256)) * 10000
    sink = io.BytesIO()
    assert sha256_stream(io.BytesIO(data), sink=sink) == hashlib.sha256(data).hexdigest()
    assert sink.getvalue() == data


def test_fingerprint_prefers_etag():
    assert fingerprint(10, 1.5, '"abc"') == "etag:abc:10"
    assert fingerprint(10, 1.5) != fingerprint(10, 2.5)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_manifest_lists_relative_and_absolute_uris(tmp_path, kind):
    a = _touch(tmp_path / "audio" / "a.wav")
    b = _touch(tmp_path / "elsewhere" / "b.flac")
    table = pa.table({"uri": ["audio/a.wav", str(b)], "title": ["A", "B"]})
    manifest = tmp_path / f"m.{kind}"
    if kind == "csv":
        manifest.write_text("uri,title\naudio/a.wav,A\n" + f"{b},B\n")
    else:
        pq.write_table(table, manifest)
    listing = list_tracks(str(manifest))
    assert [ref.uri for ref in listing.tracks] == sorted([str(a), str(b)])


def test_bad_manifests_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        list_tracks(str(tmp_path / "missing.csv"))
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    with pytest.raises(UserError, match="cannot be read as Parquet"):
        list_tracks(str(garbage))
    no_uri = tmp_path / "no_uri.csv"
    no_uri.write_text("path\nx.wav\n")
    with pytest.raises(UserError, match="no 'uri' column"):
        list_tracks(str(no_uri))


@pytest.mark.integration
def test_s3_listing_with_endpoint(s3_bucket):
    endpoint, bucket, fs = s3_bucket
    fs.pipe(f"{bucket}/music/x/one.wav", b"1234")
    fs.pipe(f"{bucket}/music/two.mp3", b"12")
    fs.pipe(f"{bucket}/music/readme.md", b"hi")
    listing = list_tracks(f"s3://{bucket}/music", endpoint_url=endpoint)
    assert [r.uri for r in listing.tracks] == [f"s3://{bucket}/music/two.mp3", f"s3://{bucket}/music/x/one.wav"]
    assert [r.size for r in listing.tracks] == [2, 4]
    assert all(r.fingerprint.startswith("etag:") for r in listing.tracks)
    assert listing.skipped_non_audio == 1
    location = open_location(f"s3://{bucket}/music", endpoint_url=endpoint)
    assert location.is_remote
