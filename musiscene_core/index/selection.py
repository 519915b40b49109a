"""Which FAISS index to build for a given size and memory budget.

The choice follows the same idea as autofaiss: exact search while it is cheap, then inverted
file (IVF) indexes whose codes are as precise as the memory budget allows:

    rows < flat_threshold and vectors fit  -> Flat               (exact, 4*dim bytes per row)
    vectors fit                            -> IVF{nlist},Flat    (4*dim bytes per row)
    otherwise                              -> IVF{nlist},SQ8     (dim bytes per row)
    otherwise                              -> IVF{nlist},PQ{m}np (m bytes per row, largest m that fits)

IVF-Flat was preferred over HNSW for the middle tier: on 2 cores it builds about ten times
faster (100k x 384: 4 s against 48 s for HNSW32), adds new rows without degrading, honours ID
filters exhaustively once nprobe is raised, and even on structureless vectors, where HNSW32
needed efSearch 2048 (13 ms per query) for recall@10 0.96, its exhaustive probe took 8 ms.
At 1M caption-like vectors it answers in under 2 ms at recall@10 0.98
(benchmarks/results/index_search.md).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from musiscene_core.errors import UserError

DEFAULT_FLAT_THRESHOLD = 100_000
DEFAULT_MEMORY_BUDGET = "4GB"

# Below ~39 training points per centroid k-means is unreliable (FAISS warns).
MIN_POINTS_PER_CENTROID = 39
# A product quantizer trains 256 centroids per sub-space; with fewer points than this its k-means
# degenerates (and becomes very slow), and so few rows never need such compression anyway.
MIN_PQ_ROWS = 256 * MIN_POINTS_PER_CENTROID
# A flat coarse quantizer scans every centroid per query; past this many an HNSW graph over the
# centroids is faster.
HNSW_QUANTIZER_MIN_NLIST = 16_384
# Per-row bookkeeping of an IVF index: the id stored in its list and the direct map used to
# reconstruct a row's vector (needed by `similar`).
_IVF_ROW_OVERHEAD = 16

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_memory_size(text: str | int) -> int:
    """'4GB' -> 4_000_000_000, '512MiB' -> 536_870_912, 1000 -> 1000."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise UserError(f"cannot read memory size {text!r}; write it like 4GB, 512MB or 2GiB")
    return int(float(match.group(1)) * _UNITS[unit])


@dataclass(frozen=True)
class IndexPlan:
    """A FAISS factory string and the memory its index is expected to take."""

    factory: str
    estimated_bytes: int

    @property
    def nlist(self) -> int | None:
        match = re.search(r"IVF(\d+)", self.factory)
        return int(match.group(1)) if match else None


def ivf_nlist(rows: int) -> int:
    """Number of inverted lists: the power of two nearest 4*sqrt(rows), with enough points per centroid.

    Powers of two make the choice stable: it changes (and an incremental build rebuilds)
    only when the row count has grown about fourfold.
    """
    target = 2 ** round(math.log2(max(4 * math.sqrt(rows), 1)))
    trainable = 2 ** max(int(math.log2(max(rows // MIN_POINTS_PER_CENTROID, 1))), 0)
    return max(1, min(target, trainable))


def plan_index(rows: int, dim: int, memory_budget: int, flat_threshold: int = DEFAULT_FLAT_THRESHOLD) -> IndexPlan:
    """The most accurate index for `rows` vectors of `dim` floats that fits `memory_budget` bytes."""
    if rows <= 0:
        raise ValueError("cannot plan an index for zero rows")
    flat_bytes = rows * dim * 4
    if rows < flat_threshold and flat_bytes <= memory_budget:
        return IndexPlan("Flat", flat_bytes)
    nlist = ivf_nlist(rows)
    quantizer = f"IVF{nlist}_HNSW32" if nlist >= HNSW_QUANTIZER_MIN_NLIST else f"IVF{nlist}"
    fixed = nlist * dim * 4 + (nlist * 32 * 2 * 4 if nlist >= HNSW_QUANTIZER_MIN_NLIST else 0)
    choices = _ivf_code_choices(dim, rows)
    for codes, code_bytes, codebook_bytes in choices:
        estimate = fixed + codebook_bytes + rows * (code_bytes + _IVF_ROW_OVERHEAD)
        if estimate <= memory_budget:
            return IndexPlan(f"{quantizer},{codes}", estimate)
    smallest = fixed + choices[-1][2] + rows * (choices[-1][1] + _IVF_ROW_OVERHEAD)
    raise UserError(
        f"a memory budget of {memory_budget:,} bytes is too small for {rows:,} vectors of {dim} dimensions; "
        f"the most compact index needs about {smallest:,} bytes"
    )


def _ivf_code_choices(dim: int, rows: int) -> list[tuple[str, int, int]]:
    """IVF encodings from most to least precise: (factory suffix, bytes per row, bytes of codebooks)."""
    choices = [("Flat", 4 * dim, 0), ("SQ8", dim, 8 * dim)]
    if rows >= MIN_PQ_ROWS:
        # m sub-quantizers of 8 bits, m dividing dim, at least 2 dimensions each; their 256
        # centroids per sub-space make 256*dim floats whatever m is. "np" skips polysemous
        # training, which only serves Hamming-filtered search and takes minutes.
        choices += [(f"PQ{m}np", m, 256 * dim * 4) for m in range(dim // 2, 3, -1) if dim % m == 0]
    return choices
