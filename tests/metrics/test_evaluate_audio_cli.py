"""`musiscene evaluate audio`: FAD/FAD-inf with the project's MERT or a transformers model, KL with a tiny AudioSet AST."""

import csv
import json
import shutil

import pytest
from cli_runner import main_exit as cli

from musiscene_core.audio import write_audio
from musiscene_core.data.synthetic import generate_piece

RATE = 16000


@pytest.fixture(scope="module")
def tiny_ast(tmp_path_factory):
    """An AST audio classifier with random weights and 5 labels, the architecture of the AudioSet default."""
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    root = tmp_path_factory.mktemp("tiny-ast")
    config = ASTConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_mel_bins=32,
        max_length=200,
        patch_size=16,
        frequency_stride=16,
        time_stride=16,
        num_labels=5,
        id2label={i: f"label{i}" for i in range(5)},
        label2id={f"label{i}": i for i in range(5)},
    )
    torch.manual_seed(0)
    ASTForAudioClassification(config).save_pretrained(root)
    ASTFeatureExtractor(num_mel_bins=32, max_length=200, sampling_rate=RATE).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    gen, ref = root / "generated", root / "reference"
    gen.mkdir(), ref.mkdir()
    for i, scene in enumerate(["calm_sea", "neon_chase", "sunny_picnic"]):
        write_audio(gen / f"clip{i}.wav", generate_piece(scene, seed=i, duration_s=3.0, sample_rate=RATE), RATE, "wav")
        write_audio(ref / f"clip{i}.wav", generate_piece(scene, seed=10 + i, duration_s=3.0, sample_rate=RATE), RATE, "wav")
    return gen, ref


def _run(capsys, tmp_path, gen, ref, *extra):
    per_clip = tmp_path / "clips.csv"
    code, out, err = cli(
        capsys,
        "evaluate",
        "audio",
        "--generated",
        gen,
        "--reference",
        ref,
        "--per-clip",
        per_clip,
        "--fad-inf-steps",
        "5",
        "--fad-inf-min-n",
        "50",
        *extra,
    )
    rows = list(csv.DictReader(per_clip.open())) if per_clip.exists() else []
    return code, out, err, rows


def test_mert_fad_and_ast_kl(capsys, tmp_path, folders, tiny_model, tiny_ast):
    gen, ref = folders
    code, out, err, rows = _run(capsys, tmp_path, gen, ref, "--model", tiny_model, "--classifier", tiny_ast, "--format", "json")
    assert code == 0, err
    summary = json.loads(out)[0]
    assert summary["embedding"].startswith("mert:") and summary["classifier"] == str(tiny_ast)
    assert summary["generated_clips"] == summary["reference_clips"] == 3 and summary["kl_pairs"] == 3
    assert summary["fad"] > 0 and summary["kl"] >= 0 and summary["kl_reverse"] >= 0
    assert summary["kl_both"] == pytest.approx(summary["kl"] + summary["kl_reverse"])
    assert [r["set"] for r in rows] == ["generated"] * 3 + ["reference"] * 3
    assert all(int(r["frames"]) > 100 and r["segments"] == "2" for r in rows)  # 3 s at 75 frames/s; 2 s AST segments
    assert sum(float(r["kl"]) for r in rows[:3]) / 3 == pytest.approx(summary["kl"])


def test_identical_sets_score_zero_and_markdown_names_the_models(capsys, tmp_path, folders, tiny_model, tiny_ast):
    gen, _ = folders
    code, out, err, _ = _run(capsys, tmp_path, gen, gen, "--model", tiny_model, "--classifier", tiny_ast, "--format", "json")
    assert code == 0, err
    summary = json.loads(out)[0]
    assert abs(summary["fad"]) < 1e-6 and abs(summary["kl"]) < 1e-4
    code, out, err, _ = _run(capsys, tmp_path, gen, gen, "--embedding", f"hf:{tiny_ast}", "--classifier", "none")
    assert code == 0, err
    assert out.startswith("| generated | reference | FAD | FAD∞ (R²) |")
    assert f"Embedding `hf:{tiny_ast}`; classifier `none`." in out


def test_a_corrupt_clip_is_an_error_row(capsys, tmp_path, folders, tiny_model):
    gen, ref = folders
    mixed = tmp_path / "gen"
    shutil.copytree(gen, mixed)
    (mixed / "broken.wav").write_bytes(b"RIFF????WAVEnot really")
    code, out, err, rows = _run(capsys, tmp_path, mixed, ref, "--model", tiny_model, "--classifier", "none", "--format", "csv")
    assert code == 0, err
    broken = [r for r in rows if r["file"].endswith("broken.wav")]
    assert broken and broken[0]["status"] == "error" and broken[0]["error"]
    assert "broken.wav" in err
    assert list(csv.DictReader(out.splitlines()))[0]["generated_clips"] == "3"


def test_bad_options_are_one_sentence(capsys, tmp_path, folders, tiny_model):
    gen, ref = folders
    for args, message in [
        (["--embedding", "vggish"], "unknown embedding"),
        (["--classifier", str(tmp_path / "missing")], "could not be loaded"),
        (["--format", "xml"], "unknown format"),
    ]:
        code, _, err, _ = _run(capsys, tmp_path, gen, ref, "--model", tiny_model, *args)
        assert code == 2 and err.startswith("error: ") and message in err, err
    code, _, err, _ = _run(capsys, tmp_path, tmp_path / "nowhere", ref)
    assert code == 2 and "not a folder" in err
