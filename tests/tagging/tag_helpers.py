"""Catalogs and environments for the tagging job's integration tests."""

import os
from pathlib import Path

import numpy as np

from musiscene_core.audio import write_audio


def tag_env(models_home: Path) -> dict:
    return dict(
        os.environ, MUSISCENE_MODELS=str(models_home), HF_HUB_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1"
    )


FORMATS = ("wav", "flac", "mp3", "ogg", "m4a", "opus", "webm")


def write_catalog(root: Path, good: int, bad: int, seconds: float = 3.0, first_seed: int = 0) -> tuple[list[Path], list[Path]]:
    """`good` distinct pieces in mixed formats and `bad` broken files of several kinds."""
    from musiscene_core.data.synthetic import SCENE_NAMES, generate_piece

    root.mkdir(parents=True, exist_ok=True)
    goods, bads = [], []
    for i in range(good):
        scene = SCENE_NAMES[i % len(SCENE_NAMES)]
        samples = generate_piece(scene, seed=first_seed + i, duration_s=seconds, sample_rate=24000)
        fmt = FORMATS[i % len(FORMATS)]
        (root / f"sub{i % 3}").mkdir(exist_ok=True)
        goods.append(write_audio(root / f"sub{i % 3}" / f"piece {i:03d}.{fmt}", samples, 24000, fmt))
    for j in range(bad):
        path = root / "bad" / f"bad {j:02d}.{('wav', 'mp3', 'flac')[j % 3]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        kind = j % 3
        if kind == 0:
            path.write_bytes(b"")
        elif kind == 1:
            path.write_text("not audio at all\n" * (j + 1))
        else:
            write_audio(path, np.zeros(2400, dtype=np.float32), 24000, "flac")  # 0.1 s: too short
        bads.append(path)
    return goods, bads
