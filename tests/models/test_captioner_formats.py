"""The captioner's files: MU-LLaMA checkpoints, Meta and Hugging Face LLaMA, the project format, prompts."""

import json

import numpy as np
import pytest
import torch

from musiscene_core.errors import UserError
from musiscene_core.models.mullama.captioner import MusiSceneCaptioner
from musiscene_core.models.mullama.checkpoint import hf_permute, hf_unpermute, read_mullama_checkpoint, write_mullama_checkpoint
from musiscene_core.models.mullama.configuration import MUSISCENE_QUESTION, format_prompt
from musiscene_core.models.mullama.tiny import write_tiny_mullama
from musiscene_core.models.mullama.tokenizer import LlamaTokenizer

EXPECTED_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\nWhat type of scene the music is suitable for?\n\n"
    "### Input:\n<built-in function input>\n\n### Response:"
)


def load(files, **kw):
    return MusiSceneCaptioner.from_mullama(files.checkpoint, files.llama_dir, files.tokenizer, device="cpu", **kw)


def features(batch, layers=25, hidden=1024, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, layers, hidden)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_mullama(tmp_path_factory.mktemp("tiny_meta"), seed=4, n_heads=2, n_layers=3, prefix_layers=3, norm_eps=1e-6)


@pytest.fixture(scope="module")
def tiny_logits(tiny):
    return load(tiny).next_token_logits(features(2), [MUSISCENE_QUESTION, "Describe the music"])


def test_prompt_is_mullamas_string_byte_for_byte():
    assert format_prompt(MUSISCENE_QUESTION) == EXPECTED_PROMPT
    # MU-LLaMA's template filled by str.format_map with Python's builtin `input` in the Input slot
    assert format_prompt("Q") == EXPECTED_PROMPT.replace(MUSISCENE_QUESTION, "Q").replace("<built-in function input>", str(input))


def test_tokenizer_vocabulary_and_special_ids(tiny):
    tok = LlamaTokenizer(tiny.tokenizer)
    assert tok.n_words == 400 and (tok.bos_id, tok.eos_id, tok.pad_id) == (1, 2, -1)
    ids = tok.encode(EXPECTED_PROMPT, bos=True, eos=True)
    assert ids[0] == 1 and ids[-1] == 2 and len(ids) > 10
    assert tok.decode(ids[1:-1]) == EXPECTED_PROMPT


def test_hf_permutation_round_trips_and_moves_rows():
    w = torch.arange(8 * 3, dtype=torch.float32).reshape(8, 3)
    permuted = hf_permute(w, n_heads=2)
    assert not torch.equal(permuted, w)
    assert torch.equal(hf_unpermute(permuted, n_heads=2), w)
    # head 0 in HF order: even rows (first of each rotary pair) first, then odd rows
    assert permuted[:4, 0].tolist() == [0.0, 6.0, 3.0, 9.0]


def test_same_weights_in_hf_layout_give_the_same_logits(tmp_path, tiny_logits):
    hf = write_tiny_mullama(tmp_path, seed=4, n_heads=2, n_layers=3, prefix_layers=3, norm_eps=1e-6, llama_format="hf")
    assert (hf.llama_dir / "config.json").is_file()
    logits = load(hf).next_token_logits(features(2), [MUSISCENE_QUESTION, "Describe the music"])
    np.testing.assert_allclose(logits, tiny_logits, rtol=0, atol=1e-5)


def test_sharded_meta_checkpoint_concatenates_to_the_same_model(tmp_path, tiny_logits):
    sharded = write_tiny_mullama(tmp_path, seed=4, n_heads=2, n_layers=3, prefix_layers=3, norm_eps=1e-6, shards=2)
    assert len(list(sharded.llama_dir.glob("consolidated.*.pth"))) == 2
    logits = load(sharded).next_token_logits(features(2), [MUSISCENE_QUESTION, "Describe the music"])
    np.testing.assert_allclose(logits, tiny_logits, rtol=0, atol=1e-5)


