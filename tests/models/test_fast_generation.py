"""The throughput decoding path gives exactly the plain path's tokens: padding, mixed finish times, compaction."""

import numpy as np
import pytest
import torch

from musiscene_core.errors import UserError
from musiscene_core.models import MUSISCENE_QUESTION, MusiSceneCaptioner
from musiscene_core.models.mullama import fast_generation
from musiscene_core.models.mullama.fast_generation import fast_generate_ids
from musiscene_core.models.mullama.tiny import write_tiny_mullama
from musiscene_core.models.presets import resolve_model
from musiscene_core.models.tiny_preset import make_tiny

QUESTIONS = [MUSISCENE_QUESTION, "Describe the music", "What is the mood of this song, and which instruments play in it?"]


@pytest.fixture(scope="module")
def mullama(tmp_path_factory):
    """MU-LLaMA's file format with non-zero gates, biases and LoRA (see mullama.tiny)."""
    files = write_tiny_mullama(tmp_path_factory.mktemp("fast_mullama"))
    return MusiSceneCaptioner.from_mullama(files.checkpoint, files.llama_dir, files.tokenizer, device="cpu")


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return resolve_model(str(make_tiny(tmp_path_factory.mktemp("fast_preset") / "tiny"))).load_captioner("cpu")


def features(cap, batch, seed=0):
    shape = (batch, cap.config.adapter.mert_layers, cap.config.adapter.mert_dim)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def questions(batch):
    return [QUESTIONS[i % len(QUESTIONS)] for i in range(batch)]


@pytest.mark.parametrize("which", ["mullama", "preset"])
def test_fast_path_gives_the_plain_tokens_with_left_padding(request, which):
    cap = request.getfixturevalue(which)
    x, qs = features(cap, 7), questions(7)
    plain = cap.generate(x, qs, max_new_tokens=14, fast=False)
    fast = cap.generate(x, qs, max_new_tokens=14)
    assert fast.token_ids == plain.token_ids and fast.texts == plain.texts
    assert len({len(cap.tokenizer.encode(cap.format_prompt(q), True, False)) for q in qs}) == 3  # prompts padded


def _pretend_eos(cap, free):
    """An EOS id that ends rows at different steps (and leaves at least one row running to the limit)."""
    candidates = {tok for row in free for tok in row[1:6]}
    for tok in sorted(candidates):
        ends = [row.index(tok) if tok in row else None for row in free]
        if len({e for e in ends if e is not None}) >= 2 and None in ends:
            return tok
    pytest.skip("the random model's tokens give no EOS candidate with mixed finish times")


@pytest.mark.parametrize("which", ["mullama", "preset"])
@pytest.mark.parametrize("compact_fraction", [0.01, 0.25, 1.0])
def test_mixed_finish_times_and_compaction(request, which, compact_fraction, monkeypatch):
    cap = request.getfixturevalue(which)
    x, qs = features(cap, 9, seed=3), questions(9)
    free = cap.generate(x, qs, max_new_tokens=16, fast=False).token_ids
    monkeypatch.setattr(cap.tokenizer, "eos_id", _pretend_eos(cap, free))
    plain = cap.generate(x, qs, max_new_tokens=16, fast=False).token_ids
    ids = [cap.tokenizer.encode(cap.format_prompt(q), True, False) for q in qs]
    selections = []
    original_select = fast_generation.KVCache.select
    monkeypatch.setattr(
        fast_generation.KVCache, "select", lambda self, rows: (selections.append(len(rows)), original_select(self, rows))
    )
    with torch.inference_mode():
        fast = fast_generate_ids(
            cap.model,
            ids,
            cap.model.adapter_values(torch.from_numpy(x)),
            eos_id=cap.tokenizer.eos_id,
            pad_id=cap._pad_id,
            max_new_tokens=16,
            temperature=0.0,
            top_p=0.75,
            seed=0,
            compact_fraction=compact_fraction,
        )
    assert fast == plain
    assert len({len(r) for r in plain}) >= 2  # rows really finish at different times
    if compact_fraction < 1:
        assert selections and all(n < 9 for n in selections)  # the batch shrank while decoding
    else:
        assert selections == []  # 1.0: the batch runs whole until every row is done


def test_sampling_matches_the_plain_path_row_by_row(mullama):
    x, qs = features(mullama, 5, seed=1), questions(5)
    kw = dict(max_new_tokens=10, temperature=0.9, top_p=0.9, seed=[3, 4, 5, 6, 7])
    assert mullama.generate(x, qs, **kw).token_ids == mullama.generate(x, qs, fast=False, **kw).token_ids


def test_limits_and_compile_needs_cuda(mullama):
    x = features(mullama, 2)
    assert mullama.generate(x, max_new_tokens=0).token_ids == [[], []]
    assert [len(t) for t in mullama.generate(x, max_new_tokens=3).token_ids] == [3, 3]
    with pytest.raises(UserError, match="CUDA"):
        mullama.generate(x, max_new_tokens=3, compile_step=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fast_and_compiled_paths_on_cuda_float32(tmp_path):
    files = write_tiny_mullama(tmp_path)
    cap = MusiSceneCaptioner.from_mullama(files.checkpoint, files.llama_dir, files.tokenizer, device="cuda", dtype="float32")
    x, qs = features(cap, 7), questions(7)
    plain = cap.generate(x, qs, max_new_tokens=14, fast=False).token_ids
    assert cap.generate(x, qs, max_new_tokens=14).token_ids == plain
    assert cap.generate(x, qs, max_new_tokens=14, compile_step=True).token_ids == plain
