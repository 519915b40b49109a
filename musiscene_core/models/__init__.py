"""Models: MERT, the MusiScene captioner, the text embedder and named presets.

Exports are resolved lazily so that importing one model does not import (or require) the others.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "MertEncoder": "musiscene_core.models.mert",
    "MusiSceneCaptioner": "musiscene_core.models.captioner",
    "MUSISCENE_QUESTION": "musiscene_core.models.captioner",
    "TextEmbedder": "musiscene_core.models.text_embedder",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'musiscene_core.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
