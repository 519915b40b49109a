"""The MERT network, assembled from transformers' HuBERT building blocks.

MERT's published code (`modeling_MERT.py` on the Hub) subclasses HuBERT. With the CQT branch and
deepnorm off, which is the case for MERT-v1-95M and MERT-v1-330M, it computes:

    waveform -> HubertFeatureEncoder (7 strided convolutions, 320x down-sampling; GroupNorm over
    time after the first one when feat_extract_norm == "group") -> LayerNorm + Linear projection
    -> HubertEncoder (post-norm layers, 95M) or HubertEncoderStableLayerNorm (pre-norm layers, 330M)

and its `hidden_states` output (num_hidden_layers + 1 tensors) follows the transformers 4.x
HuBERT encoders it was written against:

* post-norm encoder: [LayerNorm(x + pos_conv(x)), out_1, ..., out_L]
* pre-norm encoder:  [x + pos_conv(x), out_1, ..., out_{L-1}, LayerNorm(out_L)]

`attention_relax` only acts inside MERT's deepnorm layers, so it has no effect on these configs.

Module and parameter names equal MERT's, so its state dict loads without renaming, except that
current torch stores the weight-normalised positional convolution as
`conv.parametrizations.weight.original0/1` where the checkpoints (saved with torch's older
`weight_norm`) say `conv.weight_g/weight_v`; `LEGACY_WEIGHT_NORM_NAMES` maps between the two.

Batching: padded positions never reach a real frame's output. The first convolution's GroupNorm
normalises each channel over time, so its statistics are taken over each input's own frames
(`_masked_instance_norm`) instead of over the padded length; the encoder zeroes padded frames
before the positional convolution (as zero padding does for a lone input) and masks them out of
attention. A batch therefore gives each input the result it gets alone.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import HubertConfig
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.hubert.modeling_hubert import (
    HubertEncoder,
    HubertEncoderStableLayerNorm,
    HubertFeatureEncoder,
    HubertFeatureProjection,
    HubertGroupNormConvLayer,
)

_POS_CONV = "encoder.pos_conv_embed.conv."
# checkpoint name (torch.nn.utils.weight_norm) -> current module name (torch.nn.utils.parametrizations.weight_norm)
LEGACY_WEIGHT_NORM_NAMES = {
    _POS_CONV + "weight_g": _POS_CONV + "parametrizations.weight.original0",
    _POS_CONV + "weight_v": _POS_CONV + "parametrizations.weight.original1",
}


def conv_output_frames(num_samples: torch.Tensor | int, kernels, strides) -> torch.Tensor | int:
    """Frames a stack of unpadded convolutions makes from `num_samples` samples (0 if too short)."""
    frames = num_samples
    for kernel, stride in zip(kernels, strides):
        if isinstance(frames, torch.Tensor):
            frames = torch.clamp(torch.div(frames - kernel, stride, rounding_mode="floor") + 1, min=0)
        else:
            frames = max((frames - kernel) // stride + 1, 0)
    return frames


def _masked_instance_norm(norm: nn.GroupNorm, hidden: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """`norm` (one group per channel) with each input's statistics taken over its first `valid[b]` frames.

    Statistics are accumulated in float32, as GroupNorm does for half-precision inputs: sums over
    minutes of audio overflow float16.
    """
    values = hidden.float()
    mask = (torch.arange(values.shape[-1], device=values.device)[None, :] < valid[:, None]).float()[:, None, :]
    count = valid.float()[:, None, None]
    mean = (values * mask).sum(-1, keepdim=True) / count
    centred = values - mean
    variance = (centred * centred * mask).sum(-1, keepdim=True) / count  # biased, as GroupNorm
    normed = centred * torch.rsqrt(variance + norm.eps)
    return (normed * norm.weight.float()[None, :, None] + norm.bias.float()[None, :, None]).to(hidden.dtype)


class MertModel(nn.Module):
    """MERT's network; `forward` returns every layer's hidden states for a padded batch."""

    def __init__(self, config: HubertConfig):
        super().__init__()
        self.config = config
        self.feature_extractor = HubertFeatureEncoder(config)
        self.feature_projection = HubertFeatureProjection(config)
        if config.mask_time_prob > 0.0 or config.mask_feature_prob > 0.0:
            # Training-time SpecAugment vector; unused at inference but part of the published state dict.
            self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size).uniform_())
        encoder_class = HubertEncoderStableLayerNorm if config.do_stable_layer_norm else HubertEncoder
        self.encoder = encoder_class(config)

    def forward(self, input_values: torch.Tensor, num_samples: torch.Tensor, time_means: bool = False):
        """Hidden states of right-padded waveforms.

        input_values: [batch, samples], already normalised; num_samples: [batch] real lengths.
        Returns (states [num_hidden_layers + 1, batch, frames, hidden], frames per input [batch]).
        Frames past an input's own count are padding and hold no meaning. With time_means, returns
        instead each layer's float32 mean over each input's own frames [num_hidden_layers + 1, batch,
        hidden], reduced layer by layer so the full stack of states is never held in memory.
        """
        padded = bool((num_samples != input_values.shape[1]).any())
        features = self._extract_features(input_values, num_samples if padded else None)
        hidden = self.feature_projection(features.transpose(1, 2))
        frames = conv_output_frames(num_samples, self.config.conv_kernel, self.config.conv_stride)
        frame_mask = None
        if padded:
            frame_mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]
        if not time_means:
            return torch.stack(list(self._encode(hidden, frame_mask))), frames
        valid = (torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]).to(torch.float32)[:, :, None]
        counts = frames.to(torch.float32)[:, None]
        return torch.stack([(state.float() * valid).sum(dim=1) / counts for state in self._encode(hidden, frame_mask)])

    def _extract_features(self, input_values: torch.Tensor, num_samples: torch.Tensor | None) -> torch.Tensor:
        hidden = input_values[:, None]
        valid = num_samples
        for layer in self.feature_extractor.conv_layers:
            if valid is not None:
                valid = conv_output_frames(valid, layer.conv.kernel_size, layer.conv.stride)
            if valid is not None and isinstance(layer, HubertGroupNormConvLayer):
                hidden = layer.activation(_masked_instance_norm(layer.layer_norm, layer.conv(hidden), valid))
            else:
                hidden = layer(hidden)
        return hidden

    def _encode(self, hidden: torch.Tensor, frame_mask: torch.Tensor | None):
        """Yield the num_hidden_layers + 1 hidden states [batch, frames, hidden] one after the other."""
        encoder = self.encoder
        if frame_mask is not None:
            hidden = hidden.masked_fill(~frame_mask[..., None], 0.0)
        attention_mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=frame_mask)
        hidden = hidden + encoder.pos_conv_embed(hidden)
        stable = isinstance(encoder, HubertEncoderStableLayerNorm)
        if not stable:
            hidden = encoder.layer_norm(hidden)
        yield hidden
        for index, layer in enumerate(encoder.layers):
            hidden = layer(hidden, attention_mask=attention_mask)
            last = index == len(encoder.layers) - 1
            yield encoder.layer_norm(hidden) if stable and last else hidden


_CURRENT_TO_LEGACY = {new: old for old, new in LEGACY_WEIGHT_NORM_NAMES.items()}


def official_name(name: str) -> str:
    """A `MertModel` state-dict name as MERT's published checkpoints spell it."""
    return _CURRENT_TO_LEGACY.get(name, name)


def official_state_dict_shapes(model: MertModel) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes as MERT's published checkpoints spell them."""
    return {official_name(name): tuple(tensor.shape) for name, tensor in model.state_dict().items()}
