"""BERTScore through the bert-score package, with a configurable (local or hub) model.

bert-score 0.3.13 predates transformers 5 and fails there on an empty (after strip) sentence; its documented
result for such a pair is precision = recall = F1 = 0, so those pairs get 0 here and only the others reach
bert-score. Its per-pair scores do not depend on which sentences share a batch (padding is masked).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from musiscene_core.errors import UserError

# MU-LLaMA's evaluate.py calls bert_score.score(..., lang="en"): roberta-large, its layer 17, no idf, no rescaling.
DEFAULT_MODEL = "roberta-large"


def layer_for(model: str) -> int:
    """bert-score's recommended layer for a known model name (also for a local copy named like it), else the last layer."""
    from bert_score.utils import model2layers

    for key in (model, Path(model).name):
        if key in model2layers:
            return model2layers[key]
    config = Path(model) / "config.json"
    if config.is_file():
        return int(json.loads(config.read_text())["num_hidden_layers"])
    raise UserError(f"bert-score has no default layer for {model!r}; pass the layer to use")


def bertscore(
    predictions: list[str],
    references: list[str],
    model: str | os.PathLike,
    num_layers: int | None = None,
    batch_size: int = 32,
    device: str | None = None,
) -> dict[str, np.ndarray]:
    """Per-pair BERTScore precision, recall and F1 (float64 arrays) of predictions against references;
    `model` is a hub id or a local directory (a str or a path)."""
    from bert_score import score

    model = os.fspath(model)  # bert-score takes the model's name for a string and fails on a Path

    n = len(predictions)
    out = {key: np.zeros(n) for key in ("precision", "recall", "f1")}
    keep = [i for i in range(n) if predictions[i].strip() and references[i].strip()]
    if not keep:
        return out
    layers = num_layers or layer_for(model)
    try:
        p, r, f = score(
            [predictions[i] for i in keep],
            [references[i] for i in keep],
            model_type=model,
            num_layers=layers,
            batch_size=batch_size,
            device=device,
            verbose=False,
        )
    except (OSError, ValueError) as exc:
        raise UserError(
            f"the BERTScore model {model!r} could not be loaded ({str(exc).splitlines()[0]}); pass a local model directory"
        ) from None
    for key, values in (("precision", p), ("recall", r), ("f1", f)):
        out[key][keep] = values.double().numpy()
    return out
