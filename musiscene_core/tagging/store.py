"""The tables of a tagging run's output folder: atomic shards, committed state, resume sets and run records.

Each processed batch becomes one shard per table with a shared shard id. Shards appear atomically
(see `musiscene_core.output_location.Commit`: staged and renamed locally, one PUT on object
stores), and readers skip names starting with '.' or '_'. The tracks shard is written last, so a
track counts as done only once its captions and features are in place. A crash between shards can
leave captions/features rows without a tracks row; readers therefore start from the current tracks
rows (`musiscene_core.tagging.current`) and keep one row per (track_id, model_version).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import posixpath
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from musiscene_core import tables
from musiscene_core.catalog.storage import storage_options
from musiscene_core.errors import UserError
from musiscene_core.output_location import OutputLocation, damaged_shard_error
from musiscene_core.tagging.current import DELETED, current_tracks


@dataclass
class OutputStore:
    location: OutputLocation

    @classmethod
    def open(cls, dst: str, endpoint_url: str | None = None) -> OutputStore:
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
        return sorted(
            p for p in fs.ls(directory, detail=False) if posixpath.basename(p).startswith("part-") and p.endswith(".parquet")
        )

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

    def current_tracks(self) -> pa.Table | None:
        """One row per uri: its current row (see `musiscene_core.tagging.current`)."""
        return current_tracks(self.read_table(tables.TRACKS))

    def mark_deleted(self, uris: list[str], model_version: str) -> None:
        """Record that `uris` left the catalog: a `deleted` row becomes their current row, so every reader drops them."""
        now = dt.datetime.now(dt.timezone.utc)
        n = len(uris)
        rows = {name: [None] * n for name in tables.tracks_schema().names}
        rows.update(uri=list(uris), status=[DELETED] * n, model_version=[model_version] * n, tagged_at=[now] * n)
        shard_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        self.write_table(tables.TRACKS, shard_id, pa.Table.from_pydict(rows, schema=tables.tracks_schema()))

    def write_run_record(self, run_id: str, record: dict) -> None:
        self.write_bytes(f"{tables.RUNS_DIR}/{run_id}.json", json.dumps(record, indent=2, default=str).encode())

    def require_tracks(self) -> pa.Table:
        table = self.current_tracks()
        if table is None:
            raise UserError(
                f"{self.uri} holds no tagging output (no tracks/ shards); run `musiscene tag SRC --out {self.uri}` first"
            )
        return table
