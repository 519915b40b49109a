import hashlib
import json
import os

import faiss
import numpy as np
import pyarrow.parquet as pq
import pytest
from index_tables import EMBED_MODEL, MODEL_VERSION, random_shard, track_id_of, write_shard

from musiscene_core.errors import UserError
from musiscene_core.index import SceneIndex, build_index, persistence


def _index_dir(dst):
    return os.path.join(dst, "index")


def _sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_small_run_gets_exact_indexes_and_a_complete_manifest(tagged_run):
    info = build_index(tagged_run)

    manifest = json.load(open(os.path.join(_index_dir(tagged_run), "index.json")))
    assert manifest["rows"] == info.rows == 300  # the failed track is not indexed
    assert manifest["metric"] == "inner_product"
    assert manifest["model_versions"] == [MODEL_VERSION]
    assert manifest["created_at"] and manifest["build_seconds"] > 0
    for name, dim in (("captions", 384), ("audio", 32)):
        part = manifest[name]
        assert part["factory"] == "Flat" and part["dim"] == dim
        assert part["search_params"] == {}
        assert part["recall_at_10"] == 1.0 and part["recall_queries"] == 200
        path = os.path.join(_index_dir(tagged_run), part["file"])
        assert part["sha256"] == _sha256(path) and part["bytes"] == os.path.getsize(path)
        assert faiss.read_index(path).ntotal == 300
    assert manifest["captions"]["embedding_model"] == EMBED_MODEL
    assert manifest["ids_sha256"] == _sha256(os.path.join(_index_dir(tagged_run), "ids.parquet"))

    ids = pq.read_table(os.path.join(_index_dir(tagged_run), "ids.parquet")).to_pydict()
    assert ids["row"] == list(range(300))
    assert ids["track_id"] == sorted(track_id_of(f"t{i}") for i in range(300))
    assert track_id_of("broken") not in ids["track_id"]
    # No staging leftovers next to the committed files.
    assert sorted(os.listdir(_index_dir(tagged_run))) == ["audio.faiss", "captions.faiss", "ids.parquet", "index.json"]


def test_index_rows_hold_the_tables_vectors_normalised(tmp_path, rng):
    shard = random_shard(rng, [f"t{i}" for i in range(50)])
    shard.caption_vectors = shard.caption_vectors * 3.0  # not unit length on disk
    write_shard(tmp_path, shard, "part-0")
    build_index(tmp_path)

    index = faiss.read_index(os.path.join(_index_dir(tmp_path), "captions.faiss"))
    ids = pq.read_table(os.path.join(_index_dir(tmp_path), "ids.parquet")).column("track_id").to_pylist()
    row = ids.index(shard.track_ids[0])
    np.testing.assert_allclose(index.reconstruct(row), shard.caption_vectors[0] / 3.0, atol=1e-6)


def test_above_the_threshold_an_ivf_index_is_tuned_to_the_recall_target(tmp_path, rng):
    write_shard(tmp_path, random_shard(rng, [f"t{i}" for i in range(3000)]), "part-0")
    info = build_index(tmp_path, flat_threshold=1000, recall_target=0.9)

    for part in (info.captions, info.audio):
        assert part.factory.startswith("IVF") and part.factory.endswith(",Flat")
        nprobe = part.search_params["nprobe"]
        assert 1 <= nprobe < int(part.factory[3:].split(",")[0])  # cheaper than exhaustive
        assert part.recall_at_10 >= 0.85  # measured on queries other than the tuning ones


def test_a_small_memory_budget_selects_compressed_codes_and_records_their_recall(tmp_path, rng):
    write_shard(tmp_path, random_shard(rng, [f"t{i}" for i in range(10_000)], caption_dim=64), "part-0")
    info = build_index(tmp_path, memory_budget="1MB")

    # Shared in proportion to dimensions: 667 KB for 64-d captions, 333 KB for 32-d audio.
    assert info.captions.factory == "IVF256,PQ32np"
    assert info.audio.factory == "IVF256,PQ8np"
    assert info.captions.bytes + info.audio.bytes < 1_000_000
    # Lossy codes cannot reach the target: the recall recorded is what they achieve.
    assert 0.2 < info.captions.recall_at_10 < 0.95
    assert len(SceneIndex.load(tmp_path).similar(track_id_of("t1"), k=10)) == 10


