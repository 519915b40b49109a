import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musiscene_core import tables
from musiscene_core.errors import UserError
from musiscene_core.tagging.config import TagConfig
from musiscene_core.tagging.plan import plan_run
from musiscene_core.tagging.store import OutputStore


def _tracks(rows):
    base = {k: None for k in tables.tracks_schema().names}
    return pa.Table.from_pylist([base | r for r in rows], schema=tables.tracks_schema())


def _row(uri, fp, version="v1", when=0, status="ok", kind=None):
    return {
        "uri": uri,
        "fingerprint": fp,
        "model_version": version,
        "status": status,
        "track_id": uri[-1] * 64,
        "error_kind": kind,
        "tagged_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=when),
    }


def test_shards_are_written_atomically_and_hidden_files_ignored(tmp_path):
    store = OutputStore.open(str(tmp_path / "out"))
    store.write_table(tables.TRACKS, "a", _tracks([_row("/x/1", "f1")]))
    (tmp_path / "out" / "tracks" / ".part-b.parquet.123.tmp").write_bytes(b"half written")
    assert [os.path.basename(p) for p in store.shard_paths(tables.TRACKS)] == ["part-a.parquet"]
    assert store.read_table(tables.TRACKS).num_rows == 1
    assert not [p for p in os.listdir(tmp_path / "out" / "tracks") if p.endswith(".tmp") and "123" not in p]
    # The standard readers agree: hidden files are not part of the dataset.
    assert pq.read_table(tmp_path / "out" / "tracks").num_rows == 1


def test_current_row_is_the_newest_per_uri(tmp_path):
    store = OutputStore.open(str(tmp_path))
    store.write_table(tables.TRACKS, "1", _tracks([_row("/c/1", "old", when=0), _row("/c/2", "f2", when=0, status="error")]))
    store.write_table(tables.TRACKS, "2", _tracks([_row("/c/1", "new", when=5), _row("/c/3", "f3", version="v0", when=5)]))
    current = store.current_tracks()
    assert sorted(zip(current.column("uri").to_pylist(), current.column("fingerprint").to_pylist())) == [
        ("/c/1", "new"),
        ("/c/2", "f2"),
        ("/c/3", "f3"),
    ]
    # On equal timestamps the later shard wins.
    store.write_table(tables.TRACKS, "3", _tracks([_row("/c/3", "f3b", version="v0", when=5)]))
    assert "f3b" in store.current_tracks().column("fingerprint").to_pylist()


def test_empty_store_is_a_clear_error(tmp_path):
    store = OutputStore.open(str(tmp_path))
    assert store.read_table(tables.TRACKS) is None
    assert store.current_tracks() is None
    with pytest.raises(UserError, match="no tagging output"):
        store.require_tracks()


def test_plan_skips_unchanged_files_without_reading_them(tmp_path):
    catalog = tmp_path / "cat"
    catalog.mkdir()
    for name in ("a.wav", "b.wav", "c.wav"):
        (catalog / name).write_bytes(b"0" * 10)
    store = OutputStore.open(str(tmp_path / "out"))
    first = plan_run(str(catalog), store, "v1")
    assert len(first.todo) == 3 and first.skipped_done == 0
    done = [r for r in first.todo if r.uri.endswith(("a.wav", "b.wav"))]
    store.write_table(tables.TRACKS, "s", _tracks([_row(r.uri, r.fingerprint) for r in done]))
    second = plan_run(str(catalog), store, "v1")
    assert [r.uri.rsplit("/", 1)[1] for r in second.todo] == ["c.wav"] and second.skipped_done == 2
    (catalog / "a.wav").write_bytes(b"1" * 11)  # changed file: new fingerprint, tagged again
    third = plan_run(str(catalog), store, "v1")
    assert sorted(r.uri.rsplit("/", 1)[1] for r in third.todo) == ["a.wav", "c.wav"]
    assert len(plan_run(str(catalog), store, "v2").todo) == 3
    assert len(plan_run(str(catalog), store, "v1", force=True).todo) == 3


