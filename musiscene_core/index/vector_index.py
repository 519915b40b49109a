"""FAISS indexes over unit vectors with inner product (= cosine): create, fill, search with knobs and filters.

The only knob a search needs is the one of the index's core structure: `nprobe` for IVF
indexes, `efSearch` for HNSW graphs; exact indexes have none. Wrappers (OPQ rotations,
refinement) are looked through so a factory string given by hand works the same way.
"""

from __future__ import annotations

import faiss
import numpy as np

from musiscene_core.index.selection import IndexPlan

# k-means wants tens of points per centroid; more only slows training down.
_TRAIN_POINTS_PER_CENTROID = 64
# Product quantizers train 256 centroids per sub-space, whatever nlist is.
_MIN_TRAIN_POINTS = 20_000


def create_index(plan: IndexPlan, dim: int) -> faiss.Index:
    return faiss.index_factory(dim, plan.factory, faiss.METRIC_INNER_PRODUCT)


def train_and_add(index: faiss.Index, vectors: np.ndarray, seed: int = 0) -> None:
    """Train `index` (when it needs it) on a sample of `vectors`, then add them all."""
    if not index.is_trained:
        ivf = _ivf(index)
        wanted = max(_TRAIN_POINTS_PER_CENTROID * (ivf.nlist if ivf is not None else 1), _MIN_TRAIN_POINTS)
        if len(vectors) > wanted:
            sample = np.random.default_rng(seed).choice(len(vectors), wanted, replace=False)
            index.train(vectors[np.sort(sample)])
        else:
            index.train(vectors)
    add_vectors(index, vectors)


def add_vectors(index: faiss.Index, vectors: np.ndarray) -> None:
    """Append rows; they get the next sequential ids, matching rows appended to ids.parquet."""
    ivf = _ivf(index)
    if ivf is not None:
        # A direct map lets `reconstruct(row)` fetch a stored vector (the query of `similar`).
        ivf.make_direct_map()
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))


def search_knob(index: faiss.Index) -> tuple[str, list[int]] | None:
    """The search-time knob of `index` and its candidate values, cheapest first; None for exact indexes."""
    core = core_index(index)
    if isinstance(core, faiss.IndexIVF):
        values = [2**i for i in range(int(np.log2(core.nlist)) + 1)]
        return "nprobe", values if values[-1] == core.nlist else values + [core.nlist]
    if isinstance(core, faiss.IndexHNSW):
        limit = max(16, index.ntotal)
        values = [value for value in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096) if value < limit]
        return "efSearch", values + [min(4096, limit)]
    return None


def knob_limit(index: faiss.Index) -> tuple[str, int] | None:
    """The knob value that makes a search exhaustive (IVF) or as wide as it may go (HNSW)."""
    core = core_index(index)
    if isinstance(core, faiss.IndexIVF):
        return "nprobe", core.nlist
    if isinstance(core, faiss.IndexHNSW):
        return "efSearch", max(16, index.ntotal)
    return None


def search(
    index: faiss.Index,
    queries: np.ndarray,
    k: int,
    knobs: dict[str, int],
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) [len(queries), k]; rows are -1 past the end. `allowed` is a boolean mask over rows."""
    keep_alive: list[object] = []
    selector = None
    if allowed is not None:
        bitmap = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
        keep_alive += [bitmap, selector]
    params = _parameters(index, knobs, selector, keep_alive)
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)


def core_index(index: faiss.Index) -> faiss.Index:
    """The index under OPQ/refinement wrappers, downcast to its concrete class."""
    index = faiss.downcast_index(index)
    while True:
        if isinstance(index, faiss.IndexPreTransform):
            index = faiss.downcast_index(index.index)
        elif isinstance(index, faiss.IndexRefine):
            index = faiss.downcast_index(index.base_index)
        else:
            return index


def _ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    core = core_index(index)
    return core if isinstance(core, faiss.IndexIVF) else None


def _parameters(index: faiss.Index, knobs: dict[str, int], selector, keep_alive: list[object]):
    """SearchParameters mirroring the wrapper structure of `index` (FAISS wants them nested alike)."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexPreTransform):
        params = faiss.SearchParametersPreTransform(index_params=_parameters(index.index, knobs, selector, keep_alive))
    elif isinstance(index, faiss.IndexRefine):
        params = faiss.IndexRefineSearchParameters(
            k_factor=index.k_factor, base_index_params=_parameters(index.base_index, knobs, selector, keep_alive)
        )
    elif isinstance(index, faiss.IndexIVF):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=knobs.get("nprobe", index.nprobe))
    elif isinstance(index, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=knobs.get("efSearch", index.hnsw.efSearch))
    else:
        params = faiss.SearchParameters(sel=selector)
    # The C++ side holds raw pointers to nested parameters and selectors: keep their Python owners.
    keep_alive.append(params)
    return params
