"""Caption a clip from its sampled frames with a Hugging Face captioning model.

Video models (GIT trained on VATEX/MSR-VTT, `num_image_with_embedding` set) see all frames of a clip
at once, each frame's patch embeddings tagged with a learned temporal embedding. Image models (BLIP,
GIT-COCO) caption every frame; the clip's caption is their distinct captions in temporal order.
No remote code is ever executed: only architectures built into transformers load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from musiscene_core.errors import UserError

DEFAULT_VIDEO_CAPTIONER = "microsoft/git-base-vatex"
TINY = "tiny"
_MARKER = "musiscene_video_captioner.json"


def resolve_video_captioner(name: str) -> str:
    """`tiny` (built offline on first use), a local model directory, or a hub id -> what `from_pretrained` takes."""
    if name == TINY:
        from musiscene_core.models.presets import models_home
        from musiscene_core.models.video_captioner.tiny import make_tiny_video_captioner

        root = models_home() / "video-tiny"
        if not (root / _MARKER).is_file():
            make_tiny_video_captioner(root)
        return str(root)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"video captioner directory {name!r} has no config.json (a Hugging Face model folder is expected)")
        return str(path.resolve())
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return name
    raise UserError(f"video captioner {name!r} is neither 'tiny', an existing model directory nor a hub id (org/name)")


def video_captioner_version(source: str) -> str:
    """What every output row records: a local model's name and a hash of its files, or a hub id and its commit."""
    path = Path(source)
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(path)}:{file.stat().st_size}".encode())
            with file.open("rb") as handle:
                digest.update(handle.read(1 << 20))
        marker = path / _MARKER
        name = json.loads(marker.read_text()).get("name", path.name) if marker.is_file() else path.name
        return f"{name}-{digest.hexdigest()[:12]}"
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as exc:
        raise UserError(
            f"cannot load video captioner {source!r} ({str(exc).splitlines()[0]}); "
            "without network access pass a local model directory"
        ) from exc
    return f"{source}@{getattr(config, '_commit_hash', None) or 'unknown'}"


def check_frame_count(source: str, frames: int) -> None:
    """Refuse, before any work starts, more frames per clip than a video model has temporal embeddings for."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as exc:
        raise UserError(
            f"cannot load video captioner {source!r} ({str(exc).splitlines()[0]}); "
            "without network access pass a local model directory"
        ) from exc
    limit = getattr(config, "num_image_with_embedding", None) if config.model_type == "git" else None
    if limit is not None and frames > limit:
        raise UserError(f"the video captioner {source!r} takes at most {limit} frames per clip; pass --frames {limit} or fewer")


def is_random(source: str) -> bool:
    marker = Path(source) / _MARKER
    return marker.is_file() and bool(json.loads(marker.read_text()).get("random_weights"))


class VideoCaptioner:
    """A captioning model plus its processor; `caption(clips)` -> one text per clip."""

    def __init__(self, model, processor, frames_per_clip: int | None, device: str = "cpu", max_new_tokens: int = 40):
        self.model = model
        self.processor = processor
        self.frames_per_clip = frames_per_clip  # None: an image model, frames are captioned one by one
        self.device = device
        self.max_new_tokens = max_new_tokens

    @classmethod
    def from_pretrained(cls, source: str, device: str | None = None, max_new_tokens: int = 40) -> VideoCaptioner:
        import torch
        from transformers import (
            AutoConfig,
            AutoModelForImageTextToText,
            AutoProcessor,
            GitForCausalLM,
        )

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            config = AutoConfig.from_pretrained(source)
            model_class = GitForCausalLM if config.model_type == "git" else AutoModelForImageTextToText
            model = model_class.from_pretrained(source)
            processor = AutoProcessor.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise UserError(
                f"cannot load video captioner {source!r} ({str(exc).splitlines()[0]}); "
                "without network access pass a local model directory"
            ) from exc
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None or len(tokenizer) < 10:
            # Offline, transformers can hand back a placeholder tokenizer instead of raising.
            raise UserError(f"the tokenizer of video captioner {source!r} did not load (empty vocabulary)")
        frames = getattr(config, "num_image_with_embedding", None) if config.model_type == "git" else None
        return cls(model.to(device).eval(), processor, frames, device, max_new_tokens)

    def check_frames(self, frames: int) -> None:
        if self.frames_per_clip is not None and frames > self.frames_per_clip:
            raise UserError(f"the video captioner takes at most {self.frames_per_clip} frames per clip, not {frames}")

    def caption(self, clips: list[np.ndarray]) -> list[str]:
        """`clips`: per clip an array [frames, height, width, 3] of uint8 RGB."""
        import torch

        with torch.inference_mode():
            if self.frames_per_clip is not None:
                return self._caption_videos(clips)
            return self._caption_frames(clips)

    def _generate(self, pixel_values, **inputs) -> list[str]:
        ids = self.model.generate(
            pixel_values=pixel_values.to(self.device, self.model.dtype),
            **inputs,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            num_beams=1,
        )
        return [text.strip() for text in self.processor.batch_decode(ids, skip_special_tokens=True)]

    def _caption_videos(self, clips: list[np.ndarray]) -> list[str]:
        import torch

        counts = {len(clip) for clip in clips}
        texts: dict[int, str] = {}
        # Clips with the same frame count share one batched call.
        for count in sorted(counts):
            members = [i for i, clip in enumerate(clips) if len(clip) == count]
            self.check_frames(count)
            pixels = torch.stack([self.processor(images=list(clips[i]), return_tensors="pt")["pixel_values"] for i in members])
            texts.update(zip(members, self._generate(pixels)))
        return [texts[i] for i in range(len(clips))]

    def _caption_frames(self, clips: list[np.ndarray]) -> list[str]:
        frames = [frame for clip in clips for frame in clip]
        inputs = self.processor(images=frames, return_tensors="pt")
        pixel_values = inputs.pop("pixel_values")
        captions = iter(self._generate(pixel_values, **{k: v.to(self.device) for k, v in inputs.items()}))
        texts = []
        for clip in clips:
            distinct: list[str] = []
            for _ in range(len(clip)):
                text = next(captions)
                if text and text not in distinct:
                    distinct.append(text)
            texts.append("; then ".join(distinct))
        return texts
