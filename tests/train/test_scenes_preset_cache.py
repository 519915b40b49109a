"""The cached tiny-scenes preset: kept while its recipe is current, replaced when the recipe changed."""

import json

from musiscene_core.train import scenes_preset


def _fake_build(calls):
    def build(directory, say=None):
        calls.append(directory)
        directory.mkdir(parents=True)
        (directory / "preset.json").write_text(
            json.dumps({"name": "tiny-scenes", "recipe_version": scenes_preset.RECIPE_VERSION})
        )
        return directory

    return build


def test_a_current_build_is_kept(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(scenes_preset, "make_tiny_scenes", _fake_build(calls))
    root = tmp_path / "tiny-scenes"
    scenes_preset.ensure_tiny_scenes(root)
    (root / "marker").write_text("kept")
    scenes_preset.ensure_tiny_scenes(root)
    assert calls == [root] and (root / "marker").read_text() == "kept"


def test_a_build_of_an_older_recipe_is_replaced(tmp_path, monkeypatch):
    calls, said = [], []
    monkeypatch.setattr(scenes_preset, "make_tiny_scenes", _fake_build(calls))
    root = tmp_path / "tiny-scenes"
    root.mkdir()
    (root / "preset.json").write_text(json.dumps({"name": "tiny-scenes"}))  # before recipe versions: recipe 1
    (root / "old-weights").write_text("stale")
    assert scenes_preset.built_recipe(root) == 1
    scenes_preset.ensure_tiny_scenes(root, say=said.append)
    assert calls == [root] and not (root / "old-weights").exists()
    assert scenes_preset.built_recipe(root) == scenes_preset.RECIPE_VERSION
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-scenes"]  # the old build is gone, not left aside
    assert "rebuilding" in said[0]
