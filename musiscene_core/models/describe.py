"""What a model directory, preset, captioner, MERT, LLaMA folder or MU-LLaMA checkpoint holds.

`describe(target)` returns a JSON-able dict: the format, architecture dimensions read from the files,
parameter counts per group, the model version and, for model directories, the question and whether the
weights are random. Models are loaded onto PyTorch's `meta` device: every file is opened and every
shape checked exactly as a real load would (so mismatched weights raise the same UserError), but no
tensor is copied, so even a 7B checkpoint is described in seconds.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from musiscene_core.errors import UserError
from musiscene_core.models.conversion import MULLAMA_CHECKPOINT, find_captioner, is_llama_dir
from musiscene_core.models.mullama.captioner import CONFIG_FILE
from musiscene_core.models.presets import PRESET_FILE, resolve_model

_LAYER_INDEX = re.compile(r"^llama\.layers\.(\d+)\.")


def describe(target: str, llama_dir: str | None = None, tokenizer: str | None = None) -> dict:
    """Describe `target`: a path (see module docstring) or a preset name (`tiny`, `musiscene`, `mu-llama`)."""
    path = Path(target).expanduser()
    if not path.exists():
        return _describe_model(target)  # a preset name; resolve_model explains unknown names and missing files
    if path.is_dir() and (path / PRESET_FILE).is_file():
        return _describe_model(str(path))
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        return describe_captioner(str(path), llama_dir, tokenizer)
    if path.is_dir() and _is_mert_dir(path):
        return describe_mert(str(path))
    if path.is_dir() and is_llama_dir(path):
        return describe_llama(path)
    if path.is_file() or (path / MULLAMA_CHECKPOINT).is_file():
        checkpoint = path if path.is_file() else path / MULLAMA_CHECKPOINT
        try:
            return describe_captioner(str(path), llama_dir, tokenizer)
        except UserError as exc:
            if llama_dir is not None or "no LLaMA folder found" not in str(exc):
                raise
            return describe_checkpoint(checkpoint)  # the checkpoint alone: what its shapes say
    raise UserError(
        f"{path} is not a model directory ({PRESET_FILE}), captioner ({CONFIG_FILE}), MERT checkpoint, "
        f"LLaMA folder or MU-LLaMA {MULLAMA_CHECKPOINT}"
    )


def _is_mert_dir(path: Path) -> bool:
    try:
        return json.loads((path / "config.json").read_text()).get("model_type") == "mert_model"
    except (OSError, json.JSONDecodeError):
        return False


def _files(paths: list[Path]) -> dict[str, int]:
    """File -> size in bytes, for every file under the given files and folders."""
    sizes = {}
    for path in paths:
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                sizes[str(file)] = file.stat().st_size
    return sizes


def _describe_model(name_or_dir: str) -> dict:
    spec = resolve_model(name_or_dir)
    mert = describe_mert(spec.mert)
    captioner = describe_captioner(spec.root)
    features = captioner["adapter"]["mert_layers"], captioner["adapter"]["mert_dim"]
    if tuple(mert["features"]) != features:
        raise UserError(
            f"the captioner in {spec.root} takes MERT features of shape {list(features)}, "
            f"but its MERT ({spec.mert}) gives {mert['features']}"
        )
    return {
        "kind": "model directory",
        "path": spec.root,
        "name": spec.name,
        "question": spec.question,
        "random_weights": spec.random_weights,
        "weights_identity": spec.identity(),
        "mert": mert,
        "captioner": captioner,
    }


def describe_mert(name_or_dir: str) -> dict:
    from musiscene_core.models.mert.checkpoint import locate_checkpoint, read_weights
    from musiscene_core.models.mert.encoder import MertEncoder

    encoder = MertEncoder.from_pretrained(name_or_dir, device="meta")  # checks every name and shape
    files = locate_checkpoint(name_or_dir)
    groups: Counter[str] = Counter()
    for name, tensor in read_weights(files.weights).items():  # memory-mapped: shapes only are read
        groups[name.split(".")[0]] += tensor.numel()
    config = files.config
    return {
        "kind": "MERT",
        "format": "Hugging Face MERT layout (config.json, preprocessor_config.json, weights)",
        "source": str(name_or_dir),
        "model_version": encoder.model_version,
        "hidden_size": encoder.hidden_size,
        "layers": encoder.num_layers,
        "attention_heads": config.get("num_attention_heads"),
        "intermediate_size": config.get("intermediate_size"),
        "conv_channels": config.get("conv_dim", [None])[-1],
        "layer_norm": "pre-norm (v1-330M style)" if config.get("do_stable_layer_norm") else "post-norm (v1-95M style)",
        "sample_rate": encoder.sample_rate,
        "features": [encoder.num_layers + 1, encoder.hidden_size],
        "parameters": {**dict(sorted(groups.items())), "total": sum(groups.values())},
        "files": _files([files.weights]),
    }


def describe_captioner(src: str, llama_dir: str | None = None, tokenizer: str | None = None) -> dict:
    source = find_captioner(src, llama_dir, tokenizer)
    captioner = source.load(device="meta")  # every file read and every shape checked; no tensor copied
    cfg = captioner.config
    counts = {group: sum(p.numel() for p in params.values()) for group, params in captioner.parameter_groups().items()}
    files = [source.directory] if source.format == "musiscene" else [source.checkpoint, source.llama_dir, source.tokenizer]
    llama_files = captioner.llama_source or {}
    if source.format == "musiscene" and llama_files.get("path"):
        files.append(Path(llama_files["path"]))
    return {
        "kind": "captioner",
        **source.describe(),
        "format": "musiscene (safetensors + captioner.json)"
        if source.format == "musiscene"
        else "mullama (checkpoint.pth + LLaMA)",
        "model_version": captioner.model_version,
        "llama": {
            k: getattr(cfg.llama, k)
            for k in ("dim", "n_layers", "n_heads", "ffn_hidden_dim", "vocab_size", "norm_eps", "rope_theta", "lora_rank")
        },
        "llama_weights": "in the captioner folder"
        if source.format == "musiscene" and not llama_files
        else llama_files.get("path", str(source.llama_dir)),
        "prefix_layers": cfg.prefix_layers,
        "adapter": {
            "mert_layers": cfg.adapter.mert_layers,
            "mert_dim": cfg.adapter.mert_dim,
            "hidden_dim": cfg.adapter.hidden_dim,
            "bridge": "legacy (LayerNorm, biased)" if cfg.adapter.legacy_bridge else "RMSNorm",
        },
        "parameters": {**counts, "total": sum(counts.values())},
        "files": _files(files),
    }


def describe_llama(path: Path) -> dict:
    from musiscene_core.models.mullama.checkpoint import read_llama

    weights = read_llama(path)  # memory-mapped; checks every shape against the configuration
    return {
        "kind": "LLaMA",
        "format": "Meta (params.json + consolidated.*.pth)"
        if weights.source_format == "meta"
        else "Hugging Face (config.json + safetensors)",
        "path": str(path),
        **{
            k: getattr(weights, k)
            for k in ("dim", "n_layers", "n_heads", "ffn_hidden_dim", "vocab_size", "norm_eps", "rope_theta")
        },
        "parameters": {"llama": sum(t.numel() for t in weights.state.values())},
        "files": _files([path]),
    }


def describe_checkpoint(checkpoint: Path) -> dict:
    """A MU-LLaMA checkpoint without its LLaMA: the dimensions its tensors' shapes imply."""
    from musiscene_core.models.mullama.checkpoint import read_mullama_checkpoint
    from musiscene_core.models.mullama.modeling import parameter_group

    state = read_mullama_checkpoint(checkpoint)
    required = ("prefix_query.weight", "mu_mert_agg.weight", "mu_mert_proj.weight", "mu_mert_f1_1.weight")
    missing = [k for k in required if k not in state]
    if missing:
        raise UserError(f"{checkpoint} lacks the music adapter tensor {missing[0]}: not a MU-LLaMA checkpoint")
    counts: Counter[str] = Counter()
    for name, tensor in state.items():
        counts[parameter_group(name)] += tensor.numel()
    layers = sorted({int(m.group(1)) for name in state if (m := _LAYER_INDEX.match(name))})
    lora = state.get("llama.layers.0.attention.lora_wq_l1.weight")
    prefix, proj = state["prefix_query.weight"], state["mu_mert_proj.weight"]
    return {
        "kind": "MU-LLaMA checkpoint",
        "format": "MU-LLaMA (checkpoint.pth); its LLaMA was not found, so only the checkpoint's own shapes are shown",
        "checkpoint": str(checkpoint),
        "llama_width": prefix.shape[1],
        "llama_layers_with_tensors": len(layers),
        "prefix_layers": prefix.shape[0],
        "lora_rank": lora.shape[0] if lora is not None else None,
        "phase": "finetune (biases, gates, LoRA)" if lora is not None else "pretrain (adapter only)",
        "adapter": {
            "mert_layers": state["mu_mert_agg.weight"].shape[1],
            "mert_dim": proj.shape[1],
            "hidden_dim": state["mu_mert_f1_1.weight"].shape[0],
            "bridge": "legacy (LayerNorm, biased)" if "mu_mert_norm_1.bias" in state else "RMSNorm",
        },
        "parameters": {**dict(sorted(counts.items())), "total": sum(counts.values())},
        "files": _files([checkpoint]),
    }
