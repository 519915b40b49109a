"""Training data: question/answer rows joined to cached MERT features, and the order examples are seen in.

A dataset is a Parquet file or folder (local or s3://) of rows

    track_id | uri   the audio: a track id already in a features store, or an audio file
    question         optional; empty rows get the base model's question
    answer           the caption to learn
    split            train | validation | test

MERT runs at most once per track: features come from a features store (a tagging run's output
folder, or the training output folder, where missing features are extracted and appended in the same
`features` table format), so epochs only read float16 layer means.
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from musiscene_core.catalog.storage import open_location
from musiscene_core.data.scene_dataset import is_scene_dataset, training_rows
from musiscene_core.errors import UserError

SPLITS = ("train", "validation", "test")
PREPARED_DIR = "dataset"


@dataclass
class ExampleSet:
    """One split in memory: per example its track, question, answer and MERT layer means [L, H] (float16)."""

    track_ids: list[str]
    questions: list[str]
    answers: list[str]
    features: np.ndarray  # [N, layers, hidden], float16

    def __len__(self) -> int:
        return len(self.answers)

    def take(self, indices) -> ExampleSet:
        idx = np.asarray(indices, dtype=np.int64)
        return ExampleSet(
            [self.track_ids[i] for i in idx], [self.questions[i] for i in idx], [self.answers[i] for i in idx], self.features[idx]
        )


def _parquet_paths(uri: str, endpoint_url: str | None) -> tuple[object, list[str]]:
    location = open_location(uri, endpoint_url)
    fs, root = location.fs, location.root
    if not fs.exists(root):
        raise UserError(f"dataset {uri!r} does not exist")
    if fs.isdir(root):
        paths = sorted(p for p in fs.find(root) if p.endswith(".parquet") and not posixpath.basename(p).startswith((".", "_")))
        if not paths:
            raise UserError(f"dataset folder {uri!r} holds no .parquet files")
        return fs, paths
    return fs, [root]


def read_rows(uri: str, endpoint_url: str | None = None) -> pa.Table:
    """The dataset rows, checked: an answer and a known split on every row, and a track_id or uri.

    A `build-dataset` output folder is read as it is: its ok clips, answer = scene caption."""
    if is_scene_dataset(uri, endpoint_url):
        table = training_rows(uri, endpoint_url)
    else:
        fs, paths = _parquet_paths(uri, endpoint_url)
        parts = []
        for path in paths:
            with fs.open(path, "rb") as handle:
                try:
                    parts.append(pq.read_table(handle))
                except pa.ArrowInvalid as exc:
                    raise UserError(f"{path} is not a Parquet file ({exc})") from exc
        table = pa.concat_tables(parts, promote_options="default")
    names = set(table.column_names)
    for required in ("answer", "split"):
        if required not in names:
            raise UserError(f"dataset {uri!r} has no {required!r} column (columns: {', '.join(sorted(names))})")
    if not names & {"track_id", "uri"}:
        raise UserError(f"dataset {uri!r} needs a 'track_id' or a 'uri' column to find each example's audio")
    for column in ("track_id", "uri", "question"):
        if column not in names:
            table = table.append_column(column, pa.nulls(len(table), pa.string()))
    splits = set(table.column("split").to_pylist())
    unknown = sorted(str(s) for s in splits - set(SPLITS))
    if unknown:
        raise UserError(f"dataset {uri!r} has unknown split(s) {', '.join(unknown)}; use {', '.join(SPLITS)}")
    if table.column("answer").null_count:
        raise UserError(f"dataset {uri!r} has {table.column('answer').null_count} rows without an answer")
    no_audio = pc.sum(pc.and_(pc.is_null(table.column("track_id")), pc.is_null(table.column("uri")))).as_py() or 0
    if no_audio:
        raise UserError(f"dataset {uri!r} has {no_audio} rows with neither a track_id nor a uri")
    return table.select(["track_id", "uri", "question", "answer", "split"])


def feature_rows(table: pa.Table, layers: int, hidden: int, source: str) -> dict[str, np.ndarray]:
    """track_id -> [layers, hidden] float16 from a `features` table, checking its MERT shape."""
    if table is None or len(table) == 0:
        return {}
    shapes = set(zip(table.column("mert_layers").to_pylist(), table.column("mert_hidden").to_pylist()))
    if shapes != {(layers, hidden)}:
        raise UserError(
            f"features in {source} have MERT shape(s) {sorted(shapes)} but the model expects ({layers}, {hidden}); "
            "they come from another MERT model"
        )
    flat = table.column("mert_layer_means").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    means = np.asarray(flat, dtype=np.float16).reshape(len(table), layers, hidden)
    return dict(zip(table.column("track_id").to_pylist(), means))


def write_prepared(out_uri: str, split: str, examples: ExampleSet, endpoint_url: str | None = None) -> str:
    """Write one split as OUT/dataset/<split>.parquet: the rows workers read, features inlined."""
    n, layers, hidden = examples.features.shape if len(examples) else (0, 0, 0)
    table = pa.table(
        {
            "track_id": pa.array(examples.track_ids, pa.string()),
            "question": pa.array(examples.questions, pa.string()),
            "answer": pa.array(examples.answers, pa.string()),
            "mert_layer_means": pa.FixedSizeListArray.from_arrays(
                pa.array(examples.features.reshape(-1), pa.float16()), max(layers * hidden, 1) if n else 1
            ),
            "mert_layers": pa.array([layers] * n, pa.int32()),
            "mert_hidden": pa.array([hidden] * n, pa.int32()),
        }
    )
    location = open_location(out_uri, endpoint_url)
    path = posixpath.join(location.root, PREPARED_DIR, f"{split}.parquet")
    location.fs.makedirs(posixpath.dirname(path), exist_ok=True)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    location.fs.pipe_file(path, sink.getvalue())
    return path


def load_prepared(out_uri: str, split: str, endpoint_url: str | None = None) -> ExampleSet:
    """Read a split written by `write_prepared` (an empty set when the split has no rows)."""
    location = open_location(out_uri, endpoint_url)
    path = posixpath.join(location.root, PREPARED_DIR, f"{split}.parquet")
    if not location.fs.exists(path):
        raise UserError(f"prepared split {split!r} is missing under {out_uri}; run the preparation step first")
    with location.fs.open(path, "rb") as handle:
        table = pq.read_table(handle)
    if len(table) == 0:
        return ExampleSet([], [], [], np.zeros((0, 0, 0), dtype=np.float16))
    layers, hidden = int(table.column("mert_layers")[0].as_py()), int(table.column("mert_hidden")[0].as_py())
    features = feature_rows(table, layers, hidden, path)
    ids = table.column("track_id").to_pylist()
    return ExampleSet(
        ids, table.column("question").to_pylist(), table.column("answer").to_pylist(), np.stack([features[t] for t in ids])
    )


def epoch_order(n: int, epoch: int, seed: int) -> np.ndarray:
    """The order of the training examples in `epoch`: the same on every worker and after a resume."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def steps_per_epoch(n: int, global_batch: int) -> int:
    """Optimizer steps per epoch; the last incomplete global batch is dropped, as MU-LLaMA's loader does."""
    if n < global_batch:
        raise UserError(
            f"the training split has {n} examples, fewer than one global batch of {global_batch} "
            "(batch size x workers x grad-accum); lower the batch size"
        )
    return n // global_batch


def micro_batches(order: np.ndarray, step_in_epoch: int, batch_size: int, world: int, rank: int, accum: int) -> list[np.ndarray]:
    """This worker's example indices for each accumulation micro-batch of one optimizer step.

    A step consumes the global batch order[step*G:(step+1)*G] (G = batch_size*world*accum); micro-batch
    `a` of rank `r` is its slice (a*world + r). The union over ranks and micro-batches depends on G
    only, so 2 workers x batch B see exactly the examples 1 worker x batch 2B sees.
    """
    g = batch_size * world * accum
    chunk = order[step_in_epoch * g : (step_in_epoch + 1) * g]
    return [chunk[(a * world + rank) * batch_size : (a * world + rank + 1) * batch_size] for a in range(accum)]


def shard(n: int, world: int, rank: int) -> np.ndarray:
    """Evaluation rows of one worker: every world-th row from rank, so the shards cover each row once."""
    return np.arange(rank, n, world)
