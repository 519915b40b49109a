"""The in-process runner of the tagging stage graph: no Ray, one stage after the other in this process.

It runs the same `Stage` list the Ray Data runner runs, so a track gets the same rows either way.
Each stage is built once (models load once) and called on batches of its own batch size; the rows
go through the graph `batch_rows` at a time and each finished batch is yielded, so callers print or
count results as they come. Used by `musiscene caption`, training's feature preparation, the tests
and the benchmarks' baselines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from musiscene_core.tagging.graph import Stage


class SequentialRunner:
    def __init__(self, stages: Sequence[Stage]):
        self.stages = list(stages)
        self.built = {stage.name: stage.build() for stage in self.stages}

    def batches(self, rows: Iterable[dict], batch_rows: int | None = None) -> Iterator[dict]:
        """Run every stage over `rows` ({"uri", "fingerprint"} dicts); yield each output batch.

        batch_rows: rows per pass through the graph (default: the last stage's batch size, which
        for the write stage is one shard)."""
        rows = list(rows)
        step = batch_rows or self.stages[-1].batch_size
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            batch = {key: np.array([row[key] for row in chunk], dtype=object) for key in ("uri", "fingerprint")}
            for stage in self.stages:
                batch = _call_in_batches(self.built[stage.name], batch, stage.batch_size)
            yield batch


def _call_in_batches(stage, batch: dict, batch_size: int) -> dict:
    n = len(batch["uri"])
    if n <= batch_size:
        return stage(batch)
    parts = [stage({key: value[start : start + batch_size] for key, value in batch.items()}) for start in range(0, n, batch_size)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
