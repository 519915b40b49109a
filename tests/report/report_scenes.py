"""A tagged output folder of three scene classes, written without running any model (for the report tests)."""

import json
import sys
from pathlib import Path

import numpy as np

# The index tests' table writer: tagging-run tables in the project's schema.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "index"))

from index_tables import Shard, track_id_of, write_shard  # noqa: E402

SCENE_CLASSES = ("calm_sea", "neon_chase", "horror_corridor")


def write_scene_run(dst: Path) -> Path:
    """30 ok tracks of three scene classes (captions from the class's templates, caption vectors gathered
    around one centre per class), two failed tracks and two run records."""
    from musiscene_core.data.synthetic_scenes import scene_caption

    rng = np.random.default_rng(3)
    names = [f"{scene}-{i}" for scene in SCENE_CLASSES for i in range(10)]
    centres = rng.standard_normal((len(SCENE_CLASSES), 384))
    caption_vectors = np.repeat(centres, 10, axis=0) + 0.3 * rng.standard_normal((len(names), 384))
    audio_vectors = np.repeat(rng.standard_normal((len(SCENE_CLASSES), 32)), 10, axis=0) + 0.3 * rng.standard_normal(
        (len(names), 32)
    )
    shard = Shard(
        track_ids=[track_id_of(n) for n in names],
        uris=[f"file:///catalog/{n}.wav" for n in names],
        durations=[60.0 + i for i in range(len(names))],
        captions=[scene_caption(n.rsplit("-", 1)[0], i) for i, n in enumerate(names)],
        caption_vectors=(caption_vectors / np.linalg.norm(caption_vectors, axis=1, keepdims=True)).astype(np.float32),
        audio_vectors=(audio_vectors / np.linalg.norm(audio_vectors, axis=1, keepdims=True)).astype(np.float32),
    )
    write_shard(dst, shard, "part-0", error_names=("broken-1", "broken-2"))
    (dst / "runs").mkdir()
    for run, processed, seconds in (("20260101T000000-a", 20, 10.0), ("20260102T000000-b", 12, 4.0)):
        (dst / "runs" / f"{run}.json").write_text(
            json.dumps(
                {
                    "run_id": run,
                    "model": {"name": "tiny-scenes"},
                    "model_version": "tiny-scenes-abc",
                    "processed": processed,
                    "ok": processed - 1,
                    "failed": 1,
                    "skipped": 0,
                    "audio_hours": processed * 60 / 3600,
                    "seconds": seconds,
                    "tracks_per_hour": processed / seconds * 3600,
                }
            )
        )
    return dst
