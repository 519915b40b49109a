"""Synthetic music whose audible character matches a scene caption, and catalogs of it.

The public entry point of the generator: scene classes and caption scoring live in
`synthetic_scenes`, the signal synthesis in `synthetic_render`; this module re-exports both and
writes catalogs: a folder of pieces, a manifest, and a stratified train/validation/test split.
The manifest's `uri` column holds file names relative to the manifest, which is how
`musiscene_core.catalog` resolves manifest rows, so the folder can be moved or uploaded as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from musiscene_core.data.synthetic_render import (
    DEFAULT_DURATION_S,
    DEFAULT_SAMPLE_RATE,
    SOUNDFILE_FORMATS,
    generate_piece,
    write_soundfile,
)
from musiscene_core.data.synthetic_scenes import SCENE_NAMES, SCENES, Scene, classify_caption, get_scene, scene_caption

__all__ = [
    "DEFAULT_DURATION_S",
    "DEFAULT_SAMPLE_RATE",
    "SCENES",
    "SCENE_NAMES",
    "SPLITS",
    "CatalogPiece",
    "PlannedPiece",
    "Scene",
    "classify_caption",
    "generate_piece",
    "get_scene",
    "make_catalog",
    "plan_catalog",
    "read_catalog_manifest",
    "scene_caption",
    "write_soundfile",
]

SPLITS = ("train", "validation", "test")
DEFAULT_SPLIT_FRACTIONS = (0.7, 0.15, 0.15)

# writer(path, samples, sample_rate, format): musiscene_core.audio's write_audio has this shape.
AudioWriter = Callable[[Path, np.ndarray, int, str], None]


@dataclass(frozen=True)
class CatalogPiece:
    """One generated file and what it is."""

    path: Path  # absolute path of the audio file
    uri: str  # the file name relative to the catalog folder, as written to the manifest
    scene: str
    caption: str
    seed: int  # generate_piece(scene, seed) reproduces the audio
    split: str  # train, validation or test
    format: str


@dataclass(frozen=True)
class PlannedPiece:
    scene: str
    seed: int
    split: str
    format: str


def plan_catalog(
    n: int,
    seed: int = 0,
    scenes: Sequence[str] | None = None,
    formats: Sequence[str] = ("wav", "flac"),
    split_fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS,
) -> list[PlannedPiece]:
    """What a catalog of `n` pieces holds, without generating audio.

    Scenes are balanced (counts differ by at most one) and shuffled; every piece has its own seed;
    each scene's pieces are split by `split_fractions` (train, validation, test) so every split sees
    every scene once a scene has enough pieces. Formats rotate over the shuffled order, so a file's
    format says nothing about its scene.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    names = tuple(scenes) if scenes is not None else SCENE_NAMES
    if not names:
        raise ValueError("scenes must name at least one scene")
    for name in names:
        get_scene(name)
    formats = tuple(f.lower() for f in formats)
    if not formats:
        raise ValueError("formats must name at least one audio format")
    fractions = np.asarray(split_fractions, dtype=np.float64)
    if fractions.shape != (3,) or (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"split_fractions must be three non-negative numbers summing to 1, got {tuple(split_fractions)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    piece_seeds = rng.choice(2**31 - 1, size=n, replace=False)
    assigned = [names[i % len(names)] for i in order]
    bounds = np.cumsum(fractions)
    per_scene = {name: assigned.count(name) for name in names}
    seen = dict.fromkeys(names, 0)
    plan = []
    for position, name in enumerate(assigned):
        # The j-th of k pieces of a scene falls in the split whose cumulative fraction passes (j + 0.5) / k.
        share = (seen[name] + 0.5) / per_scene[name]
        seen[name] += 1
        split = SPLITS[min(int(np.searchsorted(bounds, share, side="right")), len(SPLITS) - 1)]
        plan.append(PlannedPiece(name, int(piece_seeds[position]), split, formats[position % len(formats)]))
    return plan


def make_catalog(
    directory: str | Path,
    n: int,
    seed: int = 0,
    formats: Sequence[str] = ("wav", "flac"),
    duration_s: float = DEFAULT_DURATION_S,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    scenes: Sequence[str] | None = None,
    split_fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS,
    writer: AudioWriter | None = None,
    manifest_name: str = "manifest.csv",
) -> list[CatalogPiece]:
    """Generate `n` pieces into `directory` with a manifest (CSV or Parquet by its extension).

    Without `writer` only WAV and FLAC can be written (soundfile, 16-bit); pass
    musiscene_core.audio's write_audio to write mp3, ogg, opus, m4a and the rest. The manifest has
    columns uri, scene, caption, split, seed, format, duration_s.
    """
    if writer is None:
        unsupported = sorted({f.lower() for f in formats} - set(SOUNDFILE_FORMATS))
        if unsupported:
            raise ValueError(
                f"format(s) {', '.join(unsupported)} need a writer: pass musiscene_core.audio's write_audio as writer"
            )
        writer = write_soundfile
    if not manifest_name.lower().endswith((".csv", ".parquet")):
        raise ValueError(f"manifest_name must end in .csv or .parquet, got {manifest_name!r}")
    plan = plan_catalog(n, seed, scenes, formats, split_fractions)
    folder = Path(directory).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(n - 1)))
    pieces = []
    for index, item in enumerate(plan):
        uri = f"{index:0{width}d}-{item.scene}.{item.format}"
        path = folder / uri
        writer(path, generate_piece(item.scene, item.seed, duration_s, sample_rate), sample_rate, item.format)
        pieces.append(
            CatalogPiece(path, uri, item.scene, scene_caption(item.scene, item.seed), item.seed, item.split, item.format)
        )
    _write_manifest(folder / manifest_name, pieces, duration_s)
    return pieces


def _write_manifest(path: Path, pieces: list[CatalogPiece], duration_s: float) -> None:
    table = pa.table(
        {
            "uri": [p.uri for p in pieces],
            "scene": [p.scene for p in pieces],
            "caption": [p.caption for p in pieces],
            "split": [p.split for p in pieces],
            "seed": pa.array([p.seed for p in pieces], pa.int64()),
            "format": [p.format for p in pieces],
            "duration_s": pa.array([duration_s] * len(pieces), pa.float64()),
        }
    )
    if path.suffix.lower() == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)


def read_catalog_manifest(path: str | Path) -> pa.Table:
    """A manifest written by make_catalog, as a table (CSV or Parquet by extension)."""
    path = Path(path)
    return pacsv.read_csv(path) if path.suffix.lower() == ".csv" else pq.read_table(path)
