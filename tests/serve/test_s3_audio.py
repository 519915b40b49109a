from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from index_tables import write_shard
from serve_catalog import make_registry, write_catalog

from musiscene_core.index import build_index
from musiscene_core.serve import create_app


@pytest.mark.integration
def test_audio_on_s3_streams_with_range_requests(tmp_path, s3_bucket, minilm):
    endpoint, bucket, fs = s3_bucket
    shard = write_catalog(tmp_path, minilm, np.random.default_rng(4))
    local = list(shard.uris)
    shard.uris = [f"s3://{bucket}/masters/scene{i}.wav" for i in range(len(local))]
    for path, uri in zip(local, shard.uris):
        fs.put(path, uri)
    dst = f"s3://{bucket}/tags"
    write_shard(tmp_path / "run", shard, "part-0")
    fs.put(str(tmp_path / "run"), dst, recursive=True)
    build_index(dst, endpoint_url=endpoint)

    registry = make_registry(minilm)
    registry.add("label", dst, endpoint)
    with TestClient(create_app(registry, endpoint_url=endpoint, reload_interval=None)) as client:
        data = Path(local[3]).read_bytes()
        whole = client.get(f"/tracks/{shard.track_ids[3]}/audio")
        part = client.get(f"/tracks/{shard.track_ids[3]}/audio", headers={"Range": "bytes=44-1043"})
        fs.rm(shard.uris[5])
        fs.invalidate_cache()
        gone = client.get(f"/tracks/{shard.track_ids[5]}/audio")

    assert whole.status_code == 200 and whole.content == data and whole.headers["content-type"] == "audio/wav"
    assert part.status_code == 206 and part.content == data[44:1044]
    assert part.headers["content-range"] == f"bytes 44-1043/{len(data)}"
    assert gone.status_code == 404
