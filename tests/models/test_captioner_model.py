"""The captioner's computation: attention with biases/LoRA/adapter by hand, padding, decoding, training."""

import math

import numpy as np
import pytest
import torch

from musiscene_core.models import MUSISCENE_QUESTION, MusiSceneCaptioner
from musiscene_core.models.mullama.configuration import LlamaConfig
from musiscene_core.models.mullama.llama import Attention, FeedForward, rotary_table
from musiscene_core.models.mullama.tiny import write_tiny_mullama

QUESTIONS = [MUSISCENE_QUESTION, "Describe the music", "What is the mood of this song, and which instruments play in it?"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_mullama(tmp_path_factory.mktemp("tiny_mullama"))


@pytest.fixture()
def cap(tiny):
    return MusiSceneCaptioner.from_mullama(tiny.checkpoint, tiny.llama_dir, tiny.tokenizer, device="cpu")


def features(batch, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, 25, 1024)).astype(np.float32)


def _lora(module, name, x):
    return x @ getattr(module, f"lora_{name}_l1").weight.T @ getattr(module, f"lora_{name}_l2").weight.T


def _rotate_pairs(x, positions, theta):
    """Meta rotary by hand: channels (2i, 2i+1) of each head rotate by position * theta^(-2i/head_dim)."""
    head_dim = x.shape[-1]
    out = x.clone()
    for i in range(head_dim // 2):
        angle = positions.double() * theta ** (-2 * i / head_dim)
        cos, sin = torch.cos(angle).float(), torch.sin(angle).float()
        a, b = x[..., 2 * i], x[..., 2 * i + 1]
        out[..., 2 * i], out[..., 2 * i + 1] = a * cos - b * sin, a * sin + b * cos
    return out


def _randomize(module, gen):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


@torch.no_grad()
def test_attention_matches_hand_computation_with_bias_lora_and_adapter():
    cfg = LlamaConfig(dim=16, n_layers=1, n_heads=2, vocab_size=10, ffn_hidden_dim=24, lora_rank=3)
    attn = Attention(cfg)
    gen = torch.Generator().manual_seed(0)
    _randomize(attn, gen)
    x = torch.randn(1, 5, 16, generator=gen)
    adapter = torch.randn(1, 1, 16, generator=gen)
    positions = torch.arange(5)[None]
    mask = torch.full((5, 5), float("-inf")).triu(1)[None, None]
    ours = attn(x, rotary_table(positions, 8, 10000.0), mask, attn.adapter_values(adapter))[0]

    x0, a0 = x[0], adapter[0, 0]
    q = x0 @ attn.wq.weight.T + attn.wq.bias + _lora(attn, "wq", x0)
    k = x0 @ attn.wk.weight.T + _lora(attn, "wk", x0)  # wk and wv carry no bias
    v = x0 @ attn.wv.weight.T + _lora(attn, "wv", x0)
    adapter_v = a0 @ attn.wv.weight.T  # the adapter token's value: plain wv, no LoRA
    heads = []
    for h in range(2):
        sl = slice(8 * h, 8 * (h + 1))
        qh, kh = _rotate_pairs(q[:, sl], positions[0], 10000.0), _rotate_pairs(k[:, sl], positions[0], 10000.0)
        scores = qh @ kh.T / math.sqrt(8) + mask[0, 0]
        heads.append(torch.softmax(scores, -1) @ v[:, sl] + torch.tanh(attn.gate[0, h, 0, 0]) * adapter_v[sl])
    concat = torch.cat(heads, -1)
    expected = concat @ attn.wo.weight.T + attn.wo.bias + _lora(attn, "wo", concat)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_feed_forward_matches_hand_computation():
    cfg = LlamaConfig(dim=16, n_layers=1, n_heads=2, vocab_size=10, ffn_hidden_dim=24, lora_rank=3)
    ff = FeedForward(cfg)
    _randomize(ff, torch.Generator().manual_seed(1))
    x = torch.randn(2, 3, 16)
    gate = x @ ff.w1.weight.T + ff.w1.bias + _lora(ff, "w1", x)
    up = x @ ff.w3.weight.T + ff.w3.bias + _lora(ff, "w3", x)
    hidden = torch.nn.functional.silu(gate) * up
    expected = hidden @ ff.w2.weight.T + ff.w2.bias + _lora(ff, "w2", hidden)
    torch.testing.assert_close(ff(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "suffix",
    [
        "attention.wq.bias",
        "attention.wo.bias",
        "feed_forward.w2.bias",
        "attention.lora_wk_l2.weight",
        "attention.lora_wo_l2.weight",
        "feed_forward.lora_w3_l2.weight",
        "attention_norm.weight",
    ],
)
def test_every_finetune_tensor_reaches_the_logits(cap, suffix):
    x = features(1)
    before = cap.next_token_logits(x)
    with torch.no_grad():
        cap.model.named_mullama_parameters()[f"llama.layers.1.{suffix}"].zero_()
    assert np.abs(cap.next_token_logits(x) - before).max() > 1e-4


def test_audio_enters_only_through_gated_prefixed_layers(cap):
    x_a, x_b = features(1, seed=1), features(1, seed=2)
    assert np.abs(cap.next_token_logits(x_a) - cap.next_token_logits(x_b)).max() > 1e-3
    params = cap.model.named_mullama_parameters()
    with torch.no_grad():
        # gates of the unprefixed layers (0, 1) never matter; zeroing the prefixed ones removes the audio
        params["llama.layers.0.attention.gate"].fill_(5.0)
        params["llama.layers.2.attention.gate"].zero_()
        params["llama.layers.3.attention.gate"].zero_()
    np.testing.assert_array_equal(cap.next_token_logits(x_a), cap.next_token_logits(x_b))


def test_batched_left_padded_matches_one_by_one(cap):
    x = features(3)
    batched = cap.next_token_logits(x, QUESTIONS)
    singles = np.concatenate([cap.next_token_logits(x[i : i + 1], q) for i, q in enumerate(QUESTIONS)])
    np.testing.assert_allclose(batched, singles, rtol=0, atol=1e-5)
    lengths = {len(cap.tokenizer.encode(cap.format_prompt(q), True, False)) for q in QUESTIONS}
    assert len(lengths) == 3  # the prompts really do need padding
    greedy = cap.generate(x, QUESTIONS, max_new_tokens=12).token_ids
    assert greedy == [cap.generate(x[i : i + 1], q, max_new_tokens=12).token_ids[0] for i, q in enumerate(QUESTIONS)]


def test_kv_cache_decoding_matches_full_recomputation(cap):
    x = features(1)
    res = cap.generate(x, max_new_tokens=6)
    prompt = cap.tokenizer.encode(cap.format_prompt(MUSISCENE_QUESTION), True, False)
    tokens = torch.tensor([prompt + res.token_ids[0]])
    with torch.no_grad():
        logits = cap.forward_train(x, tokens).logits[0]
    # every generated token is the argmax of the uncached logits at the position before it
    assert logits[len(prompt) - 1 : -1].argmax(-1).tolist() == res.token_ids[0]


def test_sampling_is_seeded_and_independent_of_batch(cap):
    x = features(3)
    a = cap.generate(x, QUESTIONS, max_new_tokens=10, temperature=0.9, top_p=0.9, seed=5).token_ids
    b = cap.generate(x, QUESTIONS, max_new_tokens=10, temperature=0.9, top_p=0.9, seed=5).token_ids
    c = cap.generate(x, QUESTIONS, max_new_tokens=10, temperature=0.9, top_p=0.9, seed=6).token_ids
    assert a == b and a != c
    assert a[1] == cap.generate(x[1:2], QUESTIONS[1], max_new_tokens=10, temperature=0.9, top_p=0.9, seed=5).token_ids[0]


def test_tiny_top_p_is_greedy(cap):
    x = features(2)
    greedy = cap.generate(x, max_new_tokens=8).token_ids
    # top_p below every probability keeps only the most likely token, whatever the seed
    assert cap.generate(x, max_new_tokens=8, temperature=1.0, top_p=1e-6, seed=3).token_ids == greedy


def test_eos_stops_each_sequence_on_its_own(cap):
    x = features(3)
    free = cap.generate(x, QUESTIONS, max_new_tokens=10).token_ids
    stop = free[0][3]  # pretend the token row 0 emits 4th is EOS
    cap.tokenizer.eos_id = stop
    res = cap.generate(x, QUESTIONS, max_new_tokens=10)
    expected = [row[: row.index(stop)] if stop in row else row for row in free]
    assert res.token_ids == expected
    assert len(res.token_ids[0]) <= 3 and any(len(r) == 10 for r in res.token_ids)
    assert res.texts == [cap.tokenizer.decode(t).strip() for t in expected]


def test_generation_limits(cap):
    x = features(2)
    assert cap.generate(x, max_new_tokens=0).token_ids == [[], []]
    assert [len(t) for t in cap.generate(x, max_new_tokens=3).token_ids] == [3, 3]


def test_training_batch_labels_only_the_answer(cap):
    batch = cap.training_batch([MUSISCENE_QUESTION, "Describe the music"], ["a rainy night in the city", "calm piano"])
    tokens, labels = batch["tokens"], batch["labels"]
    for row, q in enumerate([MUSISCENE_QUESTION, "Describe the music"]):
        n_prompt = len(cap.tokenizer.encode(cap.format_prompt(q), True, False))
        real = labels[row] != -100
        assert not real[:n_prompt].any()
        answer = tokens[row][real].tolist()
        assert answer[-1] == cap.tokenizer.eos_id
        assert cap.tokenizer.decode(answer[:-1]).strip() in ("a rainy night in the city", "calm piano")
    cut = cap.training_batch([MUSISCENE_QUESTION], ["a rainy night in the city"], max_tokens=20)
    assert cut["tokens"].shape == (1, 20) and (cut["labels"] == -100).all()


def test_forward_train_logits_and_loss(cap):
    x = features(2)
    batch = cap.training_batch(QUESTIONS[:2], ["a rainy night in the city", "calm piano"])
    out = cap.forward_train(x, batch["tokens"], batch["labels"])
    # teacher-forced logits at the prompt's last token == the first generated position
    n_prompt = len(cap.tokenizer.encode(cap.format_prompt(QUESTIONS[0]), True, False))
    np.testing.assert_allclose(
        out.logits[0, n_prompt - 1].detach().numpy(), cap.next_token_logits(x[:1], QUESTIONS[0])[0], atol=1e-5
    )
    logp = torch.log_softmax(out.logits[:, :-1], -1)
    target = batch["labels"][:, 1:]
    keep = target != -100
    manual = -logp[keep].gather(-1, target[keep][:, None]).mean()
    torch.testing.assert_close(out.loss, manual)


def test_parameter_groups_partition_and_training_reaches_only_chosen_group(cap):
    groups = cap.parameter_groups()
    names = [n for g in groups.values() for n in g]
    assert len(names) == len(set(names)) == len(list(cap.model.parameters()))
    assert {"prefix_query.weight", "mu_mert_agg.weight", "mu_mert_f2_3.weight"} <= set(groups["adapter"])
    assert {
        "llama.layers.0.attention.gate",
        "llama.layers.0.attention.wq.bias",
        "llama.norm.weight",
        "llama.layers.3.feed_forward.lora_w2_l1.weight",
        "llama.layers.1.ffn_norm.weight",
    } <= set(groups["finetune"])
    assert {"llama.tok_embeddings.weight", "llama.output.weight", "llama.layers.0.attention.wq.weight"} <= set(groups["llama"])
    assert not any("bias" in n or "lora" in n or "norm" in n or "gate" in n for n in groups["llama"])

    trainable = cap.set_trainable(["adapter"])
    assert len(trainable) == len(groups["adapter"])
    batch = cap.training_batch([MUSISCENE_QUESTION], ["a rainy night in the city"])
    cap.forward_train(features(1), batch["tokens"], batch["labels"]).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in groups["adapter"].values())
    assert all(p.grad is None for g in ("finetune", "llama") for p in groups[g].values())


def test_half_precision_base_with_fp32_trainables(tiny):
    """Training keeps trainable tensors in fp32 over a bf16 base (autocast), as MU-LLaMA does in fp16."""
    x = features(2)
    full = MusiSceneCaptioner.from_mullama(tiny.checkpoint, tiny.llama_dir, tiny.tokenizer, device="cpu")
    half = MusiSceneCaptioner.from_mullama(tiny.checkpoint, tiny.llama_dir, tiny.tokenizer, device="cpu", dtype="bfloat16")
    assert half.model_version == full.model_version  # the version names the weights, not the precision
    trainable = half.set_trainable(["adapter", "finetune"])
    assert half.dtype == torch.bfloat16 and all(p.dtype == torch.float32 for p in trainable)
    reference = full.next_token_logits(x)
    assert np.abs(half.next_token_logits(x) - reference).max() < 0.05 * np.abs(reference).max()
    batch = half.training_batch([MUSISCENE_QUESTION] * 2, ["a rainy night in the city", "calm piano"])
    half.forward_train(x, batch["tokens"], batch["labels"]).loss.backward()
    assert all(p.grad is not None for p in half.parameter_groups()["adapter"].values())
    assert all(p.grad.dtype == torch.float32 for p in trainable if p.grad is not None)
    assert len(half.generate(x, max_new_tokens=4).token_ids[0]) == 4
