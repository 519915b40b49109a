"""Fusion: prompt templates, answer checks, and the endpoint client against a local OpenAI-compatible server."""

import socket

import numpy as np
import pytest

from musiscene_core.data.dataset_stages import FusionStage
from musiscene_core.data.fusion import (
    EndpointFusion,
    EndpointSettings,
    FusionSettings,
    check_answer,
    clean_answer,
)
from musiscene_core.data.fusion_prompt import load_prompt
from musiscene_core.errors import UserError

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a man on a beach; slow piano"}]


def fuse(server, model, **settings):
    options = dict(timeout_s=5.0, retries=2, backoff_s=0.0) | settings
    client = EndpointFusion(EndpointSettings(url=server.url, model=model, **options).validate())
    try:
        return client.fuse(MESSAGES)
    finally:
        client.close()


def test_builtin_prompt_is_versioned_and_fills_both_captions():
    prompt = load_prompt()
    assert prompt.version.startswith("scene_fusion_v1-")
    system, user = prompt.messages("a dog runs {fast}", "  upbeat guitar ")
    assert system["role"] == "system" and "scene" in system["content"]
    assert "a dog runs {fast}" in user["content"] and "upbeat guitar" in user["content"]
    assert "{video_caption}" not in user["content"] and "suitable for" in user["content"]


def test_custom_prompt_file_gets_its_own_version(tmp_path):
    path = tmp_path / "ads_v2.txt"
    path.write_text("You write ad scenes.\n---\nVideo: {video_caption}\nMusic: {music_caption}\nScene?")
    first = load_prompt(str(path)).version
    path.write_text("You write film scenes.\n---\nVideo: {video_caption}\nMusic: {music_caption}\nScene?")
    second = load_prompt(str(path)).version
    assert first.startswith("ads_v2-") and second.startswith("ads_v2-") and first != second
    path.write_text("no separator {video_caption} {music_caption}")
    with pytest.raises(UserError, match="---"):
        load_prompt(str(path))
    path.write_text("system\n---\nonly {video_caption}")
    with pytest.raises(UserError, match="music_caption"):
        load_prompt(str(path))
    with pytest.raises(UserError, match="does not exist"):
        load_prompt(str(tmp_path / "missing.txt"))


@pytest.mark.parametrize(
    "text, kind",
    [
        ("", "llm_empty"),
        ("   ", "llm_empty"),
        ("I'm sorry, but I can't help with that.", "llm_refusal"),
        ("As an AI language model, I cannot imagine scenes.", "llm_refusal"),
        ("music music music " * 20, "llm_degenerate"),
        ("a dark forest a dark forest a dark forest at night", "llm_degenerate"),
        ("%%% 1234 ### @@@ ~~~", "llm_degenerate"),
        ("Sunset.", "llm_degenerate"),
        ("word " * 60 + " ".join(f"w{i}x" for i in range(80)), "llm_degenerate"),
        ("A slow-motion shot of a couple walking through a rainy city street at night.", ""),
    ],
)
def test_answer_checks(text, kind):
    assert check_answer(clean_answer(text))[0] == kind


def test_clean_answer_strips_labels_and_quotes():
    assert clean_answer('Scene:  "a quiet harbour\n at dawn"') == "a quiet harbour at dawn"


def test_normal_answer_records_usage(llm_server):
    answer = fuse(llm_server, "normal")
    assert answer.ok and answer.text.startswith("A slow-motion shot of") and answer.attempts == 1
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0
    assert llm_server.requests[-1]["messages"] == MESSAGES and llm_server.requests[-1]["temperature"] == 0.0


@pytest.mark.parametrize(
    "model, kind",
    [
        ("refusal", "llm_refusal"),
        ("degenerate", "llm_degenerate"),
        ("empty", "llm_empty"),
        ("garbage", "llm_bad_response"),
    ],
)
def test_bad_answers_are_marked(llm_server, model, kind):
    answer = fuse(llm_server, model)
    assert not answer.ok and answer.error_kind == kind and answer.error.startswith(kind + ": ") and answer.text == ""


def test_timeout_is_retried_then_marked(llm_server):
    waits = []
    settings = EndpointSettings(url=llm_server.url, model="timeout", timeout_s=0.3, retries=2, backoff_s=0.01)
    client = EndpointFusion(settings, sleep=waits.append)
    answer = client.fuse(MESSAGES)
    client.close()
    assert answer.error_kind == "llm_timeout" and answer.attempts == 3 and "after 3 attempts" in answer.error
    assert waits == [0.01, 0.02]  # exponential backoff between attempts


