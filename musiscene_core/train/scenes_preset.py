"""The `tiny-scenes` preset: the tiny architectures trained offline on synthetic scene music.

Built on first use by the learning demonstration's recipe (see `musiscene_core.train.demo`):
synthetic pieces of six scene classes with templated captions, the tiny LLaMA pretrained as a
caption decoder, then only the music adapter trained, LLaMA frozen. The training runs in this
process (`in_process.run_in_process`, the global batch of the demonstration's two Ray workers on
one process), single-threaded, so the same machine builds the same weights every time. Its
captions name the scene a piece sounds like, which makes the offline demo, the notebooks and the
report show what MusiScene does; it knows six synthetic scene classes and nothing else.

`make_tiny_scenes(dir)` writes

    dir/mert/          the tiny MERT (random weights: the adapter learned to read its features)
    dir/captioner/     the trained captioner (project format, LLaMA included)
    dir/report/        the training report (metrics.csv, loss.png, validation.png, summary.json|md) and
                       test_captions.json: held-out pieces captioned before and after training
    dir/preset.json    name, question, held-out scene accuracy and the recipe's settings
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from musiscene_core.models.presets import MUSISCENE_QUESTION, PRESET_FILE

PRESET_NAME = "tiny-scenes"
# Raised whenever the recipe or its data change what the preset learns: a cached build of another
# version is rebuilt on next use instead of serving a model the current code would not make.
RECIPE_VERSION = 2
TEST_CAPTIONS = "test_captions.json"  # in report/: held-out captions of the base and the trained model
EXAMPLES = 12


def recipe_settings(workdir: Path, seed: int = 0):
    """The demonstration's settings on one worker with the same global batch (2 workers x 4 -> 1 x 8)."""
    from musiscene_core.train.demo import DemoSettings

    settings = DemoSettings(workdir=workdir, seed=seed)
    settings.batch_size *= settings.workers
    settings.workers = 1
    return settings


def built_recipe(directory: str | Path) -> int | None:
    """The recipe version of the build cached in `directory` (1 for builds that predate versioning); None if none."""
    try:
        preset = json.loads((Path(directory) / PRESET_FILE).read_text())
    except (OSError, ValueError):
        return None
    return int(preset.get("recipe_version", 1)) if isinstance(preset, dict) else None


def ensure_tiny_scenes(directory: str | Path, say=None) -> Path:
    """The preset in `directory`: built if missing, rebuilt if cached from another recipe version."""
    root = Path(directory)
    cached = built_recipe(root)
    if cached == RECIPE_VERSION:
        return root
    if cached is not None or root.exists():
        (say or (lambda message: None))(
            f"the cached {PRESET_NAME} preset comes from recipe {cached}; rebuilding with recipe {RECIPE_VERSION}"
        )
        stale = root.with_name(f".{root.name}-stale-{os.getpid()}")
        try:
            root.rename(stale)
        except FileNotFoundError:
            pass  # another process moved it aside first and is rebuilding too; the builds come out the same
        shutil.rmtree(stale, ignore_errors=True)
    return make_tiny_scenes(root, say=say)


def make_tiny_scenes(directory: str | Path, seed: int = 0, say=None) -> Path:
    """Build the preset into `directory` (atomically: a partial build never looks finished); returns it."""
    from musiscene_core.train.demo import build_base, score_test, train_config, write_dataset
    from musiscene_core.train.in_process import run_in_process

    say = say or (lambda message: None)
    root = Path(directory)
    root.parent.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    # One thread: the tiny matrices gain nothing from more, and the result stays the same from run to run.
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(dir=root.parent, prefix=f".{root.name}-build-") as scratch:
            work = Path(scratch)
            settings = recipe_settings(work / "work", seed)
            say(f"building the {PRESET_NAME} preset in {root} (once; a few minutes) ...")
            say(f"  generating {settings.pieces} synthetic pieces of {settings.seconds:g} s ...")
            data = write_dataset(settings.workdir, settings)
            base = build_base(settings.workdir / "base", settings, say)
            say(f"  training the music adapter ({settings.epochs} epochs) ...")
            summary = run_in_process(train_config(settings, data, base), on_event=say)
            say("  captioning the held-out test pieces before and after training ...")
            before = score_test(str(base), settings.workdir / "train", examples=EXAMPLES)
            test = score_test(summary["exported"]["model"], settings.workdir / "train", examples=EXAMPLES)
            say(
                f"  held-out scene accuracy {before['scene_accuracy']:.3f} -> {test['scene_accuracy']:.3f} "
                f"on {test['pieces']} test pieces"
            )
            built = work / "preset"
            shutil.copytree(base / "mert", built / "mert")
            shutil.copytree(Path(summary["exported"]["model"]) / "captioner", built / "captioner")
            shutil.copytree(Path(summary["report"]), built / "report")
            (built / "report" / TEST_CAPTIONS).write_text(
                json.dumps(
                    {
                        "untrained": {k: before[k] for k in ("scene_accuracy", "bleu", "bleu1", "pieces")},
                        "trained": {k: test[k] for k in ("scene_accuracy", "bleu", "bleu1", "pieces")},
                        "captions": [
                            {"reference": b["reference"], "untrained": b["caption"], "trained": t["caption"]}
                            for b, t in zip(before["examples"], test["examples"])
                        ],
                    },
                    indent=2,
                )
            )
            (built / PRESET_FILE).write_text(
                json.dumps(
                    {
                        "name": PRESET_NAME,
                        "recipe_version": RECIPE_VERSION,
                        "question": MUSISCENE_QUESTION,
                        "mert": "mert",
                        "captioner": "captioner",
                        "random_weights": False,
                        "note": "tiny architectures trained on synthetic music of six scene classes; knows those classes only",
                        "test_scene_accuracy": test["scene_accuracy"],
                        "test_pieces": test["pieces"],
                        "best_epoch": summary["best_epoch"],
                        "recipe": {k: str(v) for k, v in asdict(settings).items() if k != "workdir"},
                    },
                    indent=2,
                )
            )
            try:
                built.rename(root)
            except OSError:
                if not (root / PRESET_FILE).is_file():
                    raise
                # Another process finished the same build first; its result is the same.
    finally:
        torch.set_num_threads(threads)
    return root
