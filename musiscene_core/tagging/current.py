"""The one rule every reader of a tagging output follows to know what is current.

Shards are append-only history: a file tagged again (changed bytes, another model version, a
retried error) or gone from its catalog gets a new `tracks` row, and older rows stay. So:

- a track's **current row** is the newest `tracks` row of its URI (by `tagged_at`; on a tie, the
  row of the later shard);
- its **captions** and **features** are the rows with that row's `track_id` AND `model_version`
  (one per pair: when a crash made a run write a pair twice, the later shard's row);
- a current row with status `error` or `deleted` has no captions or features: the URI is not
  served by the index, search or training, even if older rows of it were `ok`.

Index build, search results, "more like this", training data and resume all read through here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

OK, ERROR, DELETED = "ok", "error", "deleted"


def current_tracks(tracks: pa.Table | None) -> pa.Table | None:
    """One row per URI: its newest row, whatever its status."""
    if tracks is None or tracks.num_rows == 0:
        return tracks
    frame = pd.DataFrame(
        {
            "uri": tracks.column("uri").to_pandas(),
            "tagged_at": tracks.column("tagged_at").to_pandas(),
            "position": np.arange(tracks.num_rows),
        }
    )
    frame = frame.sort_values(["uri", "tagged_at", "position"], ascending=[True, False, False], na_position="last", kind="stable")
    keep = frame.drop_duplicates("uri", keep="first")["position"].to_numpy()
    return tracks.take(pa.array(keep, type=pa.int64()))


def current_ok_tracks(tracks: pa.Table | None) -> pa.Table | None:
    """The current rows that are tagged ok (and so have captions and features)."""
    current = current_tracks(tracks)
    if current is None or current.num_rows == 0:
        return current
    return current.filter(pc.and_(pc.equal(current.column("status"), OK), pc.is_valid(current.column("track_id"))))


def current_rows(table: pa.Table | None, ok_tracks: pa.Table | None) -> pa.Table | None:
    """The rows of a `captions` or `features` table that belong to current ok tracks: one per
    (track_id, model_version) of `ok_tracks`, the later shard's row when a pair was written twice."""
    if table is None or ok_tracks is None:
        return None
    wanted = pd.MultiIndex.from_arrays([ok_tracks.column("track_id").to_pandas(), ok_tracks.column("model_version").to_pandas()])
    keys = pd.MultiIndex.from_arrays([table.column("track_id").to_pandas(), table.column("model_version").to_pandas()])
    positions = np.flatnonzero(keys.isin(wanted))
    last = ~pd.Index(keys[positions]).duplicated(keep="last")
    return table.take(pa.array(positions[last], type=pa.int64()))
