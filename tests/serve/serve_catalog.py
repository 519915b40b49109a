"""A small tagged catalog with real audio files (tones), the shard a tagging run would write for it, and a registry serving it."""

import hashlib
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parents[1] / "index"))  # the index tests' table builders

from index_tables import Shard, random_shard

TOKEN = "serve-test-token-0123456789abcdef"
SCENES = [
    "a car chase through neon-lit city streets at night",
    "a couple walking slowly along a rainy beach at sunset",
    "a medieval army marching into battle across a muddy field",
    "children laughing at a sunny birthday party in a garden",
    "an astronaut floating alone in the silence of deep space",
    "a tense detective interrogation in a dim smoky room",
    "a cowboy riding across a dusty desert at dawn",
    "a crowded nightclub with dancers under strobe lights",
]
SECONDS = [4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0]  # declared durations, for the filters


def write_tone(path: Path, frequency: float, seconds: float = 3.0, rate: int = 16000) -> str:
    """A short sine tone as 16-bit WAV; returns its SHA-256 (the track id a tagging run would give it)."""
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * frequency * t), rate, subtype="PCM_16")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_catalog(folder: Path, embedder, rng: np.random.Generator) -> Shard:
    """One WAV file per scene under folder/audio, and the shard of a tagging run over them."""
    audio = folder / "audio"
    audio.mkdir(parents=True)
    ids, uris = [], []
    for i, _ in enumerate(SCENES):
        path = audio / f"scene{i}.wav"
        ids.append(write_tone(path, 220.0 * (i + 1)))
        uris.append(str(path))
    return Shard(
        track_ids=ids,
        uris=uris,
        durations=list(SECONDS),
        captions=list(SCENES),
        caption_vectors=embedder.embed(SCENES),
        audio_vectors=random_shard(rng, [f"a{i}" for i in range(len(SCENES))]).audio_vectors,
        embed_model=embedder.name,
    )


def make_registry(minilm, *runs):
    from musiscene_core.serve import CatalogRegistry

    registry = CatalogRegistry(embedder_factory=lambda name: minilm)
    for name, dst in runs:
        registry.add(name, str(dst))
    return registry
