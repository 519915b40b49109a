"""Fixtures: the served catalog's index, and apps serving it (with and without a token)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "index"))  # the index tests' table builders

from index_tables import write_shard
from serve_catalog import TOKEN, make_registry, write_catalog


@pytest.fixture(scope="session")
def minilm():
    from musiscene_core.models import TextEmbedder

    return TextEmbedder()


@pytest.fixture(scope="session")
def served_run(tmp_path_factory, minilm):
    """(output folder with an index, its shard) for eight captioned tracks with real audio files."""
    from musiscene_core.index import build_index

    root = tmp_path_factory.mktemp("served")
    shard = write_catalog(root, minilm, np.random.default_rng(3))
    dst = root / "run"
    write_shard(dst, shard, "part-0")
    build_index(dst)
    return dst, shard


@pytest.fixture(scope="session")
def app(served_run, minilm):
    from musiscene_core.serve import create_app

    return create_app(make_registry(minilm, ("main", served_run[0])), token=TOKEN, reload_interval=None)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client
