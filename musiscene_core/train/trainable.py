"""Which parameters of the captioner learn, and how a trained set is put back into a captioner.

`adapter` (the default, MusiScene's recipe): MU-LLaMA's music adapter (aggregator, projection, three
blocks) and the prefix queries; LLaMA stays frozen. `adapter+finetune` adds MU-LLaMA's finetune-phase
tensors (LLaMA biases, norms, gates and its built-in LoRA). `lora_rank > 0` adds LoRA adapters on
LLaMA's attention projections with peft (`inject_adapter_in_model` works on the project's LLaMA
module as it is); at export they are merged into the LLaMA weights, since MU-LLaMA's format has no
place for them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from musiscene_core.errors import UserError
from musiscene_core.models.devices import default_dtype

LORA_TARGETS = ["wq", "wk", "wv", "wo"]


def load_base(spec, device: torch.device, dtype: torch.dtype | None = None):
    """The base captioner of a ModelSpec on `device`, in `dtype` (None: the device's training type)."""
    from musiscene_core.models.mullama.captioner import MusiSceneCaptioner

    if dtype is None:
        dtype = default_dtype(device, training=True)
    if isinstance(spec.captioner, dict):
        return MusiSceneCaptioner.from_mullama(device=device, dtype=dtype, **spec.captioner)
    return MusiSceneCaptioner.from_pretrained(spec.captioner, device=device, dtype=dtype)


def configure(
    captioner, train: str, lora_rank: int = 0, lora_alpha: float = 16.0, seed: int = 0
) -> dict[str, torch.nn.Parameter]:
    """Freeze everything but the chosen parameters; returns them by module name, in a fixed order."""
    groups = ("adapter",) if train == "adapter" else ("adapter", "finetune")
    captioner.set_trainable(groups)
    if lora_rank > 0:
        from peft import LoraConfig, inject_adapter_in_model

        # LoRA's A matrices are drawn at random: the same seed on every worker gives every replica the same start.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            inject_adapter_in_model(
                LoraConfig(r=lora_rank, lora_alpha=lora_alpha, target_modules=LORA_TARGETS, lora_dropout=0.0),
                captioner.model.llama,
            )
        for name, param in captioner.model.named_parameters():
            if "lora_A." in name or "lora_B." in name:
                param.data = param.data.float()
                param.requires_grad_(True)
    trainable = {name: p for name, p in captioner.model.named_parameters() if p.requires_grad}
    if not trainable:
        raise UserError("no parameter is set to train")
    _require_adapter_path(captioner, trainable)
    return trainable


def _require_adapter_path(captioner, trainable: dict) -> None:
    """With every gate at zero and the gates frozen, the audio token adds nothing to LLaMA and the adapter
    gets no gradient: say so instead of training for nothing."""
    model = captioner.model
    first = model.cfg.llama.n_layers - model.cfg.prefix_layers
    gates = [model.llama.layers[i].attention.gate for i in range(first, model.cfg.llama.n_layers)]
    if all(float(g.detach().abs().max()) == 0.0 for g in gates) and not any(g.requires_grad for g in gates):
        raise UserError(
            "the base model's adapter gates are all zero, so the music adapter cannot influence LLaMA; "
            "start from a model with trained gates or add --train adapter+finetune"
        )


def save_trainable(path: str | Path, trainable: dict[str, torch.nn.Parameter]) -> None:
    save_file({k: v.detach().float().cpu().contiguous() for k, v in trainable.items()}, str(path))


def load_trainable(path: str | Path, trainable: dict[str, torch.nn.Parameter]) -> None:
    """Copy saved values into the trainable parameters; the saved set must match it name for name."""
    saved = load_file(str(path))
    if set(saved) != set(trainable):
        extra, missing = sorted(set(saved) - set(trainable)), sorted(set(trainable) - set(saved))
        raise UserError(f"{path} does not match the parameters being trained (unexpected: {extra[:3]}, missing: {missing[:3]})")
    with torch.no_grad():
        for name, param in trainable.items():
            param.copy_(saved[name].to(device=param.device, dtype=param.dtype))


def merge_lora(captioner) -> int:
    """Fold peft LoRA layers into LLaMA's linear weights and put the plain layers back; returns how many."""
    from peft.tuners.lora import LoraLayer

    merged = 0
    for parent in list(captioner.model.llama.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, LoraLayer):
                base = child.get_base_layer()
                # Merge in fp32, then store in the base weight's dtype.
                delta = child.get_delta_weight("default").float()
                with torch.no_grad():
                    base.weight.copy_((base.weight.float() + delta).to(base.weight.dtype))
                setattr(parent, child_name, base)
                merged += 1
    return merged


def adapter_mert_shape(spec) -> tuple[int, int]:
    """(MERT layers, MERT hidden) the base captioner's adapter takes, read without loading LLaMA."""
    import json

    if isinstance(spec.captioner, dict):
        from musiscene_core.models.mullama.checkpoint import read_mullama_checkpoint

        state = read_mullama_checkpoint(spec.captioner["checkpoint"])
        return int(state["mu_mert_agg.weight"].shape[1]), int(state["mu_mert_proj.weight"].shape[1])
    from musiscene_core.models.mullama.captioner import CONFIG_FILE

    path = Path(spec.captioner) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{spec.captioner} is not a saved captioner: {CONFIG_FILE} is missing")
    adapter = json.loads(path.read_text())["config"]["adapter"]
    return int(adapter["mert_layers"]), int(adapter["mert_dim"])
