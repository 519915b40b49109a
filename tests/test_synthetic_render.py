import numpy as np
import pytest

from musiscene_core.data.synthetic import SCENE_NAMES, generate_piece

SR = 24000


def _frames_power(y: np.ndarray, size: int = 1024) -> np.ndarray:
    frames = y[: len(y) // size * size].reshape(-1, size) * np.hanning(size)
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2


def _band_log_energy(y: np.ndarray, bands: int = 12) -> np.ndarray:
    """Per-frame log energy in log-spaced bands from 40 Hz to 11 kHz: [frames, bands]."""
    power = _frames_power(y)
    freqs = np.fft.rfftfreq(1024, 1 / SR)
    edges = np.geomspace(40, 11000, bands + 1)
    band = np.stack([power[:, (freqs >= lo) & (freqs < hi)].sum(1) for lo, hi in zip(edges[:-1], edges[1:])], 1)
    return np.log(band + 1e-10)


def _loudness_free_stats(y: np.ndarray) -> np.ndarray:
    """Spectral shape and its motion over time, after scaling to unit RMS (MERT-style input normalisation)."""
    y = y / (np.sqrt(np.mean(y**2)) + 1e-9)
    bands = _band_log_energy(y)
    flux = np.maximum(np.diff(bands, axis=0), 0).sum(1)
    return np.concatenate([bands.mean(0), bands.std(0), [flux.mean(), flux.std()]])


def _centroid_hz(y: np.ndarray) -> float:
    power = _frames_power(y).mean(0)
    freqs = np.fft.rfftfreq(1024, 1 / SR)
    return float((power * freqs).sum() / power.sum())


def _attacks_per_s(y: np.ndarray, size: int = 2048, hop: int = 512) -> float:
    """Frames where the 12-band spectrum jumps by more than 3 dB on average (a clear attack), per second.

    Levels are floored 50 dB below the loudest band so noise-floor flicker does not count as attacks.
    """
    starts = hop * np.arange((len(y) - size) // hop)
    power = np.abs(np.fft.rfft(y[starts[:, None] + np.arange(size)] * np.hanning(size), axis=1)) ** 2
    freqs = np.fft.rfftfreq(size, 1 / SR)
    edges = np.geomspace(40, 11000, 13)
    bands = np.stack([power[:, (freqs >= lo) & (freqs < hi)].sum(1) for lo, hi in zip(edges[:-1], edges[1:])], 1)
    level = 10 * np.log10(bands + 1e-12)
    level = np.maximum(level, level.max() - 50)
    flux = np.maximum(np.diff(level, axis=0), 0).mean(1)
    peaks = (flux[1:-1] > 3.0) & (flux[1:-1] >= flux[:-2]) & (flux[1:-1] >= flux[2:])
    return peaks.sum() / (len(y) / SR)


def test_pieces_are_deterministic_mono_float32_in_range():
    for name in SCENE_NAMES:
        y = generate_piece(name, 7, duration_s=2.0)
        assert y.dtype == np.float32 and y.shape == (2 * SR,)
        assert np.isfinite(y).all() and np.abs(y).max() <= 1.0
        assert np.array_equal(y, generate_piece(name, 7, duration_s=2.0))
    assert generate_piece("calm_sea", 1, duration_s=1.5, sample_rate=16000).shape == (24000,)


def test_different_seeds_give_different_pieces():
    for name in SCENE_NAMES:
        a, b = generate_piece(name, 1, duration_s=3.0), generate_piece(name, 2, duration_s=3.0)
        correlation = abs(np.corrcoef(a, b)[0, 1])
        assert correlation < 0.5, (name, correlation)
        spectral_gap = np.abs(_band_log_energy(a).mean(0) - _band_log_energy(b).mean(0)).max()
        assert spectral_gap > 0.1, name


def test_loudness_follows_the_scene():
    rms_db = {}
    for name in SCENE_NAMES:
        levels = [20 * np.log10(np.sqrt(np.mean(generate_piece(name, s, duration_s=3.0) ** 2))) for s in range(3)]
        rms_db[name] = np.mean(levels)
    assert min(rms_db["epic_battle"], rms_db["neon_chase"]) > max(rms_db["calm_sea"], rms_db["horror_corridor"]) + 8


def test_register_and_attacks_follow_the_scene():
    centroid = {n: np.median([_centroid_hz(generate_piece(n, s, duration_s=4.0)) for s in range(4)]) for n in SCENE_NAMES}
    attacks = {n: np.median([_attacks_per_s(generate_piece(n, s, duration_s=4.0)) for s in range(4)]) for n in SCENE_NAMES}
    # Bright, high scenes sit well above the low, dark ones.
    assert min(centroid["neon_chase"], centroid["snowy_morning"]) > 2 * max(centroid["horror_corridor"], centroid["calm_sea"])
    # Plucked, struck and sequenced notes are heard as attacks; the sea's pads and the corridor's drones swell without any.
    assert min(attacks["neon_chase"], attacks["sunny_picnic"], attacks["snowy_morning"]) > 1.0
    assert max(attacks["calm_sea"], attacks["horror_corridor"]) < 0.5


def test_nearest_centroid_on_spectral_stats_separates_held_out_seeds():
    """Evidence that a learned adapter can tell the scenes apart: a trivial classifier already does."""
    train_seeds, test_seeds = range(0, 8), range(100, 106)
    train = {n: np.stack([_loudness_free_stats(generate_piece(n, s, duration_s=4.0)) for s in train_seeds]) for n in SCENE_NAMES}
    all_train = np.concatenate(list(train.values()))
    mean, std = all_train.mean(0), all_train.std(0) + 1e-6
    centroids = np.stack([((train[n] - mean) / std).mean(0) for n in SCENE_NAMES])
    correct = 0
    for label, name in enumerate(SCENE_NAMES):
        for seed in test_seeds:
            z = (_loudness_free_stats(generate_piece(name, seed, duration_s=4.0)) - mean) / std
            correct += int(np.argmin(((centroids - z) ** 2).sum(1)) == label)
    accuracy = correct / (len(SCENE_NAMES) * len(test_seeds))
    assert accuracy >= 0.9, accuracy


def test_tiny_random_mert_layer_means_separate_the_scenes(tmp_path):
    """The demo's MERT has random weights: its time-averaged layer outputs must still tell scenes apart.

    Leave-one-out nearest centroid over 8 pieces per scene (chance is 1/6).
    """
    from musiscene_core.models.mert.encoder import MertEncoder, make_tiny_mert

    encoder = MertEncoder.from_pretrained(make_tiny_mert(tmp_path / "mert", seed=0), device="cpu")
    per_scene = 8
    waves = [generate_piece(n, s, duration_s=5.0) for n in SCENE_NAMES for s in range(per_scene)]
    feats = encoder.layer_means(waves).reshape(len(waves), -1)
    z = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    labels = np.repeat(np.arange(len(SCENE_NAMES)), per_scene)
    correct = 0
    for i in range(len(z)):
        others = np.arange(len(z)) != i
        centroids = np.stack([z[others & (labels == c)].mean(0) for c in range(len(SCENE_NAMES))])
        correct += int(np.argmin(((centroids - z[i]) ** 2).sum(1)) == labels[i])
    accuracy = correct / len(z)
    assert accuracy >= 0.8, accuracy


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"scene": "disco", "seed": 0}, "unknown scene"),
        ({"scene": "calm_sea", "seed": 0, "duration_s": 0.0}, "at least one sample"),
        ({"scene": "calm_sea", "seed": 0, "sample_rate": 4000}, "at least 8000"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_piece(**kwargs)
