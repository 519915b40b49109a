"""The Ray Data runner and the sequential runner run one stage graph: same inputs, same tables."""

import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from tag_helpers import tag_env, write_catalog

from musiscene_core import tables
from musiscene_core.catalog import list_tracks
from musiscene_core.models import resolve_model
from musiscene_core.pipelines.sequential import SequentialRunner
from musiscene_core.tagging.config import TagConfig
from musiscene_core.tagging.graph import build_stages, model_version

pytestmark = pytest.mark.integration

# Columns that differ between any two runs by design: when, and which shard.
_PER_RUN = {"tagged_at"}


def _rows(dst, table: str, key: str) -> list[dict]:
    data = pq.read_table(dst / table).to_pylist()
    return sorted(({k: v for k, v in row.items() if k not in _PER_RUN} for row in data), key=lambda row: row[key])


def _assert_rows_equal(left: list[dict], right: list[dict]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right):
        assert a.keys() == b.keys()
        for column in a:
            if isinstance(a[column], list):  # embeddings and MERT means: float arrays
                np.testing.assert_allclose(np.array(a[column], np.float32), np.array(b[column], np.float32), rtol=1e-3, atol=1e-5)
            else:
                assert a[column] == b[column], column


def test_ray_and_sequential_runners_write_the_same_tables(tmp_path, tiny_model, models_home):
    write_catalog(tmp_path / "catalog", good=5, bad=3)
    options = dict(model=str(tiny_model), model_batch_size=2, shard_rows=4)
    ray_dst, seq_dst = tmp_path / "ray", tmp_path / "sequential"
    cmd = [
        sys.executable,
        "-m",
        "musiscene_core",
        "tag",
        str(tmp_path / "catalog"),
        "--out",
        str(ray_dst),
        "--json",
        "--no-index",
        "--model",
        str(tiny_model),
        "--batch-size",
        "2",
        "--shard-rows",
        "4",
    ]
    proc = subprocess.run(cmd, env=tag_env(models_home), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["ok"] == 5

    config = TagConfig(src=str(tmp_path / "catalog"), dst=str(seq_dst), **options)
    spec = resolve_model(config.model)
    version = model_version(config, spec)
    assert version == json.loads(proc.stdout)["model_version"]
    runner = SequentialRunner(build_stages(config, spec, version, device="cpu"))
    rows = [{"uri": t.uri, "fingerprint": t.fingerprint} for t in list_tracks(config.src).tracks]
    summaries = list(runner.batches(rows))
    assert sum(len(b["uri"]) for b in summaries) == 8

    for table, key in ((tables.TRACKS, "uri"), (tables.CAPTIONS, "track_id"), (tables.FEATURES, "track_id")):
        _assert_rows_equal(_rows(ray_dst, table, key), _rows(seq_dst, table, key))
    assert len(_rows(seq_dst, tables.CAPTIONS, "track_id")) == 5
