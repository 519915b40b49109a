"""Setting damaged files of an output folder aside so that the next run can recompute what they held.

A shard can be damaged by things outside the project's control (a copy killed half-way, a full
disk, a tool that rewrote it). Shards of one batch share their shard id across tables, so when any
of them cannot be read, the whole set is moved to `quarantine/<table>/`: the tracks it held are no
longer "done" and the next `tag` run tags them again. An index whose manifest or files cannot be
read is moved aside the same way and is rebuilt by the next `tag` or `index build`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from musiscene_core import tables
from musiscene_core.output_location import SHARD_PREFIX, SHARD_SUFFIX, OutputLocation

QUARANTINE_DIR = "quarantine"
SHARD_TABLES = (tables.TRACKS, tables.CAPTIONS, tables.FEATURES)


@dataclass
class RepairReport:
    checked: int = 0
    damaged: list[str] = field(default_factory=list)  # the unreadable files found
    moved: list[str] = field(default_factory=list)  # every file set aside (whole shard sets)
    index_set_aside: bool = False

    def as_dict(self) -> dict:
        return {"checked": self.checked, "damaged": self.damaged, "moved": self.moved, "index_set_aside": self.index_set_aside}


def _readable(location: OutputLocation, path: str) -> bool:
    try:
        with location.fs.open(path, "rb") as handle:
            pq.read_table(handle)
        return True
    except Exception:  # any failure to read the file whole is damage, whatever the reader raises
        return False


def _shard_id(path: str) -> str:
    return path.rsplit("/", 1)[-1][len(SHARD_PREFIX) : -len(SHARD_SUFFIX)]


def _set_aside(location: OutputLocation, path: str, *parts: str) -> str:
    target = location.path(*parts)
    location.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
    location.fs.mv(path, target)
    return target


def repair(location: OutputLocation) -> RepairReport:
    """Read every shard and the index manifest; move unreadable ones (and their shard sets) to quarantine/."""
    from musiscene_core.errors import UserError
    from musiscene_core.index.manifest import read_manifest

    report = RepairReport()
    # Each repair sets files aside in its own folder, so a second repair never overwrites the first's.
    aside = (QUARANTINE_DIR, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    shards = {table: location.shard_files(table) for table in SHARD_TABLES}
    damaged_ids = set()
    for paths in shards.values():
        for path in paths:
            report.checked += 1
            if not _readable(location, path):
                report.damaged.append(path)
                damaged_ids.add(_shard_id(path))
    for table, paths in shards.items():
        for path in paths:
            if _shard_id(path) in damaged_ids:
                _set_aside(location, path, *aside, table, path.rsplit("/", 1)[-1])
                report.moved.append(path)
    try:
        read_manifest(location)
        index_damaged = False
    except UserError:
        index_damaged = True
    if index_damaged or damaged_ids:
        # The index may point at rows of the shards just set aside: it is rebuilt from what remains.
        index_dir = location.path(tables.INDEX_DIR)
        if location.fs.isdir(index_dir):
            for path in location.fs.ls(index_dir, detail=False):
                report.moved.append(path)
                _set_aside(location, path, *aside, tables.INDEX_DIR, path.rsplit("/", 1)[-1])
            report.index_set_aside = True
        if index_damaged:
            report.damaged.append(location.path(tables.INDEX_DIR, "index.json"))
    return report
