"""The `tiny` preset: a random MERT and a random MusiScene captioner small enough to build and run in seconds.

`make_tiny(dir)` writes

    dir/mert/          a tiny MERT in the published checkpoint layout (make_tiny_mert)
    dir/captioner/     the captioner in the project's format (save_pretrained, LLaMA included)
    dir/preset.json    {"name": "tiny", "question": ..., "mert": "mert", "captioner": "captioner", "random_weights": true}

The captioner's music adapter takes the tiny MERT's layer means ([mert_layers + 1, mert_hidden]).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from musiscene_core.models.mullama.configuration import MUSISCENE_QUESTION
from musiscene_core.models.preset_file import write_preset


def make_tiny(
    directory: str | Path,
    seed: int = 0,
    *,
    mert_hidden: int = 32,
    mert_layers: int = 2,
    mert_conv_channels: int = 16,
    dim: int = 64,
    n_layers: int = 4,
    n_heads: int = 4,
    prefix_layers: int = 2,
    lora_rank: int = 4,
    vocab_size: int = 400,
    name: str = "tiny",
) -> Path:
    """Write the tiny preset into `directory` (see module docstring); returns the directory."""
    from musiscene_core.models.mert.tiny import make_tiny_mert
    from musiscene_core.models.mullama.captioner import MusiSceneCaptioner
    from musiscene_core.models.mullama.tiny import write_tiny_mullama

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    make_tiny_mert(
        root / "mert",
        seed=seed,
        hidden_size=mert_hidden,
        num_layers=mert_layers,
        conv_channels=mert_conv_channels,
        num_heads=max(1, min(4, mert_hidden // 8)),
    )
    with tempfile.TemporaryDirectory() as scratch:
        files = write_tiny_mullama(
            scratch,
            seed=seed,
            dim=dim,
            n_layers=n_layers,
            n_heads=n_heads,
            prefix_layers=prefix_layers,
            lora_rank=lora_rank,
            mert_layers=mert_layers + 1,
            mert_dim=mert_hidden,
            vocab_size=vocab_size,
        )
        captioner = MusiSceneCaptioner.from_mullama(files.checkpoint, files.llama_dir, files.tokenizer, device="cpu")
        captioner.save_pretrained(root / "captioner", include_llama=True)
    write_preset(root, name=name, question=MUSISCENE_QUESTION, mert="mert", captioner="captioner", random_weights=True)
    return root
