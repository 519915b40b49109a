"""The model version changes whenever a weight source changes; a missing real preset says what to do."""

import dataclasses
import json

import pytest

from musiscene_core.errors import UserError
from musiscene_core.models.presets import ModelSpec, resolve_model


def _spec(tmp_path, **changes):
    (tmp_path / "captioner").mkdir(exist_ok=True)
    (tmp_path / "captioner" / "model.safetensors").write_bytes(b"\0" * 4096)
    base = ModelSpec(name="m", mert="m-a-p/MERT-v1-330M", captioner=str(tmp_path / "captioner"), question="q")
    return dataclasses.replace(base, **changes)


def test_identity_follows_the_mert_hub_id_and_revision(tmp_path):
    base = _spec(tmp_path)
    assert base.identity() == _spec(tmp_path).identity()
    assert _spec(tmp_path, mert="m-a-p/MERT-v1-95M").identity() != base.identity()
    assert _spec(tmp_path, mert_revision="v2").identity() != base.identity()
    assert _spec(tmp_path, mert_revision="main").identity() == base.identity()  # main is the default revision


def test_identity_follows_local_weight_bytes_at_either_end(tmp_path):
    spec = _spec(tmp_path)
    before = spec.identity()
    weights = tmp_path / "captioner" / "model.safetensors"
    weights.write_bytes(b"\0" * 4095 + b"\1")  # same size and name, last byte differs
    assert spec.identity() != before
    version = spec.version(policy="whole")
    assert version != spec.version(policy="mu-llama") and version.startswith("m-")


def test_a_preset_json_names_a_revision(tmp_path):
    (tmp_path / "preset.json").write_text(
        json.dumps({"mert": "m-a-p/MERT-v1-330M", "mert_revision": "abc", "captioner": "captioner"})
    )
    assert resolve_model(str(tmp_path)).mert_revision == "abc"


def test_the_default_preset_without_weights_names_tiny_and_where_weights_go(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSISCENE_MODELS", str(tmp_path))
    with pytest.raises(UserError) as caught:
        resolve_model("musiscene")
    message = str(caught.value)
    assert "--model tiny" in message and str(tmp_path / "musiscene") in message and "checkpoint.pth" in message
    assert message.count(". ") == 0  # one sentence


def test_tag_defaults_to_the_musiscene_preset_and_says_how_to_try_without_it(tmp_path, monkeypatch, capsys):
    from musiscene_core.cli import main

    monkeypatch.setenv("MUSISCENE_MODELS", str(tmp_path / "models"))
    (tmp_path / "catalog").mkdir()
    with pytest.raises(SystemExit) as exited:
        main(["tag", str(tmp_path / "catalog"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.strip().startswith("error: the 'musiscene' preset needs its weights in")
    assert "--model tiny" in err and "Traceback" not in err
