"""The models behind the audio metrics: embedders for FAD and an AudioSet classifier for KL.

Embedders turn a clip into embedding frames [n, dim]:
  `mert`          the project's MERT encoder (from a preset or model directory), one layer's frames (75 per second)
  `hf:ID_OR_DIR`  any transformers audio model with a feature extractor (its last hidden state's frames)
The classifier is any transformers audio-classification model; the default is the AudioSet AST
(`MIT/ast-finetuned-audioset-10-10-0.4593`). Clips are cut into the classifier's input length (audiocraft
cuts for PaSST the same way, without padding segments together) and each segment gets softmax probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musiscene_core.errors import UserError

DEFAULT_CLASSIFIER = "MIT/ast-finetuned-audioset-10-10-0.4593"
CHUNK_S = 10.0  # embedders see at most this much audio at once (bounded memory; frames are concatenated)
MIN_SEGMENT_S = 1.0  # a clip's short last classifier segment is dropped (a clip shorter than this is kept whole)


def _load_hf(source: str, loader: str):
    import transformers

    try:
        extractor = transformers.AutoFeatureExtractor.from_pretrained(source)
        model = getattr(transformers, loader).from_pretrained(source).eval()
    except (OSError, ValueError) as exc:
        raise UserError(
            f"the audio model {source!r} could not be loaded ({str(exc).splitlines()[0]}); pass a local directory"
        ) from None
    return extractor, model


class MertEmbedder:
    def __init__(self, model: str = "tiny", layer: int = -1, device: str | None = None):
        from musiscene_core.models.presets import resolve_model

        spec = resolve_model(model)
        self.encoder = spec.load_mert(device=device)
        if not -(self.encoder.num_layers + 1) <= layer <= self.encoder.num_layers:
            raise UserError(f"MERT has layers 0..{self.encoder.num_layers}; --mert-layer {layer} is out of range")
        self.layer = layer
        self.sample_rate = self.encoder.sample_rate
        self.name = f"mert:{spec.mert} (layer {layer if layer >= 0 else self.encoder.num_layers + 1 + layer})"

    def frames(self, wave: np.ndarray) -> np.ndarray:
        chunk = int(CHUNK_S * self.sample_rate)
        pieces = [wave[i : i + chunk] for i in range(0, len(wave), chunk)]
        pieces = [p for p in pieces if len(p) >= self.encoder.min_samples] or [wave]
        states = self.encoder.hidden_states(pieces)
        return np.concatenate([s[self.layer] for s in states], axis=0).astype(np.float64)


class HfEmbedder:
    def __init__(self, source: str, device: str | None = None):
        self.extractor, self.model = _load_hf(source, "AutoModel")
        self.device = device or "cpu"
        self.model.to(self.device)
        self.sample_rate = int(self.extractor.sampling_rate)
        self.name = f"hf:{source}"

    def frames(self, wave: np.ndarray) -> np.ndarray:
        import torch

        chunk = int(CHUNK_S * self.sample_rate)
        out = []
        for start in range(0, max(1, len(wave)), chunk):
            inputs = self.extractor(wave[start : start + chunk], sampling_rate=self.sample_rate, return_tensors="pt")
            with torch.inference_mode():
                hidden = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).last_hidden_state[0]
            out.append(hidden.float().cpu().numpy())
        return np.concatenate(out, axis=0).astype(np.float64)


def load_embedder(kind: str, model: str, mert_layer: int, device: str | None):
    if kind == "mert":
        return MertEmbedder(model, mert_layer, device)
    if kind.startswith("hf:") and kind[3:]:
        return HfEmbedder(kind[3:], device)
    raise UserError(f"unknown embedding {kind!r}; use mert or hf:<hub id or local directory>")


class AudioSetClassifier:
    def __init__(self, source: str = DEFAULT_CLASSIFIER, device: str | None = None):
        self.extractor, self.model = _load_hf(source, "AutoModelForAudioClassification")
        self.device = device or "cpu"
        self.model.to(self.device)
        self.sample_rate = int(self.extractor.sampling_rate)
        frames = getattr(self.extractor, "max_length", None)
        # AST-style extractors fix their input to max_length 10 ms frames; others take 10-second segments.
        self.segment_s = frames * 0.01 if isinstance(frames, int) and frames > 0 else 10.0
        self.labels = int(self.model.config.num_labels)
        self.name = source

    def distributions(self, wave: np.ndarray) -> np.ndarray:
        """Softmax label probabilities per segment: [segments, labels]."""
        import torch

        size = int(self.segment_s * self.sample_rate)
        segments = [wave[i : i + size] for i in range(0, len(wave), size)]
        segments = [s for s in segments if len(s) >= MIN_SEGMENT_S * self.sample_rate] or segments[:1]
        probs = []
        for segment in segments:
            inputs = self.extractor(segment, sampling_rate=self.sample_rate, return_tensors="pt")
            with torch.inference_mode():
                logits = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).logits[0]
            probs.append(torch.softmax(logits.double(), dim=-1).cpu().numpy())
        return np.stack(probs)


def audio_files(folder: str) -> list[str]:
    """Audio (and video) files under a folder, sorted."""
    from musiscene_core.catalog.listing import list_tracks

    if not Path(folder).is_dir():
        raise UserError(f"{folder!r} is not a folder")
    return [track.uri for track in list_tracks(folder).tracks]
