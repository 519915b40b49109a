import pytest
from index_tables import random_shard, track_id_of, write_shard

from musiscene_core.index import SceneIndex, build_index

pytestmark = pytest.mark.integration


def test_build_update_and_search_an_index_on_s3(s3_bucket, tmp_path, rng):
    endpoint, bucket, fs = s3_bucket
    local = tmp_path / "run"
    write_shard(local, random_shard(rng, [f"t{i}" for i in range(200)]), "part-0")
    fs.put(str(local) + "/", f"{bucket}/run/", recursive=True)
    dst = f"s3://{bucket}/run"

    info = build_index(dst, endpoint_url=endpoint)
    assert info.rows == 200
    assert sorted(path.rsplit("/", 1)[1] for path in fs.ls(f"{bucket}/run/index")) == [
        "audio.faiss",
        "captions.faiss",
        "ids.parquet",
        "index.json",
    ]

    more = tmp_path / "more"
    write_shard(more, random_shard(rng, [f"t{i}" for i in range(200, 230)]), "part-1")
    fs.put(str(more) + "/", f"{bucket}/run/", recursive=True)
    info = build_index(dst, endpoint_url=endpoint)
    assert (info.rows, info.added_rows, info.rebuilt) == (230, 30, False)

    index = SceneIndex.load(dst, endpoint_url=endpoint)
    hits = index.similar(track_id_of("t215"), k=5)
    assert len(hits) == 5 and track_id_of("t215") not in [hit.track_id for hit in hits]
