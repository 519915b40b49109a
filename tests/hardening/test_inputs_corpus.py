"""Failure corpus, inputs: catalogs (symlinks, special files, manifests, truncated WAV), devices, model files."""

import json
import os
import struct

import numpy as np
import pytest
from run_helpers import assert_one_sentence, cli, run_cli, short_ray_tmpdir
from tag_helpers import tag_env

from musiscene_core.audio import write_audio

pytestmark = pytest.mark.timeout(300)


def _piece(path, seconds=2.0):
    rate = 24000
    samples = (0.3 * np.sin(np.arange(int(seconds * rate)) * 0.05)).astype(np.float32)
    return write_audio(path, samples, rate, path.suffix[1:])


def scan(capsys, *args):
    code, out, err = cli(capsys, "catalog", "scan", *map(str, args), "--json", "--workers", "1")
    return code, (json.loads(out) if code == 0 else None), err


def test_symlinked_audio_is_followed_and_loops_and_broken_links_are_counted(tmp_path, capsys):
    library, music = tmp_path / "library", tmp_path / "music"
    library.mkdir(), music.mkdir()
    _piece(music / "a.wav"), _piece(music / "b.flac")
    os.symlink(music / "a.wav", library / "a.wav")  # a linked file
    os.symlink(music, library / "albums")  # a linked folder
    os.symlink(library, library / "albums-again")  # a loop back to the library itself
    os.symlink(tmp_path / "gone.wav", library / "gone.wav")  # a broken link
    code, summary, err = scan(capsys, library)
    assert code == 0, err
    assert summary["files"] == 3 and summary["ok"] == 3  # a.wav (link), albums/a.wav, albums/b.flac
    assert summary["skipped_paths"] == {"broken_link": 1, "link_loop": 1}


def _damaged_wavs(folder, keep_whole: bool):
    """half.wav (its header declares 8 s, 4 s are there) and bad-size.wav (a data-chunk size far past the file's end)."""
    folder.mkdir(exist_ok=True)
    whole = _piece(folder / "whole.wav", seconds=8.0)
    data = whole.read_bytes()
    (folder / "half.wav").write_bytes(data[: len(data) // 2])
    damaged = bytearray(data)
    at = damaged.find(b"data")
    damaged[at + 4 : at + 8] = struct.pack("<I", 0x7FFFFFF0)
    (folder / "bad-size.wav").write_bytes(bytes(damaged))
    if not keep_whole:
        whole.unlink()


def test_truncated_and_damaged_wav_are_decode_failed(tmp_path, capsys):
    _damaged_wavs(tmp_path, keep_whole=False)
    code, summary, err = scan(capsys, tmp_path)
    assert code == 0, err
    assert summary["errors"] == {"decode_failed": 2}


@pytest.mark.integration
@pytest.mark.timeout(600)  # a whole tag run (Ray start, tiny model): ~40 s on a quiet machine, minutes on a loaded one
def test_tagging_truncated_and_damaged_wav_makes_decode_failed_rows(tmp_path, models_home):
    import pyarrow.parquet as pq

    _damaged_wavs(tmp_path / "catalog", keep_whole=True)
    dst = tmp_path / "out"
    env = tag_env(models_home) | {"RAY_TMPDIR": short_ray_tmpdir()}
    proc = run_cli("tag", str(tmp_path / "catalog"), "--out", str(dst), "--model", "tiny", "--no-index", "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["errors"] == {"decode_failed": 2}
    tracks = {row["uri"].rsplit("/", 1)[-1]: row for row in pq.read_table(dst / "tracks").to_pylist()}
    assert sorted(tracks) == ["bad-size.wav", "half.wav", "whole.wav"]
    assert tracks["whole.wav"]["status"] == "ok"
    for name in ("half.wav", "bad-size.wav"):
        assert tracks[name]["status"] == "error" and tracks[name]["error_kind"] == "decode_failed", tracks[name]
        assert "ends early" in tracks[name]["error"] and "\n" not in tracks[name]["error"]
    assert pq.read_table(dst / "captions").num_rows == 1


def test_manifest_with_file_urls_and_special_files(tmp_path, capsys):
    track = _piece(tmp_path / "a.wav")
    os.mkfifo(tmp_path / "pipe.wav")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"uri\nfile://{track}\n{tmp_path / 'pipe.wav'}\n/dev/zero\n")
    code, summary, err = scan(capsys, manifest)  # reading a FIFO or /dev/zero would never end
    assert code == 0, err
    assert summary["files"] == 1 and summary["ok"] == 1
    assert summary["skipped_paths"] == {"not_a_regular_file": 2}


def test_numeric_uri_column_is_one_sentence(tmp_path, capsys):
    (tmp_path / "manifest.csv").write_text("uri\n1\n2\n")
    code, _, err = scan(capsys, tmp_path / "manifest.csv")
    assert code == 2
    assert_one_sentence(err, "'uri' column", "text")


def test_scan_writes_no_manifest_into_the_current_folder(tmp_path, capsys, monkeypatch):
    (tmp_path / "music").mkdir()
    _piece(tmp_path / "music" / "a.wav")
    monkeypatch.chdir(tmp_path)
    code, summary, err = scan(capsys, tmp_path / "music")
    assert code == 0 and summary["manifest"] is None, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["music"]


@pytest.mark.parametrize(
    "device, expected", [("cuda", "needs a CUDA GPU"), ("meta", "not supported"), ("gpu0", "unknown device")]
)
def test_caption_on_an_unusable_device_is_one_sentence(tmp_path, capsys, device, expected):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    track = _piece(tmp_path / "a.wav")
    code, _, err = cli(capsys, "caption", str(track), "--model", "tiny", "--device", device)
    assert code == 2
    assert_one_sentence(err, expected)


def test_convert_into_an_unwritable_folder_is_one_sentence(tmp_path, capsys, tiny_model):
    (tmp_path / "file").write_text("x")
    code, _, err = cli(capsys, "models", "convert", str(tiny_model), str(tmp_path / "file" / "out"))
    assert code == 2
    assert_one_sentence(err, "cannot create the folder")


class NotATensor:
    """Any class: a checkpoint pickling it is refused."""


def test_refused_pickle_does_not_advise_unsafe_loading(tmp_path, capsys):
    import collections

    import torch

    torch.save({"model": collections.OrderedDict(weight=torch.zeros(2)), "extra": NotATensor()}, tmp_path / "checkpoint.pth")
    code, _, err = cli(capsys, "models", "info", str(tmp_path / "checkpoint.pth"))
    assert code == 2
    line = assert_one_sentence(err, "other than tensors")
    assert "weights_only=False" not in line and "weights_only" not in line
