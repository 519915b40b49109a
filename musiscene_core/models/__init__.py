"""Models, one subpackage per architecture (`mert/`, `mullama/`), with the presets and the text embedder beside them.

Exports are resolved lazily so that importing one model does not import (or require) the others, and
`MUSISCENE_QUESTION` or `resolve_model` do not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "MertEncoder": "musiscene_core.models.mert.encoder",
    "MusiSceneCaptioner": "musiscene_core.models.mullama.captioner",
    "MUSISCENE_QUESTION": "musiscene_core.models.mullama.configuration",
    "TextEmbedder": "musiscene_core.models.text_embedder",
    "resolve_model": "musiscene_core.models.presets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'musiscene_core.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
