import numpy as np
import pytest
from index_tables import random_shard, write_shard


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def tagged_run(tmp_path, rng):
    """An output folder with one shard of 300 ok tracks and one failed track."""
    dst = tmp_path / "run"
    write_shard(dst, random_shard(rng, [f"t{i}" for i in range(300)]), "part-0", error_names=("broken",))
    return dst
