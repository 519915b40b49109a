"""The tiny MusicGen and long-form generation by windowed continuation."""

import numpy as np
import pytest

from musiscene_core.errors import UserError
from musiscene_core.models.musicgen import MusicGenerator, load_musicgen


@pytest.fixture(scope="module")
def tiny():
    return load_musicgen("tiny")


def test_tiny_is_marked_random_and_has_a_real_tokenizer(tiny):
    assert tiny.random_weights and tiny.name == "musicgen-tiny"
    ids = tiny.tokenizer(["a calm night by the sea"])["input_ids"][0]
    assert ids[-1] == tiny.tokenizer.eos_token_id and len(ids) == 7 and tiny.tokenizer.unk_token_id not in ids


def test_one_window_has_the_exact_length(tiny):
    gen = MusicGenerator(tiny, window_s=30, stride_s=18)
    music = gen.generate("rain in the city", 3.33)
    assert music.shape == (1, round(3.33 * gen.sample_rate)) and music.dtype == np.float32
    assert np.isfinite(music).all() and music.std() > 0


def test_continuation_beyond_the_window_keeps_what_came_before(tiny):
    # 2 s windows with 1.2 s stride: 5 s need 1 + ceil(3 / 1.2) = 4 windows.
    seen = []
    long = MusicGenerator(tiny, window_s=2.0, stride_s=1.2, seed=3).generate(
        "a chase", 5.0, on_window=lambda d, n: seen.append((d, n))
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    gen = MusicGenerator(tiny, window_s=2.0, stride_s=1.2, seed=3)
    first = gen.generate("a chase", 2.0)
    assert long.shape == (1, 5 * gen.sample_rate)
    # The first window is kept as generated, up to the crossfade into the second.
    keep = first.shape[-1] - gen.crossfade
    np.testing.assert_array_equal(long[:, :keep], first[:, :keep])
    # Same seed, same music.
    np.testing.assert_array_equal(MusicGenerator(tiny, window_s=2.0, stride_s=1.2, seed=3).generate("a chase", 5.0), long)


def test_bad_settings_and_sources_are_one_sentence(tiny, tmp_path):
    with pytest.raises(UserError, match="stride"):
        MusicGenerator(tiny, window_s=10, stride_s=12)
    with pytest.raises(UserError, match="no config.json"):
        load_musicgen(str(tmp_path))
    with pytest.raises(UserError, match="neither"):
        load_musicgen("no-such-model")
    with pytest.raises(UserError, match="could not be loaded"):
        load_musicgen("facebook/not-a-cached-musicgen")
