"""The tables of a tagging run's output folder: atomic shards, committed state, resume sets and run records.

Each processed batch becomes one shard per table with a shared shard id. Shards appear atomically
(see `musiscene_core.output_location.Commit`: staged and renamed locally, one PUT on object
stores), and readers skip names starting with '.' or '_'. The tracks shard is written last, so a
track counts as done only once its captions and features are in place. A crash between shards can
leave captions/features rows without a tracks row; readers therefore join on tracks and keep one
row per (track_id, model_version).
"""

from __future__ import annotations

import io
import json
import posixpath
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from musiscene_core import tables
from musiscene_core.catalog.storage import storage_options
from musiscene_core.errors import UserError
from musiscene_core.output_location import OutputLocation, damaged_shard_error


@dataclass
class OutputStore:
    location: OutputLocation

    @classmethod
    def open(cls, dst: str, endpoint_url: str | None = None) -> "OutputStore":
        # The endpoint applies when the output is on S3; a local output beside an S3 catalog ignores it.
        return cls(OutputLocation(dst, storage_options=storage_options(dst, endpoint_url)))

    @property
    def uri(self) -> str:
        return self.location.root if self.location.is_local else self.location.url

    def write_bytes(self, rel_path: str, data: bytes) -> None:
        """Write a file so that readers never see it half-written."""
        with self.location.commit() as commit:
            commit.write_bytes(tuple(rel_path.split("/")), data)

    def write_table(self, table_name: str, shard_id: str, table: pa.Table) -> None:
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        self.write_bytes(f"{table_name}/part-{shard_id}.parquet", sink.getvalue())

    def shard_paths(self, table_name: str) -> list[str]:
        fs, directory = self.location.fs, self.location.path(table_name)
        if not fs.exists(directory):
            return []
        return sorted(p for p in fs.ls(directory, detail=False) if posixpath.basename(p).startswith("part-") and p.endswith(".parquet"))

    def read_table(self, table_name: str, columns: list[str] | None = None) -> pa.Table | None:
        paths = self.shard_paths(table_name)
        if not paths:
            return None
        parts = []
        for path in paths:
            try:
                with self.location.fs.open(path, "rb") as handle:
                    parts.append(pq.read_table(handle, columns=columns))
            except (pa.ArrowInvalid, OSError) as exc:
                raise damaged_shard_error(self.location, table_name, exc, path) from exc
        return pa.concat_tables(parts, promote_options="default")

    def latest_tracks(self) -> pa.Table | None:
        """One row per uri: the most recent one (a file that changed is tagged again under the same uri)."""
        table = self.read_table(tables.TRACKS)
        if table is None or table.num_rows == 0:
            return table
        order = pc.sort_indices(table, sort_keys=[("uri", "ascending"), ("tagged_at", "descending")])
        table = table.take(order)
        uris = table.column("uri").to_pylist()
        keep = [i for i, uri in enumerate(uris) if i == 0 or uris[i - 1] != uri]
        return table.take(pa.array(keep, type=pa.int64()))

    def done_keys(self, model_version: str) -> set[tuple[str, str]]:
        """(uri, fingerprint) of files already tagged by this model version, ok or error: they are skipped on rerun."""
        table = self.latest_tracks()
        if table is None:
            return set()
        table = table.filter(pc.equal(table.column("model_version"), model_version))
        return set(zip(table.column("uri").to_pylist(), table.column("fingerprint").to_pylist()))

    def write_run_record(self, run_id: str, record: dict) -> None:
        self.write_bytes(f"{tables.RUNS_DIR}/{run_id}.json", json.dumps(record, indent=2, default=str).encode())

    def require_tracks(self) -> pa.Table:
        table = self.latest_tracks()
        if table is None:
            raise UserError(f"{self.uri} holds no tagging output (no tracks/ shards); run `musiscene tag SRC --out {self.uri}` first")
        return table
