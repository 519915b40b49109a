from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from musiscene_core.catalog import list_tracks
from musiscene_core.data.synthetic import (
    SCENE_NAMES,
    SPLITS,
    generate_piece,
    make_catalog,
    plan_catalog,
    read_catalog_manifest,
    scene_caption,
)


def test_catalog_files_match_the_generator_and_the_manifest(tmp_path):
    pieces = make_catalog(tmp_path / "cat", n=12, seed=3, duration_s=1.0, sample_rate=16000)
    assert len(pieces) == 12
    assert Counter(p.scene for p in pieces) == {name: 2 for name in SCENE_NAMES}
    assert {p.format for p in pieces} == {"wav", "flac"}
    for piece in pieces:
        assert piece.path == tmp_path / "cat" / piece.uri and piece.path.suffix == "." + piece.format
        audio, rate = sf.read(piece.path, dtype="float32")
        assert rate == 16000 and audio.shape == (16000,)
        expected = generate_piece(piece.scene, piece.seed, duration_s=1.0, sample_rate=16000)
        assert np.abs(audio - expected).max() < 1e-4  # 16-bit quantisation only
        assert piece.caption == scene_caption(piece.scene, piece.seed)
    manifest = read_catalog_manifest(tmp_path / "cat" / "manifest.csv").to_pylist()
    assert [row["uri"] for row in manifest] == [p.uri for p in pieces]
    assert [(r["scene"], r["caption"], r["split"], r["seed"], r["format"]) for r in manifest] == [
        (p.scene, p.caption, p.split, p.seed, p.format) for p in pieces
    ]
    assert len({p.seed for p in pieces}) == 12


def test_manifest_is_a_catalog_source(tmp_path):
    pieces = make_catalog(tmp_path, n=6, seed=0, duration_s=0.5, manifest_name="manifest.parquet")
    listing = list_tracks(str(tmp_path / "manifest.parquet"))
    assert sorted(t.path for t in listing.tracks) == sorted(str(p.path) for p in pieces)
    assert all(t.size > 0 for t in listing.tracks)


def test_plan_is_deterministic_balanced_and_stratified():
    plan = plan_catalog(120, seed=5)
    assert plan == plan_catalog(120, seed=5)
    assert plan != plan_catalog(120, seed=6)
    per_scene_split = Counter((p.scene, p.split) for p in plan)
    for name in SCENE_NAMES:
        assert [per_scene_split[(name, split)] for split in SPLITS] == [14, 3, 3]
    # Formats rotate over a shuffled order: every scene appears in every format.
    assert len(Counter((p.scene, p.format) for p in plan)) == 2 * len(SCENE_NAMES)
    # Scenes are interleaved, not written in blocks.
    assert len({p.scene for p in plan[:12]}) >= 4


def test_small_catalogs_still_hold_out_pieces():
    plan = plan_catalog(12, seed=0)
    assert {p.split for p in plan} == {"train", "validation"}  # two per scene: one train, one held out
    plan = plan_catalog(36, seed=0, split_fractions=(0.5, 0.0, 0.5))
    assert Counter(p.split for p in plan) == {"train": 18, "test": 18}


def test_plan_can_restrict_scenes():
    plan = plan_catalog(10, scenes=["calm_sea", "neon_chase"])
    assert Counter(p.scene for p in plan) == {"calm_sea": 5, "neon_chase": 5}


def test_writer_hook_receives_every_piece(tmp_path):
    calls = []

    def writer(path, samples, sample_rate, format):
        calls.append((path, samples.dtype, samples.shape, sample_rate, format))
        path.write_bytes(b"encoded")

    pieces = make_catalog(tmp_path, n=4, seed=1, formats=("mp3", "ogg"), duration_s=0.5, writer=writer)
    assert [c[0] for c in calls] == [p.path for p in pieces]
    assert {c[4] for c in calls} == {"mp3", "ogg"}
    assert all(c[1] == np.float32 and c[2] == (12000,) and c[3] == 24000 for c in calls)


def test_formats_soundfile_cannot_write_need_a_writer(tmp_path):
    with pytest.raises(ValueError, match="mp3 need a writer"):
        make_catalog(tmp_path / "cat", n=2, formats=("wav", "mp3"))
    assert not (tmp_path / "cat").exists()  # refused before anything was written


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n must be at least 1"),
        ({"n": 4, "scenes": ["disco"]}, "unknown scene"),
        ({"n": 4, "scenes": []}, "at least one scene"),
        ({"n": 4, "formats": ()}, "at least one audio format"),
        ({"n": 4, "split_fractions": (0.5, 0.5, 0.5)}, "summing to 1"),
        ({"n": 4, "split_fractions": (1.0, 0.0)}, "three non-negative"),
    ],
)
def test_bad_plans_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_catalog(**kwargs)


def test_manifest_name_must_be_csv_or_parquet(tmp_path):
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        make_catalog(tmp_path, n=1, manifest_name="manifest.json")
