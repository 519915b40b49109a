"""Failure corpus, outputs and search: damaged or stray files, unbounded requests, damaged indexes."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from index_tables import random_shard, write_shard
from run_helpers import assert_one_sentence, cli

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def indexed(tmp_path, capsys):
    """A small tagged output folder (4 tracks in two shards) with its index built."""
    rng = np.random.default_rng(0)
    dst = tmp_path / "out"
    write_shard(dst, random_shard(rng, ["a", "b"]), "part-0")
    write_shard(dst, random_shard(rng, ["c", "d"]), "part-1")
    code, _, err = cli(capsys, "index", "build", str(dst), "--json")
    assert code == 0, err
    return dst


def test_huge_k_is_refused_and_large_k_is_clamped(indexed, capsys):
    track = pq.read_table(indexed / "tracks").column("track_id")[0].as_py()
    code, _, err = cli(capsys, "similar", track, "--index", str(indexed), "-k", "1000000000")
    assert code == 2
    assert_one_sentence(err, "at most")
    code, out, err = cli(capsys, "similar", track, "--index", str(indexed), "-k", "5000", "--json")
    assert code == 0, err
    assert len(json.loads(out)["hits"]) == 3  # every other track, no more


def test_stray_file_in_a_table_folder_is_ignored(indexed, capsys):
    (indexed / "tracks" / "README.txt").write_text("notes about this folder\n")
    (indexed / "captions" / "part-0.parquet.bak").write_bytes(b"junk")
    code, out, err = cli(capsys, "index", "build", str(indexed), "--rebuild", "--json")
    assert code == 0, err
    assert json.loads(out)["rows"] == 4


def test_truncated_shard_is_named_then_repair_sets_it_aside(indexed, capsys):
    shard = indexed / "captions" / "part-1.parquet"
    shard.write_bytes(shard.read_bytes()[:100])
    code, _, err = cli(capsys, "index", "build", str(indexed), "--rebuild")
    assert code == 2
    assert_one_sentence(err, "musiscene repair")

    code, out, err = cli(capsys, "repair", str(indexed), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["damaged"] == [str(shard)]
    # The whole shard set goes, so its tracks count as not done and are tagged again by the next run.
    assert sorted(p.rsplit("/", 1)[1] for p in report["moved"] if "/index/" not in p) == ["part-1.parquet"] * 3
    assert not (indexed / "tracks" / "part-1.parquet").exists() and report["index_set_aside"]
    assert len(list((indexed / "quarantine").rglob("part-1.parquet"))) == 3
    code, out, err = cli(capsys, "index", "build", str(indexed), "--json")
    assert code == 0, err
    assert json.loads(out)["rows"] == 2  # what the two readable shards hold; nothing committed was lost


def test_index_manifest_that_is_not_an_object_is_a_damaged_index(indexed, capsys):
    (indexed / "index" / "index.json").write_text("[1, 2, 3]")
    code, _, err = cli(capsys, "search", "a quiet night", "--index", str(indexed))
    assert code == 2
    assert_one_sentence(err, "index")
    code, out, err = cli(capsys, "repair", str(indexed), "--json")
    assert code == 0 and json.loads(out)["index_set_aside"], err
    code, out, err = cli(capsys, "index", "build", str(indexed), "--json")
    assert code == 0 and json.loads(out)["rows"] == 4, err


def test_repair_of_a_healthy_folder_moves_nothing(indexed, capsys):
    before = sorted(p.relative_to(indexed) for p in indexed.rglob("*"))
    code, out, err = cli(capsys, "repair", str(indexed))
    assert code == 0 and "nothing is damaged" in out, err
    assert sorted(p.relative_to(indexed) for p in indexed.rglob("*")) == before


def test_control_characters_in_captions_are_not_printed_raw(tmp_path, capsys):
    rng = np.random.default_rng(0)
    dst = tmp_path / "out"
    shard = random_shard(rng, ["a", "b"])
    shard.captions = ["a line\nbreak and \x1b[31mcolour\x1b[0m", "plain"]
    shard.uris = ["/music/odd\rname.wav", "/music/b.wav"]
    write_shard(dst, shard, "part-0")
    assert cli(capsys, "index", "build", str(dst))[0] == 0
    code, out, err = cli(capsys, "similar", shard.track_ids[1], "--index", str(dst))
    assert code == 0, err
    assert "\x1b" not in out and "\r" not in out
    assert "\\x1b[31m" in out and "\\n" in out  # shown as escapes


def test_damaged_shard_stops_tag_before_work(tmp_path, capsys, models_home, monkeypatch):
    monkeypatch.setenv("MUSISCENE_MODELS", str(models_home))
    rng = np.random.default_rng(0)
    dst = tmp_path / "out"
    write_shard(dst, random_shard(rng, ["a", "b"]), "part-0")
    (dst / "tracks" / "part-0.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "catalog").mkdir()
    shutil.copy(__file__, tmp_path / "catalog" / "notes.txt")
    code, _, err = cli(capsys, "tag", str(tmp_path / "catalog"), "--out", str(dst), "--model", "tiny")
    assert code == 2
    assert_one_sentence(err, "part-0.parquet", "musiscene repair")
    assert not (dst / ".musiscene-lock.json").exists()