def test_duplicate_track_ids_across_shards_become_one_row(tmp_path, rng):
    shard = random_shard(rng, [f"t{i}" for i in range(40)])
    write_shard(tmp_path, shard, "part-0")
    write_shard(tmp_path, shard, "part-1")  # a resumed run rewrote the same tracks
    info = build_index(tmp_path)

    ids = pq.read_table(os.path.join(_index_dir(tmp_path), "ids.parquet")).column("track_id").to_pylist()
    assert info.rows == 40 and len(set(ids)) == 40


def test_tracks_without_caption_or_features_are_skipped_and_counted(tmp_path, rng):
    shard = random_shard(rng, [f"t{i}" for i in range(30)])
    write_shard(tmp_path, shard, "part-0", only=("tracks",))
    with_captions = shard.subset(slice(5, 30))  # t0..t4 were never captioned
    with_captions.caption_vectors[0] = np.nan  # t5: an unusable embedding
    write_shard(tmp_path, with_captions, "part-0", only=("captions",))
    write_shard(tmp_path, shard.subset(slice(0, 28)), "part-0", only=("features",))  # t28, t29 lack features

    info = build_index(tmp_path)
    assert info.rows == 22
    assert info.skipped == {"no caption": 5, "no features": 2, "invalid embedding": 1}


def test_nothing_to_index_is_a_clear_error(tmp_path, rng):
    write_shard(tmp_path, random_shard(rng, []), "part-0", error_names=("a", "b"))
    with pytest.raises(UserError, match="nothing to index .* no ok track"):
        build_index(tmp_path)


def test_a_folder_without_tables_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no tracks/ table"):
        build_index(tmp_path / "nowhere")


def test_captions_embedded_with_two_models_are_refused(tmp_path, rng):
    write_shard(tmp_path, random_shard(rng, ["a", "b"]), "part-0")
    other = random_shard(rng, ["c"])
    other.embed_model = "someone/else"
    write_shard(tmp_path, other, "part-1")
    with pytest.raises(UserError, match="2 different models"):
        build_index(tmp_path)


def test_a_second_build_adds_only_new_tracks(tagged_run, rng):
    first = build_index(tagged_run)
    write_shard(tagged_run, random_shard(rng, [f"t{i}" for i in range(290, 350)]), "part-1")  # 10 overlap

    second = build_index(tagged_run)
    assert (second.rows, second.added_rows, second.rebuilt) == (350, 50, False)
    ids = pq.read_table(os.path.join(_index_dir(tagged_run), "ids.parquet")).column("track_id").to_pylist()
    assert len(set(ids)) == 350
    # Existing rows keep their positions; new ones are appended.
    assert ids[:300] == sorted(track_id_of(f"t{i}") for i in range(300))
    assert faiss.read_index(os.path.join(_index_dir(tagged_run), "audio.faiss")).ntotal == 350
    assert first.captions.sha256 != second.captions.sha256


def test_a_build_with_nothing_new_rewrites_nothing(tagged_run):
    build_index(tagged_run)
    manifest = os.path.join(_index_dir(tagged_run), "index.json")
    before = (os.stat(manifest).st_mtime_ns, _sha256(manifest))

    again = build_index(tagged_run)
    assert (again.rows, again.added_rows, again.rebuilt) == (300, 0, False)
    assert (os.stat(manifest).st_mtime_ns, _sha256(manifest)) == before


def test_a_budget_that_calls_for_another_index_type_rebuilds_even_without_new_tracks(tagged_run):
    assert build_index(tagged_run).captions.factory == "Flat"
    info = build_index(tagged_run, memory_budget="300KB")
    assert info.rebuilt and info.captions.factory.endswith(",SQ8")


def test_tracks_gone_from_the_tables_leave_the_index_on_the_next_build(tagged_run, rng):
    build_index(tagged_run)
    for folder in ("tracks", "captions", "features"):
        os.remove(os.path.join(tagged_run, folder, "part-0.parquet"))
    write_shard(tagged_run, random_shard(rng, ["only"]), "part-1")
    info = build_index(tagged_run)
    assert (info.rows, info.rebuilt) == (1, True)


def test_crossing_the_size_threshold_rebuilds_with_the_new_index_type(tmp_path, rng):
    write_shard(tmp_path, random_shard(rng, [f"t{i}" for i in range(800)]), "part-0")
    assert build_index(tmp_path, flat_threshold=1000).captions.factory == "Flat"
    write_shard(tmp_path, random_shard(rng, [f"t{i}" for i in range(800, 2000)]), "part-1")

    info = build_index(tmp_path, flat_threshold=1000)
    assert info.captions.factory.startswith("IVF") and info.rebuilt and info.rows == 2000
    hits = SceneIndex.load(tmp_path).similar(track_id_of("t1999"), k=5)
    assert len(hits) == 5


