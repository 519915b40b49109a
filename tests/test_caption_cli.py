"""`musiscene caption`: one caption per track, the tagging job's features, errors per file, exit codes, offline from scratch."""

import json
import os

import numpy as np
import pytest
from cli_runner import main_exit as cli
from cli_runner import musiscene

from musiscene_core.audio import decode, write_audio
from musiscene_core.data.synthetic import generate_piece
from musiscene_core.models.presets import resolve_model

RATE = 24000
TOKENS = "6"  # short captions keep the tests fast; the decoding itself is the captioner's (tested there)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog")
    (root / "sub").mkdir()
    write_audio(root / "long.wav", generate_piece("calm_sea", seed=1, duration_s=70.0, sample_rate=RATE), RATE, "wav")
    write_audio(root / "sub" / "short.flac", generate_piece("neon_chase", seed=2, duration_s=4.0, sample_rate=RATE), RATE, "flac")
    write_audio(root / "sub" / "song.mp3", generate_piece("sunny_picnic", seed=3, duration_s=5.0, sample_rate=RATE), RATE, "mp3")
    (root / "sub" / "broken.mp3").write_text("not audio at all\n")
    (root / "notes.txt").write_text("not a track: skipped by extension")
    return root


def expected_caption(tiny_model, samples_windows):
    """Caption of the length-weighted mean of per-window MERT layer means, computed here from the model APIs."""
    spec = resolve_model(str(tiny_model))
    means = spec.load_mert("cpu").layer_means(samples_windows)
    weights = np.array([len(w) for w in samples_windows], dtype=np.float64)
    track = (weights[:, None, None] * means).sum(0) / weights.sum()
    return spec.load_captioner("cpu").generate(track[None].astype(np.float32), spec.question, max_new_tokens=int(TOKENS)).texts[0]


def test_folder_and_files_json_lines_with_errors_per_file(tiny_model, catalog, capsys):
    code, out, err = cli(
        capsys,
        "caption",
        catalog,
        catalog / "missing.wav",
        "--model",
        tiny_model,
        "--json",
        "--max-new-tokens",
        TOKENS,
        "--batch-size",
        2,
        "--device",
        "cpu",
    )
    assert code == 1  # some inputs failed; the others were still captioned
    rows = {os.path.basename(r["uri"]): r for r in map(json.loads, out.splitlines())}
    assert set(rows) == {"long.wav", "short.flac", "song.mp3", "broken.mp3", "missing.wav"}
    for name in ("long.wav", "short.flac", "song.mp3"):
        assert rows[name]["status"] == "ok" and rows[name]["caption"] and rows[name]["error"] is None
        assert rows[name]["model_version"] == rows["long.wav"]["model_version"] and len(rows[name]["track_id"]) > 8
    assert rows["long.wav"]["duration_s"] == pytest.approx(70.0, abs=0.01)
    assert rows["broken.mp3"]["status"] == "error" and rows["broken.mp3"]["caption"] is None
    assert rows["missing.wav"]["error"].startswith("not_found:")
    assert "3 captioned, 2 failed" in err and "random weights" in err


def test_features_are_the_tagging_jobs_length_weighted_window_means(tiny_model, catalog, capsys):
    samples = decode(catalog / "long.wav").samples
    whole = [samples[: 30 * RATE], samples[30 * RATE : 60 * RATE], samples[60 * RATE :]]  # 30 s windows, 10 s tail kept
    code, out, _ = cli(
        capsys, "caption", catalog / "long.wav", "--model", tiny_model, "--max-new-tokens", TOKENS, "--device", "cpu"
    )
    assert code == 0
    assert out.rstrip("\n").split("\t") == [str(catalog / "long.wav"), " ".join(expected_caption(tiny_model, whole).split())]
    code, out, _ = cli(
        capsys,
        "caption",
        catalog / "long.wav",
        "--model",
        tiny_model,
        "--max-new-tokens",
        TOKENS,
        "--device",
        "cpu",
        "--policy",
        "mu-llama",
        "--json",
    )
    assert code == 0 and json.loads(out)["caption"] == expected_caption(tiny_model, [samples[: 60 * RATE]])


def test_bad_options_and_nothing_to_caption_exit_2(tiny_model, catalog, capsys):
    code, _, err = cli(capsys, "caption", catalog, "--model", tiny_model, "--policy", "middle")
    assert code == 2 and "unknown window policy" in err
    code, _, err = cli(capsys, "caption", catalog / "nowhere", "--model", tiny_model)
    assert code == 2 and err.startswith("error: nothing to caption") and "does not exist" in err


def test_make_tiny_then_caption_offline_from_scratch(tmp_path):
    """The acceptance check: a fresh models home, no network, two commands."""
    wav = write_audio(
        tmp_path / "some.wav", generate_piece("snowy_morning", seed=4, duration_s=3.0, sample_rate=RATE), RATE, "wav"
    )
    env = {"HF_HUB_OFFLINE": "1", "MUSISCENE_MODELS": str(tmp_path / "home")}
    made = musiscene("models", "make-tiny", tmp_path / "tiny", env=env)
    assert made.exit_code == 0, made.stderr
    captioned = musiscene("caption", wav, "--model", tmp_path / "tiny", "--max-new-tokens", TOKENS, env=env)
    assert captioned.exit_code == 0, captioned.stderr
    path, text = captioned.stdout.rstrip("\n").split("\t")
    assert path == str(wav) and text
