"""Reading and writing the files of an index folder, each checked against the digest in index.json."""

from __future__ import annotations

import io

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from musiscene_core.errors import UserError
from musiscene_core.index.manifest import IDS_FILE, IndexInfo, index_file
from musiscene_core.output_location import Commit, FileDigest, OutputLocation


def ids_table(track_ids, uris, durations, captions, model_versions) -> pa.Table:
    """ids.parquet: row i of both FAISS indexes is row i of this table (with the model version that made it)."""
    return pa.table(
        {
            "row": pa.array(np.arange(len(track_ids)), pa.int64()),
            "track_id": pa.array(list(track_ids), pa.string()),
            "uri": pa.array(list(uris), pa.string()),
            "duration_s": pa.array(np.asarray(durations, dtype=np.float64), pa.float64(), from_pandas=True),
            "caption": pa.array(list(captions), pa.string()),
            "model_version": pa.array(list(model_versions), pa.string()),
        }
    )


def write_faiss(commit: Commit, file: str, index: faiss.Index) -> FileDigest:
    return commit.write_file(index_file(file), lambda sink: faiss.write_index(index, faiss.PyCallbackIOWriter(sink)))


def write_ids(commit: Commit, table: pa.Table) -> FileDigest:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return commit.write_bytes(index_file(IDS_FILE), buffer.getvalue())


def read_faiss(location: OutputLocation, file: str, expected: FileDigest) -> faiss.Index:
    try:
        index, digest = location.read_file(index_file(file), lambda source: faiss.read_index(faiss.PyCallbackIOReader(source)))
    except FileNotFoundError as exc:
        raise _missing(location, file) from exc
    except RuntimeError as exc:  # FAISS refuses a truncated or foreign file
        raise _damaged(location, file) from exc
    if digest != expected:
        raise _damaged(location, file)
    return index


def read_ids(location: OutputLocation, info: IndexInfo) -> pa.Table:
    try:
        data, digest = location.read_file(index_file(IDS_FILE), lambda source: source(info.ids_bytes + 1))
    except FileNotFoundError as exc:
        raise _missing(location, IDS_FILE) from exc
    if digest != FileDigest(bytes=info.ids_bytes, sha256=info.ids_sha256):
        raise _damaged(location, IDS_FILE)
    return pq.read_table(io.BytesIO(data))


def _missing(location: OutputLocation, file: str) -> UserError:
    return UserError(
        f"{location.path(*index_file(file))} is missing although index.json lists it; "
        "rebuild with `musiscene index build --rebuild`"
    )


def _damaged(location: OutputLocation, file: str) -> UserError:
    return UserError(
        f"{location.path(*index_file(file))} does not match its index.json (a build may be under way, "
        "or the folder is damaged); retry, or rebuild with `musiscene index build --rebuild`"
    )
