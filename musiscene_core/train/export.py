"""The trained model, out of a training checkpoint: the project's format and MU-LLaMA's `checkpoint.pth`.

OUT/model/ is a model directory (`preset.json` + `captioner/`) that `musiscene tag --model` and
`resolve_model` take as it is; OUT/mullama/checkpoint.pth is what MU-LLaMA's `llama.load` reads. When
the frozen LLaMA came from a LLaMA folder it is referenced, not copied; when it was stored inside the
base model (or LoRA was merged into it) it is written alongside (OUT/mullama/LLaMA/7B + tokenizer).
"""

from __future__ import annotations

from pathlib import Path

import torch

from musiscene_core.models.preset_file import write_preset
from musiscene_core.train.loop import TRAINABLE_FILE
from musiscene_core.train.trainable import configure, load_base, load_trainable, merge_lora


def trained_captioner(config, spec, checkpoint_dir: str):
    """The base captioner with the checkpoint's trained tensors in place (LoRA merged), on CPU in fp32."""
    captioner = load_base(spec, torch.device("cpu"), torch.float32)
    trainable = configure(captioner, config.train, config.lora_rank, config.lora_alpha, config.seed)
    load_trainable(Path(checkpoint_dir) / TRAINABLE_FILE, trainable)
    if config.lora_rank:
        merge_lora(captioner)
    captioner.model.requires_grad_(False)
    return captioner


def export(captioner, spec, out_dir: str | Path, llama_changed: bool) -> dict[str, str]:
    """Write OUT/model (model directory) and OUT/mullama/checkpoint.pth; returns their paths."""
    out = Path(out_dir)
    include_llama = llama_changed or captioner.llama_source is None
    model_dir = out / "model"
    captioner.save_pretrained(model_dir / "captioner", include_llama=include_llama)
    mert = spec.mert if not Path(spec.mert).exists() else str(Path(spec.mert).resolve())
    write_preset(
        model_dir,
        name=f"{spec.name}-trained",
        question=spec.question,
        mert=mert,
        captioner="captioner",
        random_weights=spec.random_weights,
        base=spec.name,
    )
    checkpoint = captioner.export_mullama(out / "mullama", include_llama=include_llama)
    return {
        "model": str(model_dir),
        "mullama_checkpoint": str(checkpoint),
        "mullama_llama_dir": str(out / "mullama" / "LLaMA" / "7B") if include_llama else captioner.llama_source["path"],
    }


def export_to(captioner, spec, out_uri: str, endpoint_url: str | None, llama_changed: bool) -> dict[str, str]:
    """`export` into a local folder or an s3:// prefix (written locally first, then uploaded)."""
    import tempfile

    from musiscene_core.catalog.storage import open_location

    location = open_location(out_uri, endpoint_url)
    if not location.is_remote:
        return export(captioner, spec, location.root, llama_changed)
    with tempfile.TemporaryDirectory() as scratch:
        paths = export(captioner, spec, scratch, llama_changed)
        location.fs.put(scratch.rstrip("/") + "/", location.root, recursive=True)
    remote = location.uri(location.root)
    return {key: value.replace(scratch, remote) for key, value in paths.items()}