def test_incremental_ivf_update_keeps_the_type_and_retunes(tmp_path, rng):
    write_shard(tmp_path, random_shard(rng, [f"t{i}" for i in range(2500)]), "part-0")
    first = build_index(tmp_path, flat_threshold=1000)
    write_shard(tmp_path, random_shard(rng, [f"t{i}" for i in range(2500, 2700)]), "part-1")

    second = build_index(tmp_path, flat_threshold=1000)
    assert second.captions.factory == first.captions.factory
    assert (second.rows, second.added_rows, second.rebuilt) == (2700, 200, False)
    index = SceneIndex.load(tmp_path)
    # An added row is reachable through the IVF direct map (similar() reconstructs its vector).
    assert index.similar(track_id_of("t2699"), k=3)[0].track_id != track_id_of("t2699")


def test_a_changed_embedding_model_asks_for_a_rebuild(tagged_run, rng):
    build_index(tagged_run)
    other = random_shard(rng, ["new"])
    other.embed_model = "someone/else"
    for folder in ("tracks", "captions", "features"):
        os.remove(os.path.join(tagged_run, folder, "part-0.parquet"))
    write_shard(tagged_run, other, "part-1")
    with pytest.raises(UserError, match="--rebuild"):
        build_index(tagged_run)
    assert build_index(tagged_run, rebuild=True).rows == 1


def test_a_failed_build_leaves_the_previous_index_intact(tagged_run, rng, monkeypatch):
    build_index(tagged_run)
    before = {name: _sha256(os.path.join(_index_dir(tagged_run), name)) for name in os.listdir(_index_dir(tagged_run))}
    write_shard(tagged_run, random_shard(rng, ["late"]), "part-1")

    def disk_full(commit, table):
        raise OSError("No space left on device")

    monkeypatch.setattr(persistence, "write_ids", disk_full)
    with pytest.raises(OSError):
        build_index(tagged_run)

    after = {name: _sha256(os.path.join(_index_dir(tagged_run), name)) for name in os.listdir(_index_dir(tagged_run))}
    assert after == before  # same files, same bytes, no temporary leftovers
    assert len(SceneIndex.load(tagged_run)) == 300


def test_the_index_serves_only_current_rows_after_an_upgrade_and_a_deletion(tmp_path, rng):
    import datetime as dt

    import pyarrow as pa

    shard = random_shard(rng, [f"t{i}" for i in range(20)])
    write_shard(tmp_path, shard, "part-0")
    assert build_index(tmp_path).model_versions == [MODEL_VERSION]
    # The same files tagged again by model version v2 (new captions), then t0 deleted from the catalog.
    for folder in ("tracks", "captions", "features"):
        table = pq.read_table(os.path.join(tmp_path, folder, "part-0.parquet"))
        table = table.set_column(table.schema.get_field_index("model_version"), "model_version", pa.array(["v2"] * 20))
        if folder == "captions":
            table = table.set_column(
                table.schema.get_field_index("caption"), "caption", pa.array([f"new {c}" for c in shard.captions])
            )
        if folder == "tracks":
            later = [t + dt.timedelta(seconds=1) for t in table.column("tagged_at").to_pylist()]
            table = table.set_column(
                table.schema.get_field_index("tagged_at"), "tagged_at", pa.array(later, table.schema.field("tagged_at").type)
            )
            deleted = {
                **{name: None for name in table.column_names},
                "uri": shard.uris[0],
                "status": "deleted",
                "model_version": "v2",
                "tagged_at": later[0] + dt.timedelta(seconds=1),
            }
            table = pa.concat_tables([table, pa.Table.from_pylist([deleted], schema=table.schema)])
        pq.write_table(table, os.path.join(tmp_path, folder, "part-1.parquet"))

    info = build_index(tmp_path)
    assert info.rebuilt and info.rows == 19 and info.model_versions == ["v2"]
    ids = pq.read_table(os.path.join(_index_dir(tmp_path), "ids.parquet")).to_pydict()
    assert set(ids["model_version"]) == {"v2"} and all(c.startswith("new ") for c in ids["caption"])
    assert shard.track_ids[0] not in ids["track_id"]
    hit = SceneIndex.load(tmp_path).similar(shard.track_ids[1], k=1)[0]
    assert hit.model_version == "v2" and hit.caption.startswith("new ")
    assert build_index(tmp_path).added_rows == 0  # up to date: nothing rebuilt on the next run
