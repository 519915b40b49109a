"""The output folder of `build-dataset`: scene-caption rows per clip, their MERT features, run records.

    DST/dataset.json          what kind of folder this is and the split settings every run must share
    DST/clips/part-*.parquet  one row per clip: uri, segment, the three captions, versions, split, status
    DST/features/part-*.parquet  MERT layer means of every ok clip (the tagging `features` format,
                              keyed by clip_id), so training never decodes a video again
    DST/runs/<run_id>.json    each run's configuration and summary

Shards are committed atomically (see `musiscene_core.output_location`); the clips shard of a batch is
written after its features shard, so a clip counts as done only when its features are in place.
Shards are append-only history: a clip's current row is its newest row (by `built_at`) for its
(uri, segment); every reader goes through `current_clips`.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from musiscene_core import tables
from musiscene_core.catalog.storage import storage_options
from musiscene_core.errors import UserError
from musiscene_core.output_location import OutputLocation

CLIPS = "clips"
SETTINGS_FILE = "dataset.json"
KIND = "musiscene-scene-dataset"
OK, ERROR, DUPLICATE = "ok", "error", "duplicate"

_META = {b"musiscene.schema_version": tables.SCHEMA_VERSION.encode(), b"musiscene.table": CLIPS.encode()}


def clips_schema() -> pa.Schema:
    return pa.schema(
        [
            ("clip_id", pa.string()),  # sha256 of (video_id, segment); the features key; null when the video is unreadable
            ("uri", pa.string()),
            ("segment", pa.string()),  # "whole" or "START-END" in seconds
            ("start_s", pa.float64()),
            ("end_s", pa.float64()),
            ("video_id", pa.string()),  # sha256 of the video's bytes: the source identity
            ("fingerprint", pa.string()),
            ("bytes", pa.int64()),
            ("duration_s", pa.float64()),
            ("split", pa.string()),  # train | validation | test (by video); null when the video is unreadable
            ("video_caption", pa.string()),
            ("music_caption", pa.string()),
            ("scene_caption", pa.string()),
            ("question", pa.string()),  # the question the scene caption answers (the MusiScene question)
            ("music_question", pa.string()),  # the question the music caption answers
            ("video_captioner", pa.string()),  # model versions: name + weights hash (or hub id @ commit)
            ("music_model", pa.string()),
            ("llm_model", pa.string()),
            ("prompt_version", pa.string()),
            ("build_version", pa.string()),  # all of the above plus frames and split settings
            ("status", pa.string()),  # ok | error | duplicate
            ("error_kind", pa.string()),
            ("error", pa.string()),
            ("duplicate_of", pa.string()),  # the uri kept for a byte-identical video
            ("llm_prompt_tokens", pa.int64()),
            ("llm_completion_tokens", pa.int64()),
            ("llm_attempts", pa.int32()),
            ("built_at", pa.timestamp("us", tz="UTC")),
        ],
        metadata=_META,
    )


class SceneDatasetStore:
    """Reads and writes a build-dataset output folder (local or s3://)."""

    def __init__(self, dst: str, endpoint_url: str | None = None):
        from musiscene_core.tagging.store import OutputStore

        self.tables = OutputStore(OutputLocation(dst, storage_options=storage_options(dst, endpoint_url)))
        self.location = self.tables.location

    @property
    def uri(self) -> str:
        return self.tables.uri

    def settings(self) -> dict | None:
        if not self.location.exists(SETTINGS_FILE):
            return None
        return json.loads(self.location.fs.cat_file(self.location.path(SETTINGS_FILE)))

    def claim(self, settings: dict) -> None:
        """Record the split settings on the first run; refuse a later run whose settings would move videos between splits."""
        previous = self.settings()
        record = {"kind": KIND, "schema_version": tables.SCHEMA_VERSION, **settings}
        if previous is None:
            if self.location.exists(CLIPS) and self.tables.shard_paths(CLIPS):
                raise UserError(f"{self.uri} holds clips but no {SETTINGS_FILE}; it is not a build-dataset output")
            self.tables.write_bytes(SETTINGS_FILE, json.dumps(record, indent=2).encode())
            return
        if previous.get("kind") != KIND:
            raise UserError(f"{self.uri} is not a build-dataset output ({SETTINGS_FILE} says {previous.get('kind')!r})")
        changed = sorted(k for k in settings if previous.get(k) != settings[k])
        if changed:
            raise UserError(
                f"{self.uri} was built with other {', '.join(changed)} ({', '.join(f'{k}={previous.get(k)!r}' for k in changed)}); "
                "rerun with the same settings or choose another --out, so that no video changes split"
            )

    def current_clips(self) -> pa.Table | None:
        """One row per (uri, segment): the newest."""
        table = self.tables.read_table(CLIPS)
        if table is None or table.num_rows == 0:
            return table
        order = pc.sort_indices(table, sort_keys=[("uri", "ascending"), ("segment", "ascending"), ("built_at", "descending")])
        table = table.take(order)
        keys = list(zip(table.column("uri").to_pylist(), table.column("segment").to_pylist()))
        keep = [i for i, key in enumerate(keys) if i == 0 or keys[i - 1] != key]
        return table.take(pa.array(keep, type=pa.int64()))


def done_keys(current: pa.Table | None, build_version: str, retry_kinds: tuple[str, ...] = ()) -> set[tuple[str, str, str]]:
    """(uri, segment, fingerprint) of clips already built by this build version, ok, duplicate or failed,
    except failures whose kind starts with one of `retry_kinds` (they are attempted again)."""
    if current is None:
        return set()
    done = set()
    for row in current.select(["uri", "segment", "fingerprint", "build_version", "status", "error_kind"]).to_pylist():
        if row["build_version"] != build_version:
            continue
        if row["status"] == ERROR and retry_kinds and (row["error_kind"] or "").startswith(retry_kinds):
            continue
        done.add((row["uri"], row["segment"], row["fingerprint"]))
    return done


def is_scene_dataset(uri: str, endpoint_url: str | None = None) -> bool:
    """Whether `uri` is a build-dataset output folder (it holds a dataset.json of this kind)."""
    try:
        location = OutputLocation(uri, storage_options=storage_options(uri, endpoint_url))
        if not location.exists(SETTINGS_FILE):
            return False
        return json.loads(location.fs.cat_file(location.path(SETTINGS_FILE))).get("kind") == KIND
    except (OSError, ValueError, UserError):
        return False


def training_rows(uri: str, endpoint_url: str | None = None) -> pa.Table:
    """The ok clips as training rows: track_id = clip_id (its features are in DST/features),
    question = the MusiScene question, answer = scene_caption, split as assigned."""
    current = SceneDatasetStore(uri, endpoint_url).current_clips()
    if current is None:
        raise UserError(f"build-dataset output {uri!r} holds no clips yet")
    ok = current.filter(pc.equal(current.column("status"), OK))
    return pa.table(
        {
            "track_id": ok.column("clip_id"),
            "uri": pa.nulls(len(ok), pa.string()),
            "question": ok.column("question"),
            "answer": ok.column("scene_caption"),
            "split": ok.column("split"),
        }
    )
