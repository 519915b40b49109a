"""Music of any length from MusicGen: one window, then windowed continuation as audiocraft's `extend_stride` does.

MusicGen was trained on 30-second windows. Longer pieces are generated window by window: each new window is
prompted with the last `window - stride` seconds of the music so far and adds `stride` new seconds (audiocraft
defaults: 30 s windows, 18 s stride). The continuation goes through transformers' audio-prompted generation
(the prompt is re-encoded by EnCodec); the seam is a short equal-power crossfade because EnCodec's non-causal
decoder renders the prompt's last frames slightly differently once new frames follow them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from musiscene_core.errors import UserError


class MusicGenerator:
    def __init__(
        self,
        loaded,
        window_s: float = 30.0,
        stride_s: float = 18.0,
        crossfade_s: float = 0.05,
        guidance_scale: float | None = None,
        seed: int = 0,
    ):
        if not 0 < stride_s <= window_s:
            raise UserError(f"the stride ({stride_s} s) must be above 0 and at most the window ({window_s} s)")
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        codec = self.model.config.audio_encoder
        self.sample_rate = int(codec.sampling_rate)
        self.hop = int(np.prod(codec.upsampling_ratios))
        self.frame_rate = self.sample_rate / self.hop
        self.codebooks = int(self.model.decoder.num_codebooks)
        self.window = max(1, round(window_s * self.frame_rate))
        self.stride = max(1, round(stride_s * self.frame_rate))
        self.crossfade = int(crossfade_s * self.sample_rate)
        self.guidance_scale = guidance_scale
        self.seed = seed

    def generate(self, prompt: str, seconds: float, on_window: Callable[[int, int], None] | None = None) -> np.ndarray:
        """[channels, round(seconds * sample_rate)] float32 music for the text prompt."""
        import torch

        if seconds <= 0:
            raise UserError("the music must last more than 0 seconds")
        torch.manual_seed(self.seed)
        samples = round(seconds * self.sample_rate)
        total = math.ceil(samples / self.hop)
        windows = 1 + max(0, math.ceil((total - self.window) / self.stride))
        music = self._window(prompt, None, min(total, self.window))
        done = 1
        if on_window:
            on_window(done, windows)
        while music.shape[-1] // self.hop < total:
            have = music.shape[-1] // self.hop
            context = self.window - self.stride
            new = min(self.stride, total - have)
            prompt_audio = music[..., (have - context) * self.hop : have * self.hop]
            continued = self._window(prompt, prompt_audio, new)
            music = self._splice(music, continued, context * self.hop)
            done += 1
            if on_window:
                on_window(done, windows)
        return music[..., :samples].astype(np.float32)

    def _window(self, prompt: str, prompt_audio: np.ndarray | None, new_frames: int) -> np.ndarray:
        import torch

        inputs = self.tokenizer([prompt], return_tensors="pt", padding=True, truncation=True)
        kwargs = dict(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            # the delay pattern shifts codebook k by k steps, so K - 1 extra steps complete the last frame
            max_new_tokens=new_frames + self.codebooks - 1,
            do_sample=True,
        )
        if self.guidance_scale is not None:
            kwargs["guidance_scale"] = self.guidance_scale
        prompt_frames = 0
        if prompt_audio is not None:
            prompt_frames = prompt_audio.shape[-1] // self.hop
            kwargs["input_values"] = torch.from_numpy(np.ascontiguousarray(prompt_audio))[None].float()
            kwargs["padding_mask"] = torch.ones(1, prompt_audio.shape[-1], dtype=torch.long)
        device = next(self.model.parameters()).device
        kwargs = {k: v.to(device) if hasattr(v, "to") else v for k, v in kwargs.items()}
        with torch.inference_mode():
            audio = self.model.generate(**kwargs)[0].float().cpu().numpy()
        expected = (prompt_frames + new_frames) * self.hop
        if audio.shape[-1] < expected:
            raise RuntimeError(f"MusicGen returned {audio.shape[-1]} samples where {expected} were expected")
        return audio[..., :expected]

    def _splice(self, music: np.ndarray, continued: np.ndarray, prompt_samples: int) -> np.ndarray:
        """Append the new part of `continued` (which re-renders the last `prompt_samples` of `music`) with a crossfade."""
        fade = min(self.crossfade, prompt_samples)
        head = music[..., : music.shape[-1] - fade]
        if fade == 0:
            return np.concatenate([head, continued[..., prompt_samples:]], axis=-1)
        t = np.linspace(0.0, np.pi / 2, fade, endpoint=False)
        blended = music[..., -fade:] * np.cos(t) + continued[..., prompt_samples - fade : prompt_samples] * np.sin(t)
        return np.concatenate([head, blended, continued[..., prompt_samples:]], axis=-1)
