"""Example sets for training tests, built without audio or MERT."""

import numpy as np

from musiscene_core.data.synthetic_scenes import SCENE_NAMES, scene_caption
from musiscene_core.models import MUSISCENE_QUESTION
from musiscene_core.train.dataset import ExampleSet


def synthetic_examples(n: int, layers: int, hidden: int, offset: int = 0) -> ExampleSet:
    """Examples whose features carry their scene class, with the scene's caption as answer."""
    rng = np.random.default_rng(offset)
    scenes = [SCENE_NAMES[i % len(SCENE_NAMES)] for i in range(n)]
    features = rng.normal(size=(n, layers, hidden)).astype(np.float16)
    return ExampleSet(
        [f"track-{offset + i}" for i in range(n)],
        [MUSISCENE_QUESTION] * n,
        [scene_caption(s, offset + i) for i, s in enumerate(scenes)],
        features,
    )
