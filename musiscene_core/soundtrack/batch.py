"""Planning a batch of soundtracks: videos of a folder or manifest -> output paths, minus those already complete.

Outputs mirror the source layout under the output folder (`OUT/<relative path>.mp4`). A video whose output exists
and is complete (readable, video and audio spanning the source's duration) is skipped, so rerunning a batch
resumes it; an output is only ever renamed into place once fully written, so a stopped run leaves none half-made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from musiscene_core.errors import UserError
from musiscene_core.soundtrack.make import output_is_complete

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}
MANIFEST_SUFFIXES = {".csv", ".parquet"}


@dataclass
class BatchPlan:
    todo: list[tuple[str, str]] = field(default_factory=list)  # (video, output)
    done: list[tuple[str, str]] = field(default_factory=list)


def is_batch_source(src: Path) -> bool:
    return src.is_dir() or src.suffix.lower() in MANIFEST_SUFFIXES


def _videos(src: Path) -> list[tuple[Path, Path]]:
    """(video, path relative to the source) pairs."""
    if src.is_dir():
        return [(p, p.relative_to(src)) for p in sorted(src.rglob("*")) if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    if not src.is_file():
        raise UserError(f"{src} does not exist")
    frame = pd.read_parquet(src) if src.suffix.lower() == ".parquet" else pd.read_csv(src)
    column = next((c for c in ("video", "uri", "path") if c in frame.columns), None)
    if column is None:
        raise UserError(f"the manifest {src} needs a video, uri or path column")
    pairs = []
    for value in frame[column].astype(str):
        path = Path(value)
        path = path if path.is_absolute() else src.parent / path
        pairs.append((path, Path(path.name) if Path(value).is_absolute() else Path(value)))
    return pairs


def plan_batch(src: Path, out_dir: Path) -> BatchPlan:
    if out_dir.suffix.lower() == ".mp4":
        raise UserError(f"a batch writes a folder of videos: --out must be a folder, not {out_dir.name}")
    plan = BatchPlan()
    seen = set()
    for video, relative in _videos(src):
        out = out_dir / relative.with_suffix(".mp4")
        if out in seen:
            raise UserError(f"two videos would both be written to {out}; give them distinct names")
        seen.add(out)
        (plan.done if output_is_complete(video, out) else plan.todo).append((str(video), str(out)))
    if not plan.todo and not plan.done:
        raise UserError(f"{src} holds no videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
    return plan
