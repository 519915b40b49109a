"""Caption metrics (MU-LLaMA's protocol and the standard one) and audio metrics (FAD, FAD-infinity, paired KL).

Exports are resolved lazily so that importing the caption metrics does not import torch or the audio models.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "caption_metrics": "musiscene_core.metrics.captions",
    "score_pairs": "musiscene_core.metrics.captions",
    "PROTOCOLS": "musiscene_core.metrics.captions",
    "frechet_distance": "musiscene_core.metrics.audio",
    "fad_infinity": "musiscene_core.metrics.audio",
    "paired_kl": "musiscene_core.metrics.audio",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'musiscene_core.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
