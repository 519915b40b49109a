import numpy as np
import pytest
from index_tables import clustered_vectors

from musiscene_core.index import recall, vector_index
from musiscene_core.index.selection import IndexPlan


@pytest.fixture(scope="module")
def vectors():
    return clustered_vectors(np.random.default_rng(3), 4000, 32, clusters=30)


def _built(factory, vectors):
    index = vector_index.create_index(IndexPlan(factory, 0), vectors.shape[1])
    vector_index.train_and_add(index, vectors)
    return index


@pytest.mark.parametrize(
    "factory, knob",
    [
        ("Flat", None),
        ("IVF32,Flat", "nprobe"),
        ("HNSW16,Flat", "efSearch"),
        ("PCAR16,IVF32,Flat", "nprobe"),
        ("IVF32,PQ8np,RFlat", "nprobe"),
    ],
)
def test_filters_and_knobs_reach_through_every_index_structure(vectors, factory, knob):
    index = _built(factory, vectors)
    assert (vector_index.search_knob(index) or (None,))[0] == knob

    allowed = np.zeros(len(vectors), dtype=bool)
    allowed[::7] = True
    limit = vector_index.knob_limit(index)
    knobs = {} if limit is None else {limit[0]: limit[1]}
    _, rows = vector_index.search(index, vectors[:5], 10, knobs, allowed)
    assert (rows >= 0).all()
    assert (rows % 7 == 0).all()


def test_a_wider_knob_finds_more_true_neighbours(vectors):
    index = _built("IVF64,Flat", vectors)
    queries = recall.blended_queries(vectors, 100, seed=1)
    truth = recall.exact_neighbours(vectors, queries, 10)
    narrow = recall.recall_at_k(vector_index.search(index, queries, 10, {"nprobe": 1})[1], truth)
    exhaustive = recall.recall_at_k(vector_index.search(index, queries, 10, {"nprobe": 64})[1], truth)
    assert narrow < 0.9
    assert exhaustive == 1.0


def test_tuning_picks_the_cheapest_knob_reaching_the_target(vectors):
    index = _built("IVF64,Flat", vectors)
    loose = recall.tune(index, vectors, target=0.5)
    strict = recall.tune(index, vectors, target=0.99)
    assert loose.knobs["nprobe"] < strict.knobs["nprobe"]
    assert strict.recall >= 0.97 and loose.recall >= 0.4
    assert recall.tune(_built("Flat", vectors), vectors).knobs == {}


def test_lossy_codes_settle_on_their_plateau_instead_of_an_exhaustive_scan(vectors):
    index = _built("IVF16,PQ4np", vectors)
    tuning = recall.tune(index, vectors, target=0.999)
    assert tuning.recall < 0.9
    assert tuning.knobs["nprobe"] <= 16


def test_recall_counts_the_overlap_of_top_k_sets():
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 9, -1], [5, 6, 7, 8]])
    assert recall.recall_at_k(found, truth) == pytest.approx((0.5 + 1.0) / 2)
