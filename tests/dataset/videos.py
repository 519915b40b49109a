"""Small test videos written with PyAV: synthetic moving pictures and synthetic scene music."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# (muxer, video codec, audio codec) per container.
_RECIPES = {"mp4": ("mp4", "libx264", "aac"), "webm": ("webm", "libvpx", "libopus")}
FPS = 8
SIZE = (48, 64)  # height, width


def _picture(index: int, seed: int) -> np.ndarray:
    """A coloured square moving across a gradient: each seed gives a different scene."""
    rng = np.random.default_rng(seed)
    height, width = SIZE
    base = rng.integers(0, 255, size=3)
    picture = np.empty((height, width, 3), dtype=np.uint8)
    picture[:] = (base + np.linspace(0, 60, width)[None, :, None]).clip(0, 255).astype(np.uint8)
    x = (index * 3 + seed * 7) % (width - 12)
    picture[18:30, x : x + 12] = 255 - base
    return picture


def write_video(path: Path, seconds: float = 2.0, seed: int = 0, audio: bool = True, scene: str = "calm_sea") -> Path:
    """An MP4 (H.264 + AAC) or WebM (VP8 + Opus) file with `seconds` of pictures and, unless `audio` is
    False, synthetic music of the named scene (musiscene_core.data.synthetic)."""
    from musiscene_core.data.synthetic import generate_piece

    muxer, video_codec, audio_codec = _RECIPES[path.suffix.lstrip(".")]
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = 48000
    with av.open(str(path), mode="w", format=muxer) as out:
        video = out.add_stream(video_codec, rate=FPS)
        video.height, video.width = SIZE
        video.pix_fmt = "yuv420p"
        if video_codec == "libx264":
            video.options = {"preset": "ultrafast"}
        sound = None
        if audio:
            sound = out.add_stream(audio_codec, rate=rate)
            sound.layout = "mono"
        for i in range(round(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(_picture(i, seed), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            samples = generate_piece(scene, seed=seed, duration_s=seconds, sample_rate=rate).astype(np.float32)
            step = 960
            for start in range(0, samples.size, step):
                chunk = samples[start : start + step]
                frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
                frame.sample_rate, frame.pts = rate, start
                out.mux(sound.encode(frame))
            out.mux(sound.encode())
    return path
