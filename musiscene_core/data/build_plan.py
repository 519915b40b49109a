"""Deciding what a `build-dataset` run must do, on the driver, without Ray.

Before reading anything: list the clips and drop those already built by the same build version with
the same video fingerprint (size + mtime or ETag). After the videos to do were hashed (a Ray step):
give every clip its id and its video's split, mark byte-identical copies of a video as duplicates of
the first uri (or of the uri already in the output), and turn unreadable videos into error rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from musiscene_core.data.dataset_stages import clip_id
from musiscene_core.data.scene_dataset import DUPLICATE, ERROR, OK, done_keys
from musiscene_core.data.splits import split_of
from musiscene_core.data.video_clips import ClipRef, list_clips

RETRY_KINDS = ("llm_",)


def build_version(versions: dict, frames: int, fractions, seed: int) -> str:
    """Everything that changes a row: the three models, the prompt, the questions, frames and splits."""
    payload = json.dumps({**versions, "frames": frames, "splits": list(fractions), "split_seed": seed}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class BuildPlan:
    todo: list[ClipRef]
    listed: int
    skipped: int  # already built by this build version (ok, duplicate or failed)
    known_videos: dict[str, str]  # video_id -> uri of videos already in the output


def plan_build(
    src: str, current, version: str, force: bool = False, retry_errors: bool = False, endpoint_url: str | None = None
) -> BuildPlan:
    clips = list_clips(src, endpoint_url)
    done = set() if force else done_keys(current, version, RETRY_KINDS if retry_errors else ())
    todo = [c for c in clips if (c.uri, c.segment, c.fingerprint) not in done]
    known: dict[str, str] = {}
    if current is not None:
        for row in current.select(["video_id", "uri", "status"]).to_pylist():
            if row["video_id"] and row["status"] != DUPLICATE:
                known[row["video_id"]] = min(known.get(row["video_id"], row["uri"]), row["uri"])
    return BuildPlan(todo=todo, listed=len(clips), skipped=len(clips) - len(todo), known_videos=known)


def clip_rows(plan: BuildPlan, identities: dict[str, dict], fractions, seed: int) -> dict[str, np.ndarray]:
    """The clip rows to process (columns of a batch): `identities` maps uri -> {video_id, bytes, error_kind, error}."""
    first_uri = dict(plan.known_videos)
    for uri in sorted(identities):
        video = identities[uri]["video_id"]
        if video and not identities[uri]["error_kind"]:
            first_uri.setdefault(video, uri)
    rows: dict[str, list] = {
        k: []
        for k in (
            "uri",
            "fingerprint",
            "segment",
            "start_s",
            "end_s",
            "video_id",
            "bytes",
            "clip_id",
            "split",
            "status",
            "error_kind",
            "error",
            "duplicate_of",
        )
    }
    for clip in plan.todo:
        ident = identities[clip.uri]
        video = ident["video_id"] or ""
        status, kind, error, duplicate_of = OK, "", "", ""
        if ident["error_kind"]:
            status, kind, error = ERROR, ident["error_kind"], ident["error"]
        elif first_uri[video] != clip.uri:
            duplicate_of = first_uri[video]
            status, kind, error = DUPLICATE, "duplicate", f"duplicate: byte-identical to {duplicate_of}"
        rows["uri"].append(clip.uri)
        rows["fingerprint"].append(clip.fingerprint)
        rows["segment"].append(clip.segment)
        rows["start_s"].append(np.nan if clip.start_s is None else clip.start_s)
        rows["end_s"].append(np.nan if clip.end_s is None else clip.end_s)
        rows["video_id"].append(video)
        rows["bytes"].append(int(ident["bytes"]))
        rows["clip_id"].append(clip_id(video, clip.segment) if video else "")
        rows["split"].append(split_of(video, fractions, seed) if video and status != ERROR else "")
        rows["status"].append(status)
        rows["error_kind"].append(kind)
        rows["error"].append(error)
        rows["duplicate_of"].append(duplicate_of)
    return {
        k: np.asarray(v, dtype=np.float64 if k in ("start_s", "end_s") else (np.int64 if k == "bytes" else object))
        for k, v in rows.items()
    }