def test_base_llama_matches_transformers_llama(tmp_path):
    """Without the finetune extras and with zero gates the model is plain LLaMA: compare against
    transformers' LlamaForCausalLM on the Hugging Face copy (checks un-permuting and rotary)."""
    from transformers import LlamaForCausalLM

    files = write_tiny_mullama(tmp_path, seed=2, llama_format="hf")
    ckpt = read_mullama_checkpoint(files.checkpoint)
    adapter_only = {k: v for k, v in ckpt.items() if not k.startswith("llama.")}
    write_mullama_checkpoint(files.checkpoint, adapter_only)
    cap = load(files)
    prompt_ids = cap.tokenizer.encode(format_prompt(MUSISCENE_QUESTION), bos=True, eos=False)
    hf = LlamaForCausalLM.from_pretrained(files.llama_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        expected = hf(torch.tensor([prompt_ids])).logits[0, -1].numpy()
    np.testing.assert_allclose(cap.next_token_logits(features(1))[0], expected, rtol=0, atol=1e-4)


def test_pretrain_phase_checkpoint_loads_with_inert_extras(tmp_path):
    """A checkpoint without biases/LoRA/norms (MU-LLaMA's pretrain phase) leaves them as MU-LLaMA's
    finetune model starts: no effect, so logits equal those of a checkpoint with zero extras."""
    files = write_tiny_mullama(tmp_path, seed=6)
    ckpt = read_mullama_checkpoint(files.checkpoint)
    kept = {
        k: v for k, v in ckpt.items() if not any(m in k for m in ("lora_", ".bias", "norm.weight")) or k.startswith("mu_mert_")
    }
    write_mullama_checkpoint(files.checkpoint, kept)
    cap = load(files)
    assert cap.config.llama.lora_rank == 16
    zeroed = {
        **kept,
        **{k: torch.zeros_like(v) for k, v in ckpt.items() if k.startswith("llama.") and ("_l2." in k or ".bias" in k)},
    }
    zeroed.update({k: v for k, v in ckpt.items() if k.startswith("llama.") and "_l1." in k})
    write_mullama_checkpoint(tmp_path / "zeroed.pth", zeroed)
    other = MusiSceneCaptioner.from_mullama(tmp_path / "zeroed.pth", files.llama_dir, files.tokenizer, device="cpu")
    np.testing.assert_allclose(cap.next_token_logits(features(1)), other.next_token_logits(features(1)), atol=1e-5)


def test_checkpoint_tensors_override_base_llama_tensors(tmp_path):
    files = write_tiny_mullama(tmp_path, seed=7)
    before = load(files).next_token_logits(features(1))
    ckpt = read_mullama_checkpoint(files.checkpoint)
    ckpt["llama.output.weight"] = torch.zeros(400, 64)  # MU-LLaMA loads its checkpoint with strict=False over LLaMA
    write_mullama_checkpoint(files.checkpoint, ckpt)
    after = load(files).next_token_logits(features(1))
    assert np.abs(before).max() > 0 and np.abs(after).max() == 0


def test_legacy_bridge_and_other_shapes_are_read_from_the_files(tmp_path):
    files = write_tiny_mullama(
        tmp_path,
        seed=8,
        dim=48,
        n_heads=3,
        n_layers=5,
        prefix_layers=7,
        mert_layers=6,
        mert_dim=20,
        legacy_bridge=True,
        multiple_of=16,
    )
    cap = load(files)
    cfg = cap.config
    assert cfg.adapter.legacy_bridge and (cfg.adapter.mert_layers, cfg.adapter.mert_dim) == (6, 20)
    assert (cfg.llama.dim, cfg.llama.n_heads, cfg.llama.n_layers, cfg.prefix_layers) == (48, 3, 5, 7)
    assert cfg.llama.ffn_hidden_dim == 128  # 16 * ceil(int(2 * 4 * 48 / 3) / 16)
    assert isinstance(cap.model.music_adapter.mu_mert_norm_2, torch.nn.LayerNorm)
    # more prefix rows than layers: every layer is prefixed (MU-LLaMA slices layers[-rows:])
    assert len(cap.model.adapter_values(torch.zeros(1, 6, 20) + 1)) == 5
    assert cap.generate(features(2, 6, 20), max_new_tokens=3).token_ids


def test_errors_are_one_sentence_user_errors(tmp_path, tiny):
    with pytest.raises(UserError, match="does not exist"):
        MusiSceneCaptioner.from_mullama(tmp_path / "nope.pth", tiny.llama_dir, tiny.tokenizer)
    with pytest.raises(UserError, match="neither Meta"):
        MusiSceneCaptioner.from_mullama(tiny.checkpoint, tmp_path, tiny.tokenizer)
    other = write_tiny_mullama(tmp_path / "wide", dim=96, n_heads=4)
    with pytest.raises(UserError, match="width 96.*width 64"):
        MusiSceneCaptioner.from_mullama(other.checkpoint, tiny.llama_dir, tiny.tokenizer)
    small_vocab = write_tiny_mullama(tmp_path / "vocab", vocab_size=350)
    with pytest.raises(UserError, match="tokenizer has 350 tokens"):
        MusiSceneCaptioner.from_mullama(tiny.checkpoint, tiny.llama_dir, small_vocab.tokenizer)
    ckpt = read_mullama_checkpoint(tiny.checkpoint)
    write_mullama_checkpoint(tmp_path / "extra.pth", {**ckpt, "llama.layers.9.attention.gate": torch.zeros(1, 2, 1, 1)})
    with pytest.raises(UserError, match="does not have"):
        MusiSceneCaptioner.from_mullama(tmp_path / "extra.pth", tiny.llama_dir, tiny.tokenizer)
    write_mullama_checkpoint(tmp_path / "no_adapter.pth", {k: v for k, v in ckpt.items() if k != "mu_mert_f3_2.weight"})
    with pytest.raises(UserError, match="lacks the music adapter tensor mu_mert_f3_2.weight"):
        MusiSceneCaptioner.from_mullama(tmp_path / "no_adapter.pth", tiny.llama_dir, tiny.tokenizer)
    (tmp_path / "bad.model").write_bytes(b"not a model")
    with pytest.raises(UserError, match="not a SentencePiece model"):
        LlamaTokenizer(tmp_path / "bad.model")
    cap = load(tiny)
    with pytest.raises(UserError, match=r"shape \[batch, 25, 1024\]"):
        cap.generate(features(1, 24, 1024))
    with pytest.raises(UserError, match="2 questions given for 1 inputs"):
        cap.next_token_logits(features(1), ["a", "b"])


def test_save_pretrained_round_trip_with_and_without_llama(tmp_path, tiny, tiny_logits):
    cap = load(tiny)
    x, qs = features(2), [MUSISCENE_QUESTION, "Describe the music"]
    full = cap.save_pretrained(tmp_path / "full")
    assert {p.name for p in full.iterdir()} == {"captioner.json", "captioner.safetensors", "llama.safetensors", "tokenizer.model"}
    again = MusiSceneCaptioner.from_pretrained(full, device="cpu")
    np.testing.assert_array_equal(again.next_token_logits(x, qs), tiny_logits)
    assert again.model_version == cap.model_version

    light = cap.save_pretrained(tmp_path / "light", include_llama=False)
    assert not (light / "llama.safetensors").exists()
    assert json.loads((light / "captioner.json").read_text())["llama_source"]["path"] == str(tiny.llama_dir.resolve())
    referenced = MusiSceneCaptioner.from_pretrained(light, device="cpu")
    np.testing.assert_array_equal(referenced.next_token_logits(x, qs), tiny_logits)
    assert referenced.model_version == cap.model_version
    with pytest.raises(UserError, match="not a saved captioner"):
        MusiSceneCaptioner.from_pretrained(tmp_path)


def test_model_version_follows_the_weights(tmp_path, tiny):
    cap = load(tiny)
    assert cap.model_version.startswith("mullama-") and cap.model_version == load(tiny).model_version
    with torch.no_grad():
        cap.model.prefix_query.weight[0, 0] += 1.0
    cap.save_pretrained(tmp_path / "changed")
    assert MusiSceneCaptioner.from_pretrained(tmp_path / "changed").model_version == cap.model_version != load(tiny).model_version


def test_export_mullama_round_trip(tmp_path, tiny, tiny_logits):
    cap = load(tiny)
    path = cap.export_mullama(tmp_path / "export")
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {"model"}
    keys = set(saved["model"])
    assert "prefix_query.weight" in keys and "llama.layers.0.attention.lora_wq_l1.weight" in keys
    assert not any(k.endswith(("wq.weight", "w1.weight", "tok_embeddings.weight", "output.weight")) for k in keys)
    again = MusiSceneCaptioner.from_mullama(path, tiny.llama_dir, tiny.tokenizer, device="cpu")
    np.testing.assert_array_equal(again.next_token_logits(features(2), [MUSISCENE_QUESTION, "Describe the music"]), tiny_logits)

    with_llama = cap.export_mullama(tmp_path / "standalone", include_llama=True)
    root = with_llama.parent
    standalone = MusiSceneCaptioner.from_mullama(
        with_llama, root / "LLaMA" / "7B", root / "LLaMA" / "tokenizer.model", device="cpu"
    )
    np.testing.assert_array_equal(
        standalone.next_token_logits(features(2), [MUSISCENE_QUESTION, "Describe the music"]), tiny_logits
    )
