"""Loading MERT checkpoints: published parameter names, Hub ids through the HF cache, clear errors."""

import json
import shutil

import numpy as np
import pytest
import torch
from huggingface_hub import constants as hf_constants
from safetensors.torch import load_file, save_file

from musiscene_core.errors import UserError
from musiscene_core.models.mert.configuration import read_mert_spec
from musiscene_core.models.mert.encoder import MertEncoder, make_tiny_mert
from musiscene_core.models.mert.modeling import MertModel, official_state_dict_shapes

# m-a-p/MERT-v1-330M config.json. Values up to "mask_channel_selection" are as published; the
# published file's remaining fields were not visible in the sources consulted and are filled in from
# the model card (24 layers of width 1024, 16 heads, 24 kHz) and MERT's configuration defaults.
MERT_V1_330M_CONFIG = {
    "activation_dropout": 0.0,
    "apply_spec_augment": True,
    "architectures": ["MERTModel"],
    "attention_dropout": 0.0,
    "attention_relax": 32.0,
    "auto_map": {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
    "bos_token_id": 1,
    "classifier_proj_size": 256,
    "conv_bias": False,
    "conv_dim": [512] * 7,
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "ctc_loss_reduction": "sum",
    "ctc_zero_infinity": False,
    "deepnorm": False,
    "do_stable_layer_norm": True,
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
    "hidden_size": 1024,
    "initializer_range": 0.02,
    "intermediate_size": 4096,
    "layer_norm_eps": 1e-05,
    "layerdrop": 0.0,
    "mask_channel_length": 10,
    "mask_channel_min_space": 1,
    "mask_channel_other": 0.0,
    "mask_channel_prob": 0.0,
    "mask_channel_selection": "static",
    "mask_feature_length": 10,
    "mask_feature_min_masks": 0,
    "mask_feature_prob": 0.0,
    "mask_time_length": 10,
    "mask_time_min_masks": 2,
    "mask_time_prob": 0.05,
    "model_type": "mert_model",
    "num_attention_heads": 16,
    "num_conv_pos_embedding_groups": 16,
    "num_conv_pos_embeddings": 128,
    "num_feat_extract_layers": 7,
    "num_hidden_layers": 24,
    "pad_token_id": 0,
    "sample_rate": 24000,
    "torch_dtype": "float32",
    "transformers_version": "4.24.0",
    "use_weighted_layer_sum": False,
    "vocab_size": 32,
}
MERT_V1_PREPROCESSOR = {
    "do_normalize": True,
    "feature_extractor_type": "Wav2Vec2FeatureExtractor",
    "feature_size": 1,
    "padding_side": "right",
    "padding_value": 0,
    "return_attention_mask": True,
    "sampling_rate": 24000,
}

# Parameter names and shapes of MERT-v1-330M's state dict, derived from the published modeling_MERT.py
# (HuBERT feature encoder with GroupNorm, MERTFeatureProjection, masked_spec_embed since
# mask_time_prob > 0, HubertEncoderStableLayerNorm with the legacy weight_norm names).
OFFICIAL_330M_TOP = {
    "masked_spec_embed": (1024,),
    "feature_extractor.conv_layers.0.conv.weight": (512, 1, 10),
    "feature_extractor.conv_layers.0.layer_norm.weight": (512,),
    "feature_extractor.conv_layers.0.layer_norm.bias": (512,),
    "feature_extractor.conv_layers.1.conv.weight": (512, 512, 3),
    "feature_extractor.conv_layers.2.conv.weight": (512, 512, 3),
    "feature_extractor.conv_layers.3.conv.weight": (512, 512, 3),
    "feature_extractor.conv_layers.4.conv.weight": (512, 512, 3),
    "feature_extractor.conv_layers.5.conv.weight": (512, 512, 2),
    "feature_extractor.conv_layers.6.conv.weight": (512, 512, 2),
    "feature_projection.layer_norm.weight": (512,),
    "feature_projection.layer_norm.bias": (512,),
    "feature_projection.projection.weight": (1024, 512),
    "feature_projection.projection.bias": (1024,),
    "encoder.pos_conv_embed.conv.bias": (1024,),
    "encoder.pos_conv_embed.conv.weight_g": (1, 1, 128),
    "encoder.pos_conv_embed.conv.weight_v": (1024, 64, 128),
    "encoder.layer_norm.weight": (1024,),
    "encoder.layer_norm.bias": (1024,),
}
OFFICIAL_330M_PER_LAYER = {
    "attention.k_proj.weight": (1024, 1024),
    "attention.k_proj.bias": (1024,),
    "attention.v_proj.weight": (1024, 1024),
    "attention.v_proj.bias": (1024,),
    "attention.q_proj.weight": (1024, 1024),
    "attention.q_proj.bias": (1024,),
    "attention.out_proj.weight": (1024, 1024),
    "attention.out_proj.bias": (1024,),
    "layer_norm.weight": (1024,),
    "layer_norm.bias": (1024,),
    "feed_forward.intermediate_dense.weight": (4096, 1024),
    "feed_forward.intermediate_dense.bias": (4096,),
    "feed_forward.output_dense.weight": (1024, 4096),
    "feed_forward.output_dense.bias": (1024,),
    "final_layer_norm.weight": (1024,),
    "final_layer_norm.bias": (1024,),
}

# MERT-v1-95M's published pytorch_model.bin holds the same top-level and per-layer names over 12
# layers (as a published dump of its state dict lists them).
OFFICIAL_95M_LAYER_COUNT = 12


def build_on_meta(config: dict) -> MertModel:
    spec = read_mert_spec(config, MERT_V1_PREPROCESSOR, "test")
    with torch.device("meta"):
        return MertModel(spec.hubert)


def test_330m_parameter_names_and_shapes_match_published_checkpoint():
    expected = dict(OFFICIAL_330M_TOP)
    for layer in range(24):
        expected.update({f"encoder.layers.{layer}.{name}": shape for name, shape in OFFICIAL_330M_PER_LAYER.items()})

    ours = official_state_dict_shapes(build_on_meta(MERT_V1_330M_CONFIG))

    assert ours == expected
    assert len(ours) == 403
    assert sum(int(np.prod(shape)) for shape in ours.values()) == 315_428_992  # 1.26 GB as float32


def test_95m_parameter_names_match_published_checkpoint():
    config = dict(
        MERT_V1_330M_CONFIG,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        do_stable_layer_norm=False,
        attention_relax=-1.0,
    )
    ours = official_state_dict_shapes(build_on_meta(config))
    expected_names = set(OFFICIAL_330M_TOP) | {
        f"encoder.layers.{layer}.{name}" for layer in range(OFFICIAL_95M_LAYER_COUNT) for name in OFFICIAL_330M_PER_LAYER
    }
    assert set(ours) == expected_names
    assert ours["encoder.pos_conv_embed.conv.weight_v"] == (768, 48, 128)
    assert sum(int(np.prod(shape)) for shape in ours.values()) == 94_371_712


def hub_cache_snapshot(cache, repo_id: str, source, files) -> None:
    """Lay out `files` from `source` as huggingface_hub's cache holds a downloaded repository."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in files:
        shutil.copy(source / name, snapshot / name)


@pytest.mark.parametrize("weights_format", ["safetensors", "bin"])
def test_hub_id_loads_from_the_hugging_face_cache(tmp_path, monkeypatch, weights_format):
    source = make_tiny_mert(tmp_path / "source", seed=4, weights_format=weights_format)
    weights = "model.safetensors" if weights_format == "safetensors" else "pytorch_model.bin"
    cache = tmp_path / "hub"
    hub_cache_snapshot(cache, "m-a-p/MERT-tiny-test", source, ["config.json", "preprocessor_config.json", weights])
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))

    from_hub = MertEncoder.from_pretrained("m-a-p/MERT-tiny-test")
    from_dir = MertEncoder.from_pretrained(source)

    assert from_hub.model_version.startswith("m-a-p/MERT-tiny-test@")
    assert from_hub.model_version.split("@")[1] == from_dir.model_version.split("@")[1]
    waveform = np.sin(np.arange(24000, dtype=np.float32) / 7.0)
    np.testing.assert_array_equal(from_hub.layer_means([waveform]), from_dir.layer_means([waveform]))


def test_pickled_and_safetensors_weights_give_the_same_model(tmp_path):
    waveform = np.cos(np.arange(20000, dtype=np.float32) / 5.0)
    a = MertEncoder.from_pretrained(make_tiny_mert(tmp_path / "st", seed=5, weights_format="safetensors"))
    b = MertEncoder.from_pretrained(make_tiny_mert(tmp_path / "bin", seed=5, weights_format="bin"))
    np.testing.assert_array_equal(a.hidden_states([waveform])[0], b.hidden_states([waveform])[0])


def test_uncached_hub_id_offline_names_the_id_and_the_remedy(tmp_path, monkeypatch):
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(UserError, match=r"m-a-p/MERT-v1-330M.*pass a local folder"):
        MertEncoder.from_pretrained("m-a-p/MERT-v1-330M")


def test_neither_folder_nor_hub_id(tmp_path):
    with pytest.raises(UserError, match="neither a MERT checkpoint folder nor a Hugging Face model id"):
        MertEncoder.from_pretrained(str(tmp_path / "no" / "such" / "folder"))


def test_folder_missing_files(tmp_path):
    folder = make_tiny_mert(tmp_path, seed=0)
    (folder / "preprocessor_config.json").unlink()
    (folder / "model.safetensors").unlink()
    with pytest.raises(UserError, match="lacks preprocessor_config.json, model.safetensors or pytorch_model.bin"):
        MertEncoder.from_pretrained(folder)


def test_weights_that_do_not_fit_the_config(tmp_path):
    folder = make_tiny_mert(tmp_path, seed=0)
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = 64  # the tiny default is 128
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match=r"intermediate_dense.weight has shape \(128, 32\), expected \(64, 32\)"):
        MertEncoder.from_pretrained(folder)


def test_weights_with_missing_and_unexpected_names(tmp_path):
    folder = make_tiny_mert(tmp_path, seed=0)
    state = load_file(folder / "model.safetensors")
    state["extra.weight"] = state.pop("encoder.layer_norm.weight")
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(UserError, match="1 missing .*encoder.layer_norm.weight.* and 1 unexpected .*extra.weight"):
        MertEncoder.from_pretrained(folder)


def test_pickled_weights_are_loaded_without_running_pickled_code(tmp_path):
    folder = make_tiny_mert(tmp_path, seed=0)
    (folder / "model.safetensors").unlink()
    torch.save({"encoder.layer_norm.weight": torch.ones(32), "payload": ValueError("not a tensor")}, folder / "pytorch_model.bin")
    with pytest.raises(UserError, match="could not read MERT weights"):
        MertEncoder.from_pretrained(folder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_type": "hubert"}, "not a MERT model"),
        ({"feature_extractor_cqt": True}, "feature_extractor_cqt"),
        ({"deepnorm": True}, "deepnorm"),
        ({"sample_rate": 16000}, "sample_rate 16000 but preprocessor_config.json sampling_rate 24000"),
        ({"conv_stride": [5, 2]}, "does not describe a valid MERT network"),
    ],
)
def test_configs_this_implementation_cannot_honour(tmp_path, change, message):
    folder = make_tiny_mert(tmp_path, seed=0)
    config = json.loads((folder / "config.json").read_text())
    config.update(change)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match=message):
        MertEncoder.from_pretrained(folder)