def test_overloaded_server_is_retried_until_it_answers(llm_server):
    answer = fuse(llm_server, "flaky")
    assert answer.ok and answer.attempts == 2


def test_api_key_comes_from_the_environment(llm_server, monkeypatch):
    assert fuse(llm_server, "secret").error_kind == "llm_rejected"  # 401 is not retried
    monkeypatch.setenv("SCENE_LLM_KEY", "let-me-in")
    answer = fuse(llm_server, "secret", api_key_env="SCENE_LLM_KEY")
    assert answer.ok and llm_server.requests[-1]["authorization"] == "Bearer let-me-in"


def test_unreachable_endpoint_is_marked():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = EndpointSettings(url=f"http://127.0.0.1:{port}/v1", model="x", retries=1, backoff_s=0.0)
    answer = EndpointFusion(settings).fuse(MESSAGES)
    assert answer.error_kind == "llm_unreachable" and answer.attempts == 2


def test_fusion_stage_limits_concurrency_and_keeps_earlier_errors(llm_server):
    llm_server.drain()  # slow requests of earlier tests still sleep on the server after their clients gave up
    llm_server.max_in_flight = 0
    llm_server.script[:] = ["slow"] * 6  # every request takes a while, so requests overlap
    settings = FusionSettings(endpoint=EndpointSettings(url=llm_server.url, model="scripted", retries=0), concurrency=3)
    stage = FusionStage(settings, load_prompt())
    requests_before = len(llm_server.requests)
    n = 7
    batch = {
        "uri": np.array([f"v{i}" for i in range(n)], dtype=object),
        "status": np.array(["ok"] * (n - 1) + ["error"], dtype=object),
        "error_kind": np.array([""] * (n - 1) + ["no_audio"], dtype=object),
        "error": np.array([""] * (n - 1) + ["no_audio: none"], dtype=object),
        "video_caption": np.array(["a beach"] * n, dtype=object),
        "music_caption": np.array(["piano"] * n, dtype=object),
    }
    out = stage(batch)
    assert 1 < llm_server.max_in_flight <= 3
    assert list(out["status"]) == ["ok"] * (n - 1) + ["error"] and out["error_kind"][-1] == "no_audio"
    assert all(text.startswith("A slow-motion shot") for text in out["scene_caption"][:-1]) and out["scene_caption"][-1] == ""
    assert len(llm_server.requests) == n - 1 + requests_before  # the failed clip is never sent


@pytest.mark.parametrize(
    "settings, message",
    [
        (FusionSettings(), "choose one fusion model"),
        (
            FusionSettings(endpoint=EndpointSettings(url="http://h:8000/v1", model="m"), local_model="x"),
            "choose one fusion model",
        ),
        (FusionSettings(endpoint=EndpointSettings(url="ftp://h/v1", model="m")), "http"),
        (FusionSettings(endpoint=EndpointSettings(url="http://h:8000/v1", model="")), "--llm-model is required"),
    ],
)
def test_fusion_settings_are_checked(settings, message):
    with pytest.raises(UserError, match=message):
        settings.validate()


def _tiny_chat_model(directory, chat_template: bool):
    """A random tiny GPT-2 with a word-level tokenizer, saved as a local transformers model directory."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["<pad>", "<unk>", "<eos>"] + sorted(
        set("a slow shot of the city at night rain beach piano music video scene".split())
    )
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    if chat_template:
        tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}scene"
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(words), n_positions=256, n_embd=16, n_layer=1, n_head=2)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.mark.parametrize("chat_template", [True, False])
def test_local_model_fusion(tmp_path, chat_template):
    from musiscene_core.data.fusion import LocalFusion

    fusion = LocalFusion(str(_tiny_chat_model(tmp_path / "llm", chat_template)), device="cpu", max_new_tokens=12)
    answer = fusion.fuse(MESSAGES)
    assert answer.prompt_tokens > 5 and 0 < answer.completion_tokens <= 12 and answer.attempts == 1
    # Random weights: whatever comes out is either a checked caption or a marked failure, never unchecked text.
    assert (answer.ok and answer.text and not check_answer(answer.text)[0]) or (
        not answer.ok and answer.error_kind.startswith("llm_") and answer.text == ""
    )


def test_local_model_that_cannot_load_is_one_sentence(tmp_path):
    from musiscene_core.data.fusion import LocalFusion

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="cannot load fusion model"):
        LocalFusion(str(tmp_path / "empty"))
