"""FAISS scene indexes over a tagging run's tables: build / update (`build_index`) and search (`SceneIndex`).

Exports resolve on first use, so the FAISS-only submodules (selection, vector_index, recall) import
without the table readers' dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from musiscene_core.index.build import build_index
    from musiscene_core.index.manifest import IndexInfo, PartInfo
    from musiscene_core.index.scene_index import SceneIndex, SearchHit

__all__ = ["IndexInfo", "PartInfo", "SceneIndex", "SearchHit", "build_index"]

_EXPORTS = {
    "build_index": "musiscene_core.index.build",
    "IndexInfo": "musiscene_core.index.manifest",
    "PartInfo": "musiscene_core.index.manifest",
    "SceneIndex": "musiscene_core.index.scene_index",
    "SearchHit": "musiscene_core.index.scene_index",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
