"""Reading a MERT checkpoint's `config.json` and `preprocessor_config.json`.

MERT (m-a-p/MERT-v1-95M, m-a-p/MERT-v1-330M) publishes a HuBERT-shaped model under
`model_type: "mert_model"` with custom Hub code. With the CQT branch off (as in every v1
config) that code builds exactly a HuBERT model, so the configuration maps onto transformers'
`HubertConfig`; fields absent from `config.json` take the same defaults as MERT's own
`MERTConfig` (which are HuBERT's). The preprocessor is a plain `Wav2Vec2FeatureExtractor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from huggingface_hub.errors import StrictDataclassError

from musiscene_core.errors import UserError

if TYPE_CHECKING:  # importing transformers' configuration classes imports torch
    from transformers import HubertConfig

MERT_MODEL_TYPE = "mert_model"

# config.json fields that shape the network (the rest only matter for training or heads).
_ARCHITECTURE_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "layer_norm_eps",
    "feat_extract_norm",
    "feat_extract_activation",
    "feat_proj_layer_norm",
    "conv_dim",
    "conv_stride",
    "conv_kernel",
    "conv_bias",
    "num_conv_pos_embeddings",
    "num_conv_pos_embedding_groups",
    "do_stable_layer_norm",
    "mask_time_prob",
    "mask_feature_prob",
)


@dataclass(frozen=True)
class MertSpec:
    """Everything needed to build a MERT network and prepare its input."""

    hubert: HubertConfig  # the HuBERT building blocks' configuration
    sample_rate: int  # Hz; the waveform rate the model was trained on
    do_normalize: bool  # zero-mean, unit-variance per input before the network


def read_mert_spec(config: dict[str, Any], preprocessor: dict[str, Any], where: str) -> MertSpec:
    """Validate the two JSON documents of a MERT checkpoint found at `where` and combine them."""
    from transformers import HubertConfig

    model_type = config.get("model_type")
    if model_type != MERT_MODEL_TYPE:
        raise UserError(f"config.json in {where} has model_type {model_type!r}, not a MERT model ({MERT_MODEL_TYPE!r}).")
    # Options MERT's code supports that no published v1 checkpoint uses; refuse rather than compute something else.
    if config.get("feature_extractor_cqt", False):
        raise UserError(f"config.json in {where} enables feature_extractor_cqt, which this MERT implementation does not support.")
    if config.get("deepnorm", False):
        raise UserError(f"config.json in {where} enables deepnorm, which this MERT implementation does not support.")
    if config.get("conv_pos_batch_norm", False):
        raise UserError(f"config.json in {where} enables conv_pos_batch_norm, which MERT checkpoints do not use.")

    extractor_type = preprocessor.get("feature_extractor_type", "Wav2Vec2FeatureExtractor")
    if extractor_type != "Wav2Vec2FeatureExtractor" or preprocessor.get("feature_size", 1) != 1:
        raise UserError(f"preprocessor_config.json in {where} is not a mono Wav2Vec2FeatureExtractor.")
    sample_rate = preprocessor.get("sampling_rate")
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise UserError(f"preprocessor_config.json in {where} has no valid sampling_rate.")
    if config.get("sample_rate", sample_rate) != sample_rate:
        raise UserError(
            f"{where} disagrees with itself: config.json sample_rate {config['sample_rate']}"
            f" but preprocessor_config.json sampling_rate {sample_rate}."
        )

    fields = {name: config[name] for name in _ARCHITECTURE_FIELDS if name in config}
    try:
        hubert = HubertConfig(**fields, attn_implementation="sdpa")
    except (StrictDataclassError, TypeError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise UserError(f"config.json in {where} does not describe a valid MERT network ({detail}).") from exc
    if hubert.hidden_size % hubert.num_attention_heads != 0:
        raise UserError(
            f"config.json in {where} has hidden_size {hubert.hidden_size} not divisible by"
            f" num_attention_heads {hubert.num_attention_heads}."
        )
    # Wav2Vec2FeatureExtractor normalises unless told not to.
    return MertSpec(hubert=hubert, sample_rate=sample_rate, do_normalize=bool(preprocessor.get("do_normalize", True)))
