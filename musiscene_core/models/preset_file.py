"""The `preset.json` of a model directory: its file name and the one function that writes it.

Kept apart from `presets` (which resolves and loads presets) so that the builders of model
directories — the tiny preset, training's export, the learning demo — write the file without
importing the resolver, and the resolver can build the tiny preset without an import cycle.
"""

from __future__ import annotations

import json
from pathlib import Path

PRESET_FILE = "preset.json"


def write_preset(
    directory: str | Path, *, name: str, question: str, mert: str, captioner: str | dict, random_weights: bool = False, **extra
) -> Path:
    """Write `directory/preset.json`; `mert` and `captioner` are paths relative to it (or hub ids, or for
    MU-LLaMA's files {"checkpoint", "llama_dir", "tokenizer"}); `extra` keys are recorded as they are."""
    path = Path(directory) / PRESET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "question": question, "mert": mert, "captioner": captioner, "random_weights": random_weights, **extra}
    path.write_text(json.dumps(data, indent=2))
    return path