def test_config_validation_and_yaml(tmp_path):
    with pytest.raises(UserError, match="unknown window policy"):
        TagConfig(src="a", dst="b", policy="half").validate()
    with pytest.raises(UserError, match="shard-rows must be at least 1"):
        TagConfig(src="a", dst="b", shard_rows=0).validate()
    path = tmp_path / "c.yaml"
    path.write_text("model: tiny\nmert_actors: 3\npolicy: mu-llama\n")
    config = TagConfig.from_yaml(path, src="s", dst="d", mert_actors=None, policy="whole")
    assert (config.mert_actors, config.policy, config.src) == (3, "whole", "s")
    path.write_text("bogus_option: 1\n")
    with pytest.raises(UserError, match="unknown options: bogus_option"):
        TagConfig.from_yaml(path, src="s", dst="d")


def test_reruns_retry_transient_errors_and_changed_permanent_ones(tmp_path):
    catalog = tmp_path / "cat"
    catalog.mkdir()
    for name in ("bad.wav", "blip.wav", "ok.wav", "oom.wav"):
        (catalog / name).write_bytes(b"0" * 10)
    store = OutputStore.open(str(tmp_path / "out"))
    refs = {r.uri.rsplit("/", 1)[1]: r for r in plan_run(str(catalog), store, "v1").todo}
    store.write_table(
        tables.TRACKS,
        "s",
        _tracks(
            [
                _row(refs["bad.wav"].uri, refs["bad.wav"].fingerprint, status="error", kind="decode_failed"),
                _row(refs["blip.wav"].uri, refs["blip.wav"].fingerprint, status="error", kind="unreadable"),
                _row(refs["oom.wav"].uri, refs["oom.wav"].fingerprint, status="error", kind="mert_failed"),
                _row(refs["ok.wav"].uri, refs["ok.wav"].fingerprint),
            ]
        ),
    )
    plan = plan_run(str(catalog), store, "v1")
    assert sorted(r.uri.rsplit("/", 1)[1] for r in plan.todo) == ["blip.wav", "oom.wav"] and plan.retried == 2
    everything = plan_run(str(catalog), store, "v1", retry_errors=True)
    assert len(everything.todo) == 3 and everything.retried == 3
    (catalog / "bad.wav").write_bytes(b"1" * 11)  # a permanent error whose file changed is retried
    assert len(plan_run(str(catalog), store, "v1").todo) == 3


def test_files_gone_from_a_full_listing_are_planned_as_deleted_once(tmp_path):
    catalog = tmp_path / "cat"
    catalog.mkdir()
    for name in ("a.wav", "b.wav"):
        (catalog / name).write_bytes(b"0" * 10)
    store = OutputStore.open(str(tmp_path / "out"))
    refs = plan_run(str(catalog), store, "v1").todo
    other = _row("/elsewhere/x.wav", "fx")  # tagged from another catalog: not this listing's business
    store.write_table(tables.TRACKS, "s", _tracks([_row(r.uri, r.fingerprint) for r in refs] + [other]))
    (catalog / "b.wav").unlink()
    plan = plan_run(str(catalog), store, "v1")
    assert plan.deleted == [refs[1].uri] and plan.todo == []
    store.mark_deleted(plan.deleted, "v1")
    current = {row["uri"]: row["status"] for row in store.current_tracks().to_pylist()}
    assert current == {refs[0].uri: "ok", refs[1].uri: "deleted", "/elsewhere/x.wav": "ok"}
    assert plan_run(str(catalog), store, "v1").deleted == []
    (catalog / "b.wav").write_bytes(b"0" * 10)  # back again: tagged again
    assert [r.uri for r in plan_run(str(catalog), store, "v1").todo] == [refs[1].uri]
