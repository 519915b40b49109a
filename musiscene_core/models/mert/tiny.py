"""A tiny random MERT written in the published checkpoints' exact layout, for tests and demos.

Same files, config keys and parameter names as m-a-p/MERT-v1-330M (or, with
`stable_layer_norm=False`, MERT-v1-95M) with small widths; the convolution stack keeps MERT's
kernels and strides, so 24 kHz input still gives 75 frames per second.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from musiscene_core.models.mert.configuration import read_mert_spec
from musiscene_core.models.mert.modeling import MertModel, official_name

_CONV_KERNEL = [10, 3, 3, 3, 3, 2, 2]
_CONV_STRIDE = [5, 2, 2, 2, 2, 2, 2]  # product 320: 24000 Hz / 320 = 75 frames per second


def make_tiny_mert(
    directory: str | Path,
    seed: int = 0,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 4,
    conv_channels: int = 16,
    stable_layer_norm: bool = True,
    do_normalize: bool = True,
    weights_format: str = "safetensors",
) -> Path:
    """Write config.json, preprocessor_config.json and model.safetensors (or pytorch_model.bin) to `directory`.

    stable_layer_norm: pre-norm encoder as MERT-v1-330M (True) or post-norm as MERT-v1-95M (False).
    weights_format: "safetensors" or "bin". Returns the directory.
    """
    if weights_format not in ("safetensors", "bin"):
        raise ValueError(f"weights_format must be 'safetensors' or 'bin', got {weights_format!r}.")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    config = _official_config(hidden_size, num_layers, num_heads, conv_channels, stable_layer_norm)
    preprocessor = {
        "do_normalize": do_normalize,
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "padding_side": "right",
        "padding_value": 0,
        "return_attention_mask": True,
        "sampling_rate": 24000,
    }
    spec = read_mert_spec(config, preprocessor, str(folder))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MertModel(spec.hubert)
    state = {official_name(name): tensor.detach().clone().contiguous() for name, tensor in model.state_dict().items()}

    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n", encoding="utf-8")
    if weights_format == "safetensors":
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        torch.save(state, folder / "pytorch_model.bin")
    return folder


def _official_config(hidden_size: int, num_layers: int, num_heads: int, conv_channels: int, stable: bool) -> dict:
    """MERT-v1's config.json keys and values, with the widths and depth replaced."""
    return {
        "activation_dropout": 0.0,
        "apply_spec_augment": True,
        "architectures": ["MERTModel"],
        "attention_dropout": 0.0,
        "attention_relax": 32.0 if stable else -1.0,
        "auto_map": {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
        "bos_token_id": 1,
        "classifier_proj_size": 256,
        "conv_bias": False,
        "conv_dim": [conv_channels] * len(_CONV_KERNEL),
        "conv_kernel": list(_CONV_KERNEL),
        "conv_stride": list(_CONV_STRIDE),
        "ctc_loss_reduction": "sum",
        "ctc_zero_infinity": False,
        "deepnorm": False,
        "do_stable_layer_norm": stable,
        "eos_token_id": 2,
        "feat_extract_activation": "gelu",
        "feat_extract_dropout": 0.0,
        "feat_extract_norm": "group",
        "feat_proj_dropout": 0.0,
        "feat_proj_layer_norm": True,
        "feature_extractor_cqt": False,
        "feature_extractor_cqt_bins": 336,
        "final_dropout": 0.0,
        "gradient_checkpointing": False,
        "hidden_act": "gelu",
        "hidden_dropout": 0.0,
        "hidden_size": hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": 4 * hidden_size,
        "layer_norm_eps": 1e-05,
        "layerdrop": 0.0,
        "mask_feature_length": 10,
        "mask_feature_min_masks": 0,
        "mask_feature_prob": 0.0,
        "mask_time_length": 10,
        "mask_time_min_masks": 2,
        "mask_time_prob": 0.05,
        "model_type": "mert_model",
        "num_attention_heads": num_heads,
        "num_conv_pos_embedding_groups": 4,
        "num_conv_pos_embeddings": 16,
        "num_feat_extract_layers": len(_CONV_KERNEL),
        "num_hidden_layers": num_layers,
        "pad_token_id": 0,
        "sample_rate": 24000,
        "torch_dtype": "float32",
        "transformers_version": "4.24.0",
        "use_weighted_layer_sum": False,
        "vocab_size": 32,
    }
