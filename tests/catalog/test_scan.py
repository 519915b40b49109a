"""`musiscene catalog scan` on a folder mixing every supported format with broken files."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from cli_runner import musiscene

from musiscene_core.audio import write_audio
from musiscene_core.catalog import list_tracks
from musiscene_core.catalog.scan import scan_tracks

FORMATS = ("wav", "flac", "ogg", "opus", "mp3", "m4a", "mp4", "mkv", "webm")


def _tone(seconds=1.5, rate=24000, freq=440.0):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def build_mixed_catalog(root: Path) -> dict[str, str | None]:
    """Writes good files of every format and bad ones; returns relative name -> expected error kind (None = ok)."""
    expected: dict[str, str | None] = {}
    deep = root / "a" / "b" / "c" / "d" / "e"
    for i, fmt in enumerate(FORMATS):
        folder = deep if fmt == "flac" else root / "good"
        folder.mkdir(parents=True, exist_ok=True)
        rate = 44100 if i % 2 else 48000
        path = write_audio(folder / f"tone {i} ünï.{fmt}", _tone(freq=220.0 + 40 * i, rate=rate), rate, fmt, channels=2)
        expected[str(path.relative_to(root))] = None
    for depth, subtype in enumerate(("PCM_U8", "PCM_24", "PCM_32", "FLOAT")):
        path = write_audio(
            root / "good" / f"bits-{subtype}.wav", _tone(freq=300.0 + depth, rate=8000), 8000, "wav", subtype=subtype
        )
        expected[str(path.relative_to(root))] = None
    bad = root / "bad"
    bad.mkdir()
    (bad / "zero.wav").write_bytes(b"")
    expected["bad/zero.wav"] = "empty"
    full = write_audio(bad / "full.flac", _tone(seconds=10.0, rate=44100), 44100, "flac")
    (bad / "truncated.flac").write_bytes(full.read_bytes()[: len(full.read_bytes()) // 3])
    full.unlink()
    expected["bad/truncated.flac"] = "decode_failed"
    (bad / "text.mp3").write_text("this is not an mp3 file, just text\n" * 20)
    expected["bad/text.mp3"] = "unsupported"
    header = bytearray(write_audio(bad / "tmp.wav", _tone(), 24000, "wav").read_bytes())
    (bad / "tmp.wav").unlink()
    header[0:12] = b"JUNKJUNKJUNK"
    (bad / "corrupt header.wav").write_bytes(bytes(header))
    expected["bad/corrupt header.wav"] = "unsupported"
    write_audio(bad / "short.wav", _tone(seconds=0.2), 24000, "wav")
    expected["bad/short.wav"] = "too_short"
    dup_source = root / "good" / "tone 0 ünï.wav"
    (root / "dup copy.wav").write_bytes(dup_source.read_bytes())
    expected["dup copy.wav"] = None
    (root / "README.txt").write_text("not audio")
    return expected


@pytest.fixture(scope="module")
def mixed_catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog")
    return root, build_mixed_catalog(root)


def test_every_file_once_with_reasons(mixed_catalog):
    root, expected = mixed_catalog
    listing = list_tracks(str(root))
    rows = list(scan_tracks(listing.tracks, workers=2))
    got = {str(Path(r.uri).relative_to(root)): r for r in rows}
    assert len(rows) == len(got) == len(expected)
    assert listing.skipped_non_audio == 1
    for name, kind in expected.items():
        row = got[name]
        if kind is None:
            assert row.status == "ok", (name, row.error)
            assert row.duration_s == pytest.approx(1.5, abs=0.1), name
            assert len(row.track_id) == 64
        else:
            assert row.status == "error" and row.error_kind == kind, (name, row.error_kind, row.error)
            assert row.error.startswith(f"{kind}: ") and len(row.error) > len(kind) + 5
    # Listing order is by uri: "dup copy.wav" comes first, so the original is reported as its duplicate.
    assert got["good/tone 0 ünï.wav"].duplicate_of == str(root / "dup copy.wav")
    assert got["dup copy.wav"].track_id == got["good/tone 0 ünï.wav"].track_id
    assert sum(1 for r in rows if r.duplicate_of) == 1


def test_cli_scan_summary_and_manifest(mixed_catalog, tmp_path):
    root, expected = mixed_catalog
    out = tmp_path / "m.parquet"
    proc = musiscene("catalog", "scan", root, "--out", out, "--json")
    assert proc.exit_code == 0, proc.stderr
    summary = json.loads(proc.stdout)
    bad_kinds = sorted(k for k in expected.values() if k)
    assert summary["files"] == len(expected)
    assert summary["ok"] == len(expected) - len(bad_kinds)
    assert sum(summary["errors"].values()) == len(bad_kinds)
    assert summary["duplicates"] == 1
    assert summary["formats"]["wav"] >= 5
    assert summary["audio_hours"] == pytest.approx(summary["ok"] * 1.5 / 3600, rel=0.05)
    table = pq.read_table(out)
    assert table.num_rows == len(expected)
    assert {"uri", "track_id", "bytes", "format", "duration_s", "sample_rate", "channels", "status", "error"} <= set(
        table.column_names
    )


@pytest.mark.parametrize(
    "args,needle",
    [
        (["catalog", "scan", "/definitely/not/here"], "does not exist"),
        (["catalog", "scan", "gs://bucket/x"], "unsupported location scheme"),
        (["catalog", "scan", "{tmp}/broken.parquet"], "cannot be read as Parquet"),
    ],
)
def test_cli_bad_arguments_give_one_sentence(tmp_path, args, needle):
    (tmp_path / "broken.parquet").write_text("nope")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = musiscene(*args, "--out", tmp_path / "o.parquet")
    assert proc.exit_code == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.integration
def test_scan_on_s3(s3_bucket, tmp_path):
    endpoint, bucket, fs = s3_bucket
    local = tmp_path / "local"
    expected = build_mixed_catalog(local)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            fs.put_file(str(path), f"{bucket}/cat/{path.relative_to(local)}")
    out = f"s3://{bucket}/scan/manifest.parquet"
    proc = musiscene("catalog", "scan", f"s3://{bucket}/cat", "--out", out, "--endpoint-url", endpoint, "--json")
    assert proc.exit_code == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["files"] == len(expected) and summary["duplicates"] == 1
    assert summary["ok"] == sum(1 for k in expected.values() if k is None)
    with fs.open(f"{bucket}/scan/manifest.parquet", "rb") as handle:
        table = pq.read_table(handle)
    assert table.num_rows == len(expected)
    assert all(uri.startswith(f"s3://{bucket}/cat/") for uri in table.column("uri").to_pylist())
