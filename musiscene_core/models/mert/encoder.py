"""MERT audio encoder: 24 kHz waveforms -> every layer's hidden states, or their time means.

Loads the published MERT checkpoints (m-a-p/MERT-v1-95M, m-a-p/MERT-v1-330M) from a Hub id or a
local folder without running their custom code, applies their preprocessing, and batches inputs of
any lengths so that each gets the result it would get alone. `track_layer_means` batches the windows
of many tracks together (neighbours in length share a model call). See docs/mert.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from musiscene_core.models.devices import default_device, mert_dtype
from musiscene_core.models.mert.checkpoint import locate_checkpoint, match_state_dict, read_weights, weights_digest
from musiscene_core.models.mert.configuration import MertSpec, read_mert_spec
from musiscene_core.models.mert.modeling import LEGACY_WEIGHT_NORM_NAMES, MertModel, conv_output_frames
from musiscene_core.models.mert.tiny import make_tiny_mert

__all__ = ["MertEncoder", "make_tiny_mert"]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
CPU_BATCH_SIZE = 8
MAX_AUTO_BATCH = 256
# Share of the free GPU memory one call may plan for: the rest is left to the allocator's fragmentation,
# the captioner or another stage sharing the GPU, and the estimate's error (it is not measured yet).
MEMORY_SHARE = 0.5
# An input joins a batch only if it is at least this fraction of the batch's longest input: padding
# costs as much as audio, and a track's last, shorter window is better off in a batch of its kind.
MIN_LENGTH_RATIO = 0.8


def normalize_waveform(waveform: np.ndarray) -> np.ndarray:
    """Wav2Vec2FeatureExtractor's do_normalize: zero mean, unit variance over this input's own samples."""
    return (waveform - waveform.mean()) / np.sqrt(waveform.var() + 1e-7)


class MertEncoder:
    """A loaded MERT model and its preprocessing. Build it with `MertEncoder.from_pretrained`."""

    def __init__(self, model: MertModel, spec: MertSpec, model_version: str, device: torch.device, dtype: torch.dtype):
        self._model = model.eval()
        self._spec = spec
        self._device = device
        self._dtype = dtype
        self.model_version = model_version
        self.num_layers: int = spec.hubert.num_hidden_layers
        self.hidden_size: int = spec.hubert.hidden_size
        self.sample_rate: int = spec.sample_rate
        self.min_samples: int = self._shortest_input()

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        revision: str | None = None,
    ) -> MertEncoder:
        """Load a MERT checkpoint from a local folder or a Hugging Face model id.

        device: defaults to "cuda" when available, else "cpu". dtype: the model's compute type
        (float32, float16 or bfloat16, also as strings; default `devices.mert_dtype`: bfloat16 on
        CUDA, float32 on the CPU); outputs are float32.
        revision: for a Hub id, the branch, tag or commit to load (default: main).
        """
        files = locate_checkpoint(name_or_path, revision)
        spec = read_mert_spec(files.config, files.preprocessor, str(name_or_path))
        with torch.device("meta"):  # no memory and no random init for weights about to be replaced
            model = MertModel(spec.hubert)
        expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
        state = match_state_dict(read_weights(files.weights), expected, LEGACY_WEIGHT_NORM_NAMES, files.weights)
        model.load_state_dict(state, strict=True, assign=True)
        target_device = torch.device(device) if device is not None else default_device()
        target_dtype = _resolve_dtype(dtype) if dtype is not None else mert_dtype(target_device)
        model = model.to(device=target_device, dtype=target_dtype)
        version = f"{files.source}@{weights_digest(files.weights)}"
        return cls(model, spec, version, target_device, target_dtype)

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype (outputs are float32 whatever it is)."""
        return self._dtype

    @property
    def architecture(self):
        """The network's HubertConfig (layer sizes, convolution kernels and strides)."""
        return self._spec.hubert

    def num_frames(self, num_samples: int) -> int:
        """Frames (hidden-state rows) the model makes from `num_samples` samples: 75 per second at 24 kHz."""
        return int(conv_output_frames(num_samples, self._spec.hubert.conv_kernel, self._spec.hubert.conv_stride))

    def hidden_states(self, waveforms: Sequence[np.ndarray], batch_size: int | None = CPU_BATCH_SIZE) -> list[np.ndarray]:
        """Every layer's output per input: float32 arrays [num_layers + 1, frames, hidden_size].

        waveforms: mono float arrays at `sample_rate`, any lengths (at least `min_samples`).
        Index 0 is the transformer's input (projected features plus the positional convolution,
        layer-normed in post-norm models such as MERT-v1-95M), index i the output of layer i, the
        last one final-layer-normed in pre-norm models such as MERT-v1-330M: the published model's
        `output_hidden_states`.
        """
        prepared = self._prepare(waveforms)
        results: list[np.ndarray | None] = [None] * len(prepared)
        for indices, (states, frames) in self._run(prepared, batch_size, time_means=False):
            for row, index in enumerate(indices):
                results[index] = states[:, row, : int(frames[row])].float().cpu().numpy()
        return results

    def layer_means(self, waveforms: Sequence[np.ndarray], batch_size: int | None = CPU_BATCH_SIZE) -> np.ndarray:
        """Each layer's mean over time per input: float32 [len(waveforms), num_layers + 1, hidden_size].

        This is the per-track summary MU-LLaMA feeds its music adapter. batch_size: inputs per model
        call; None picks it (`auto_batch_size`: from free memory on CUDA, 8 on the CPU).
        """
        prepared = self._prepare(waveforms)
        means = np.zeros((len(prepared), self.num_layers + 1, self.hidden_size), dtype=np.float32)
        for indices, batch_means in self._run(prepared, batch_size, time_means=True):
            means[indices] = batch_means.transpose(0, 1).cpu().numpy()
        return means

    def track_layer_means(self, tracks: Sequence[Sequence[np.ndarray]], batch_size: int | None = None) -> np.ndarray:
        """Per track, the mean over its windows of `layer_means`, weighted by window length:
        float32 [len(tracks), num_layers + 1, hidden_size].

        The windows of all tracks share model calls (sorted by length, so a call holds windows of
        similar lengths), instead of one call per track; each window still gets the result it gets
        alone, so a track's means do not depend on the tracks batched with it.
        """
        counts = [len(windows) for windows in tracks]
        if any(count == 0 for count in counts):
            raise ValueError(f"track {counts.index(0)} has no windows.")
        flat = [window for windows in tracks for window in windows]
        per_window = self.layer_means(flat, batch_size=batch_size)
        out = np.zeros((len(tracks), self.num_layers + 1, self.hidden_size), dtype=np.float32)
        start = 0
        for track, count in enumerate(counts):
            lengths = np.array([len(w) for w in flat[start : start + count]], dtype=np.float64)
            out[track] = np.tensordot(lengths / lengths.sum(), per_window[start : start + count], axes=1)
            start += count
        return out

    def auto_batch_size(self, num_samples: int) -> int:
        """Inputs of `num_samples` samples per model call: 8 on the CPU; on CUDA as many as
        MEMORY_SHARE of the free memory holds by `bytes_per_sample`'s estimate (1..MAX_AUTO_BATCH)."""
        if self._device.type != "cuda":
            return CPU_BATCH_SIZE
        free, _ = torch.cuda.mem_get_info(self._device)
        # Memory this process's allocator holds but no tensor uses is free for this batch too.
        free += torch.cuda.memory_reserved(self._device) - torch.cuda.memory_allocated(self._device)
        per_input = self.bytes_per_sample() * max(num_samples, self.min_samples)
        return int(max(1, min(MAX_AUTO_BATCH, MEMORY_SHARE * free // per_input)))

    def bytes_per_sample(self) -> float:
        """Estimated peak activation memory per input sample of one batch row (a heuristic, not measured).

        Two terms dominate. The first convolution makes conv_dim[0] channels at 1/stride[0] of the
        sample rate; in a padded batch its group norm works on about four float32 copies of that
        output (`modeling._masked_instance_norm`), next to the output itself in the compute dtype.
        Then each transformer layer holds its input, the attention projections and the feed-forward
        expansion at once, about (4 * hidden + intermediate) values per frame (SDPA keeps the
        attention matrix out of memory); frames come at 1/320 of the sample rate.
        """
        hubert = self._spec.hubert
        size = torch.finfo(self._dtype).bits // 8
        first_conv = hubert.conv_dim[0] / hubert.conv_stride[0] * (4 * 4 + size)
        stride = int(np.prod(hubert.conv_stride))
        encoder = (4 * hubert.hidden_size + hubert.intermediate_size) * size / stride
        return first_conv + encoder

    def _prepare(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        if isinstance(waveforms, np.ndarray) and waveforms.ndim == 1:
            raise TypeError("MertEncoder takes a list of 1-D waveforms; wrap a single waveform in a list.")
        prepared = []
        for index, waveform in enumerate(waveforms):
            array = np.asarray(waveform, dtype=np.float32)
            if array.ndim != 1:
                raise ValueError(f"waveform {index} has shape {array.shape}; MERT takes mono 1-D waveforms.")
            if array.shape[0] < self.min_samples:
                raise ValueError(
                    f"waveform {index} has {array.shape[0]} samples; MERT needs at least {self.min_samples}"
                    f" ({self.min_samples / self.sample_rate:.4f} s at {self.sample_rate} Hz)."
                )
            if not np.isfinite(array).all():
                raise ValueError(f"waveform {index} contains NaN or infinite samples.")
            prepared.append(normalize_waveform(array) if self._spec.do_normalize else array)
        return prepared

    def _run(self, prepared: list[np.ndarray], batch_size: int | None, time_means: bool):
        """Yield (input indices, model output) per batch: (states [layers, batch, frames, hidden],
        frames [batch]), or with time_means the per-layer means [layers, batch, hidden]."""
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        # Longest first, neighbours in length share a batch: little compute goes to padding, and an
        # automatic batch size is sized for the longest input of its batch.
        order = sorted(range(len(prepared)), key=lambda index: -prepared[index].shape[0])
        cuda = self._device.type == "cuda"
        start = 0
        while start < len(order):
            longest = prepared[order[start]].shape[0]
            size = batch_size or self.auto_batch_size(longest)
            end = start + 1
            while end < min(len(order), start + size) and prepared[order[end]].shape[0] >= MIN_LENGTH_RATIO * longest:
                end += 1
            indices, start = order[start:end], end
            lengths = [prepared[index].shape[0] for index in indices]
            padded = torch.zeros((len(indices), max(lengths)), dtype=torch.float32, pin_memory=cuda)
            for row, index in enumerate(indices):
                padded[row, : lengths[row]] = torch.from_numpy(prepared[index])
            # Pinned host memory: the copy runs asynchronously, overlapping the previous batch's work.
            inputs = padded.to(device=self._device, non_blocking=cuda).to(self._dtype)
            num_samples = torch.tensor(lengths, device=self._device)
            exact = self._dtype == torch.float32 and cuda
            with torch.inference_mode(), _without_tf32() if exact else nullcontext():
                yield indices, self._model(inputs, num_samples, time_means=time_means)

    def _shortest_input(self) -> int:
        """Fewest samples that give one frame: the convolution stack's receptive field."""
        samples = 1
        for kernel, stride in zip(reversed(self._spec.hubert.conv_kernel), reversed(self._spec.hubert.conv_stride)):
            samples = (samples - 1) * stride + kernel
        return samples


@contextmanager
def _without_tf32() -> Iterator[None]:
    """True float32 convolutions and matmuls on CUDA for the duration, then the caller's settings again.

    cuDNN convolutions default to TF32 (10-bit mantissa), which moves float32 outputs by ~1e-3 and
    makes them depend on batch shape; float32 here means float32 (bfloat16/float16 are the fast options).
    """
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}.")
