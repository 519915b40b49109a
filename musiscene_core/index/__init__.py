"""FAISS scene indexes over a tagging run's tables: build / update (`build_index`) and search (`SceneIndex`)."""

from musiscene_core.index.build import build_index
from musiscene_core.index.manifest import IndexInfo, PartInfo
from musiscene_core.index.scene_index import SceneIndex, SearchHit

__all__ = ["IndexInfo", "PartInfo", "SceneIndex", "SearchHit", "build_index"]
