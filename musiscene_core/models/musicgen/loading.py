"""Loading a MusicGen: `tiny` (built offline on first use), a local directory or a Hugging Face hub id."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from musiscene_core.errors import UserError

DEFAULT_MUSICGEN = "facebook/musicgen-small"


@contextmanager
def quiet_transformers():
    """MusicGen's pad/start id lies one past the codebook on purpose (as in the real checkpoints); transformers warns
    about it on every config it builds. Those warnings are silenced, errors are not."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


@dataclass
class LoadedMusicgen:
    model: object  # MusicgenForConditionalGeneration
    tokenizer: object
    name: str
    random_weights: bool


def load_musicgen(source: str = DEFAULT_MUSICGEN, device: str | None = None) -> LoadedMusicgen:
    """Load MusicGen and its tokenizer on `device` (default: CUDA when available)."""
    import torch
    from transformers import AutoTokenizer, MusicgenForConditionalGeneration

    from musiscene_core.models.musicgen.tiny import MARKER, make_tiny_musicgen
    from musiscene_core.models.presets import models_home

    if source == "tiny":
        path = models_home() / "musicgen-tiny"
        if not (path / MARKER).is_file():
            make_tiny_musicgen(path)
        source = str(path)
    elif Path(source).expanduser().exists():
        source = str(Path(source).expanduser())
        if not (Path(source) / "config.json").is_file():
            raise UserError(f"{source!r} is not a MusicGen model directory (no config.json)")
    elif source.count("/") != 1 or source.startswith((".", "/")):
        raise UserError(f"MusicGen model {source!r} is neither 'tiny', a local directory nor a hub id like {DEFAULT_MUSICGEN}")
    try:
        with quiet_transformers():
            model = MusicgenForConditionalGeneration.from_pretrained(source).eval()
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise UserError(
            f"MusicGen model {source!r} could not be loaded ({str(exc).splitlines()[0]}); "
            "download it or pass a local directory with --musicgen"
        ) from None
    # Offline, an uncached hub id can yield a placeholder tokenizer instead of an error: refuse it.
    if len(tokenizer) < 8:
        raise UserError(f"the tokenizer of MusicGen model {source!r} is missing or empty; pass a complete local directory")
    marker = Path(source) / MARKER
    info = json.loads(marker.read_text()) if marker.is_file() else {}
    model = model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return LoadedMusicgen(
        model,
        tokenizer,
        info.get("name", Path(source).name if Path(source).exists() else source),
        bool(info.get("random_weights", False)),
    )
