"""`musiscene models make-tiny | convert | info` through the CLI: round trips keep logits, info reads the files, errors are one sentence."""

import json

import numpy as np
import pytest
import torch
from cli_runner import musiscene

from musiscene_core.cli import main
from musiscene_core.models import MUSISCENE_QUESTION, MusiSceneCaptioner
from musiscene_core.models.mullama.checkpoint import read_mullama_checkpoint
from musiscene_core.models.mullama.tiny import write_tiny_mullama
from musiscene_core.models.presets import resolve_model


def cli(capsys, *args):
    """Run `musiscene ARGS` in this process: (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def feats(captioner, batch=3, seed=0):
    shape = (batch, captioner.config.adapter.mert_layers, captioner.config.adapter.mert_dim)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from musiscene_core.models.tiny_preset import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=3)


@pytest.fixture(scope="module")
def mullama(tmp_path_factory):
    """MU-LLaMA's release layout (checkpoint.pth, LLaMA/7B/, LLaMA/tokenizer.model) with a Hugging Face LLaMA."""
    return write_tiny_mullama(tmp_path_factory.mktemp("mullama"), seed=5, llama_format="hf", lora_rank=8)


def test_make_tiny_builds_a_usable_random_preset_and_protects_other_folders(tmp_path, capsys):
    code, out, _ = cli(capsys, "models", "make-tiny", tmp_path / "t", "--seed", 7)
    assert code == 0 and "random weights" in out and "preset.json" in out
    spec = resolve_model(str(tmp_path / "t"))
    assert spec.random_weights and spec.question == MUSISCENE_QUESTION
    assert spec.load_mert("cpu").num_layers + 1 == spec.load_captioner("cpu").config.adapter.mert_layers
    # rebuilding an earlier tiny build is allowed; writing into someone else's folder is not
    assert cli(capsys, "models", "make-tiny", tmp_path / "t")[0] == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    code, _, err = cli(capsys, "models", "make-tiny", tmp_path / "mine")
    assert code == 2 and "is not empty" in err and (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_project_format_to_mullama_and_back_keeps_next_token_logits(tiny, tmp_path, capsys):
    original = MusiSceneCaptioner.from_pretrained(tiny / "captioner", device="cpu")
    code, out, _ = cli(capsys, "models", "convert", tiny, tmp_path / "ml")  # a model directory: its captioner
    assert code == 0, out
    assert (tmp_path / "ml" / "checkpoint.pth").is_file() and (tmp_path / "ml" / "LLaMA" / "7B" / "params.json").is_file()
    # the checkpoint holds exactly the adapter and finetune tensors, under MU-LLaMA's names
    groups = original.parameter_groups()
    own = set(groups["adapter"]) | set(groups["finetune"])
    assert set(read_mullama_checkpoint(tmp_path / "ml" / "checkpoint.pth")) == own
    assert cli(capsys, "models", "convert", tmp_path / "ml", tmp_path / "ms", "--to", "musiscene")[0] == 0
    back = MusiSceneCaptioner.from_pretrained(tmp_path / "ms", device="cpu")
    via_mullama = MusiSceneCaptioner.from_mullama(
        tmp_path / "ml" / "checkpoint.pth",
        tmp_path / "ml" / "LLaMA" / "7B",
        tmp_path / "ml" / "LLaMA" / "tokenizer.model",
        device="cpu",
    )
    x = feats(original)
    expected = original.next_token_logits(x, MUSISCENE_QUESTION)
    assert np.array_equal(via_mullama.next_token_logits(x, MUSISCENE_QUESTION), expected)
    assert np.array_equal(back.next_token_logits(x, MUSISCENE_QUESTION), expected)
    assert back.model_version == via_mullama.model_version == original.model_version


def test_mullama_files_to_project_format_and_back(mullama, tmp_path, capsys):
    original = MusiSceneCaptioner.from_mullama(mullama.checkpoint, mullama.llama_dir, mullama.tokenizer, device="cpu")
    # LLaMA folder and tokenizer are found where MU-LLaMA's release keeps them
    code, out, _ = cli(capsys, "models", "convert", mullama.checkpoint, tmp_path / "ms", "--json")
    assert code == 0
    assert json.loads(out)["target_format"] == "musiscene" and json.loads(out)["model_version"] == original.model_version
    code, _, _ = cli(capsys, "models", "convert", tmp_path / "ms", tmp_path / "ml")
    assert code == 0
    first, second = read_mullama_checkpoint(mullama.checkpoint), read_mullama_checkpoint(tmp_path / "ml" / "checkpoint.pth")
    assert set(first) == set(second) and all(torch.equal(first[k], second[k]) for k in first)
    back = MusiSceneCaptioner.from_mullama(
        tmp_path / "ml" / "checkpoint.pth",
        tmp_path / "ml" / "LLaMA" / "7B",
        tmp_path / "ml" / "LLaMA" / "tokenizer.model",
        device="cpu",
    )
    x = feats(original, seed=1)
    assert np.array_equal(back.next_token_logits(x), original.next_token_logits(x))
    # without the LLaMA copied, the project format references the LLaMA folder and still loads
    assert cli(capsys, "models", "convert", mullama.root, tmp_path / "ref", "--no-copy-llama")[0] == 0
    assert not (tmp_path / "ref" / "llama.safetensors").exists()
    assert np.array_equal(
        MusiSceneCaptioner.from_pretrained(tmp_path / "ref", device="cpu").next_token_logits(x), original.next_token_logits(x)
    )
    # a non-empty destination is refused
    code, _, err = cli(capsys, "models", "convert", mullama.root, tmp_path / "ref")
    assert code == 2 and "not empty" in err


def test_info_reads_dimensions_counts_and_flags_from_the_files(tiny, mullama, capsys):
    code, out, _ = cli(capsys, "models", "info", tiny, "--json")
    assert code == 0
    info = json.loads(out)
    captioner = MusiSceneCaptioner.from_pretrained(tiny / "captioner", device="cpu")
    assert info["random_weights"] is True and info["question"] == MUSISCENE_QUESTION and info["name"] == "tiny"
    assert info["captioner"]["llama"]["dim"] == captioner.config.llama.dim == 64
    assert info["captioner"]["model_version"] == captioner.model_version
    assert info["captioner"]["parameters"]["total"] == sum(p.numel() for p in captioner.model.parameters())
    assert info["mert"]["features"] == [captioner.config.adapter.mert_layers, captioner.config.adapter.mert_dim]
    # a MU-LLaMA checkpoint alone: what its shapes imply
    code, out, _ = cli(capsys, "models", "info", mullama.checkpoint, "--llama-dir", mullama.llama_dir, "--json")
    assert code == 0 and json.loads(out)["llama"]["lora_rank"] == 8
    alone = mullama.root / "alone"
    alone.mkdir()
    (alone / "checkpoint.pth").write_bytes(mullama.checkpoint.read_bytes())
    code, out, _ = cli(capsys, "models", "info", alone)
    assert code == 0 and "MU-LLaMA checkpoint" in out and "prefix_layers: 2" in out and "mert_dim: 1,024" in out
    code, _, err = cli(capsys, "models", "info", "no-such-preset")
    assert code == 2 and err.startswith("error: unknown model")


def test_checkpoint_that_does_not_fit_the_llama_is_one_sentence_exit_2(mullama, tmp_path):
    narrow = write_tiny_mullama(tmp_path / "narrow", dim=32, n_heads=2)
    proc = musiscene("models", "info", mullama.checkpoint, "--llama-dir", narrow.llama_dir, "--tokenizer", narrow.tokenizer)
    assert proc.exit_code == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: ") and "width 64" in proc.stderr and "width 32" in proc.stderr
