"""A static listening-test page: each clip's versions (one per system folder) anonymised and shuffled.

`build_kit(folders, out)` pairs files by name across the folders (one folder per system: e.g. the original
soundtracks, MusiScene-prompted MusicGen, MU-LLaMA-prompted MusicGen), copies each version under a random name
into `out/media/`, shuffles the versions of each clip (seeded) and writes `out/index.html` + `kit.js`: open
index.html in any browser, no server or network needed; ratings download as CSV. The key that maps the random
names back to systems is written outside the kit folder, so the folder can be handed to raters as it is.
"""

from __future__ import annotations

import csv
import html
import json
import posixpath
import random
import secrets
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from musiscene_core.errors import UserError

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".webm", ".mkv"}
MEDIA_SUFFIXES = VIDEO_SUFFIXES | {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac"}
DEFAULT_QUESTION = "How well does the music suit the scene?"


@dataclass(frozen=True)
class KitResult:
    page: Path
    key: Path
    trials: int
    versions: int
    skipped: list[str]


def _media(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder")
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES}


def build_kit(
    folders: list[Path],
    out: Path,
    key: Path | None = None,
    question: str = DEFAULT_QUESTION,
    scale: int = 5,
    seed: int | None = None,
) -> KitResult:
    if len(folders) < 2:
        raise UserError("a listening kit compares at least two folders (one per system)")
    names = [folder.resolve().name for folder in folders]
    if len(set(names)) != len(names):
        raise UserError(f"the system folders need distinct names, got {', '.join(names)}")
    if not 2 <= scale <= 10:
        raise UserError("the rating scale must have 2 to 10 points")
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; choose a new folder for the kit")
    key = (key or out.with_name(f"{out.name}-key.csv")).resolve()
    if key.is_relative_to(out):
        raise UserError("the key must be written outside the kit folder, or raters could read it")
    systems = {name: _media(folder) for name, folder in zip(names, folders)}
    clips = sorted(set().union(*[set(files) for files in systems.values()]))
    complete = [clip for clip in clips if all(clip in files for files in systems.values())]
    skipped = [clip for clip in clips if clip not in complete]
    if not complete:
        raise UserError("no clip name is present in every folder; versions of a clip must share a file name")
    rng = random.Random(seed)
    kit_id = secrets.token_hex(4) if seed is None else f"{seed:08x}"
    media = out / "media"
    media.mkdir(parents=True)
    trials, key_rows = [], []
    for number, clip in enumerate(complete, 1):
        order = list(systems)
        rng.shuffle(order)
        versions = []
        for position, system in enumerate(order):
            source = systems[system][clip]
            version_id = secrets.token_hex(6)
            target = media / f"{version_id}{source.suffix.lower()}"
            shutil.copyfile(source, target)
            versions.append(
                {
                    "id": version_id,
                    "label": chr(ord("A") + position),
                    "src": posixpath.join("media", target.name),
                    "kind": "video" if source.suffix.lower() in VIDEO_SUFFIXES else "audio",
                }
            )
            key_rows.append(
                {
                    "kit_id": kit_id,
                    "trial": f"t{number:03d}",
                    "version": version_id,
                    "label": versions[-1]["label"],
                    "system": system,
                    "clip": clip,
                    "file": str(source),
                }
            )
        trials.append({"id": f"t{number:03d}", "versions": versions})
    rng.shuffle(trials)
    data = {"kit_id": kit_id, "question": question, "scale": scale, "trials": trials}
    assets = resources.files("musiscene_core.metrics") / "kit"
    # The JSON sits inside <script>: escape "<" so no clip name can close the tag.
    page = (
        assets.joinpath("index.html")
        .read_text(encoding="utf-8")
        .replace("__KIT_DATA__", json.dumps(data).replace("<", "\\u003c"))
    )
    page = page.replace("<title>Listening test</title>", f"<title>Listening test: {html.escape(question)}</title>")
    (out / "index.html").write_text(page, encoding="utf-8")
    (out / "kit.js").write_text(assets.joinpath("kit.js").read_text(encoding="utf-8"), encoding="utf-8")
    key.parent.mkdir(parents=True, exist_ok=True)
    with key.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(key_rows[0]))
        writer.writeheader()
        writer.writerows(key_rows)
    return KitResult(out / "index.html", key, len(trials), len(key_rows), skipped)


def summarise_ratings(key: Path, ratings: list[Path]) -> list[dict]:
    """Mean rating per system from downloaded ratings CSVs and the kit's key."""
    with key.open(encoding="utf-8") as handle:
        systems = {row["version"]: row["system"] for row in csv.DictReader(handle)}
    scores: dict[str, list[float]] = {}
    raters: dict[str, set] = {}
    for path in ratings:
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                system = systems.get(row.get("version", ""))
                if system is None:
                    raise UserError(
                        f"{path} rates version {row.get('version')!r}, which is not in {key}: ratings of another kit?"
                    )
                scores.setdefault(system, []).append(float(row["rating"]))
                raters.setdefault(system, set()).add(row["rater"])
    return [
        {"system": s, "mean_rating": sum(v) / len(v), "ratings": len(v), "raters": len(raters[s])}
        for s, v in sorted(scores.items())
    ]
