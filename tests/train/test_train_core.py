"""The framework-free training core: schedule, scores, data order, trainable sets, export round trip."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from train_examples import synthetic_examples

from musiscene_core.errors import UserError
from musiscene_core.models import MUSISCENE_QUESTION, resolve_model
from musiscene_core.models.mullama.captioner import MusiSceneCaptioner
from musiscene_core.train import caption_scores
from musiscene_core.train.config import TrainConfig
from musiscene_core.train.dataset import epoch_order, micro_batches, read_rows, steps_per_epoch
from musiscene_core.train.export import export, trained_captioner
from musiscene_core.train.loop import Trainer
from musiscene_core.train.schedule import lr_at
from musiscene_core.train.trainable import configure, merge_lora


def _config(tmp_path, **overrides):
    options = dict(
        data="unused",
        base="unused",
        out=str(tmp_path / "out"),
        epochs=2,
        batch_size=4,
        lr=5e-3,
        warmup_epochs=0.5,
        eval_max_new_tokens=8,
        eval_limit=4,
    )
    options.update(overrides)
    return TrainConfig(**options).validate()


def _captioner(tiny_model):
    return resolve_model(str(tiny_model)).load_captioner(device="cpu")


def test_schedule_is_linear_warmup_then_half_cycle_cosine():
    assert lr_at(0.0, 1e-3, 0.0, 1.0, 5.0) == 0.0
    assert lr_at(0.5, 1e-3, 0.0, 1.0, 5.0) == pytest.approx(5e-4)
    assert lr_at(1.0, 1e-3, 0.0, 1.0, 5.0) == pytest.approx(1e-3)
    assert lr_at(3.0, 1e-3, 1e-5, 1.0, 5.0) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)
    assert lr_at(5.0, 1e-3, 1e-5, 1.0, 5.0) == pytest.approx(1e-5)


def test_bleu_and_scene_accuracy_from_additive_counts():
    refs = ["a calm night by the sea, waves rolling in", "a high speed chase through a neon city at night"]
    perfect = caption_scores.caption_counts(refs, refs)
    assert caption_scores.bleu(perfect) == pytest.approx(1.0)
    assert caption_scores.scene_accuracy(perfect) == 1.0
    wrong = caption_scores.caption_counts(["an epic battle on a vast plain", "the quiet shore at night"], refs)
    assert caption_scores.scene_accuracy(wrong) == 0.0
    assert caption_scores.bleu(wrong) == 0.0  # no 4-gram in common
    # Counts of two halves add up to the counts of the whole: what lets workers sum them.
    halves = caption_scores.caption_counts(refs[:1], refs[:1]) + caption_scores.caption_counts(["chase"], refs[1:])
    assert np.array_equal(halves, caption_scores.caption_counts([refs[0], "chase"], refs))
    short = caption_scores.caption_counts(["a calm night by the sea"], refs[:1])
    assert 0 < caption_scores.bleu(short) < 1  # brevity penalty
    assert caption_scores.bleu(short) == pytest.approx(math.exp(1 - 9 / 6))  # 6 words against 9


def test_two_workers_see_the_examples_one_worker_with_twice_the_batch_sees():
    order = epoch_order(40, epoch=3, seed=7)
    for step in range(steps_per_epoch(40, 8)):
        one = micro_batches(order, step, batch_size=8, world=1, rank=0, accum=1)
        two = [micro_batches(order, step, batch_size=4, world=2, rank=r, accum=1) for r in (0, 1)]
        accum = [micro_batches(order, step, batch_size=2, world=2, rank=r, accum=2) for r in (0, 1)]
        assert sorted(np.concatenate(one)) == sorted(np.concatenate([b for r in two for b in r]))
        assert sorted(np.concatenate(one)) == sorted(np.concatenate([b for r in accum for b in r]))
    assert not np.array_equal(epoch_order(40, 0, 7), epoch_order(40, 1, 7))
    with pytest.raises(UserError, match="fewer than one global batch"):
        steps_per_epoch(5, 8)


def test_dataset_rows_are_checked(tmp_path):
    good = tmp_path / "good.parquet"
    pq.write_table(
        pa.table({"track_id": ["a", None], "uri": [None, "x.wav"], "answer": ["s", "t"], "split": ["train", "test"]}), good
    )
    rows = read_rows(str(good))
    assert rows.column_names == ["track_id", "uri", "question", "answer", "split"]
    bad_split = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"track_id": ["a"], "answer": ["s"], "split": ["dev"]}), bad_split)
    with pytest.raises(UserError, match="unknown split"):
        read_rows(str(bad_split))
    no_audio = tmp_path / "noaudio.parquet"
    pq.write_table(pa.table({"answer": ["s"], "split": ["train"]}), no_audio)
    with pytest.raises(UserError, match="track_id' or a 'uri'"):
        read_rows(str(no_audio))


def _snapshot(captioner):
    return {name: p.detach().clone() for name, p in captioner.model.named_mullama_parameters().items()}


@pytest.mark.parametrize("train", ["adapter", "adapter+finetune"])
def test_only_the_chosen_parameters_change(tiny_model, tmp_path, train):
    captioner = _captioner(tiny_model)
    layers, hidden = captioner.config.adapter.mert_layers, captioner.config.adapter.mert_dim
    before = _snapshot(captioner)
    trainer = Trainer(
        _config(tmp_path, train=train, epochs=1),
        captioner,
        synthetic_examples(8, layers, hidden),
        synthetic_examples(0, layers, hidden),
    )
    trainer.run(lambda metrics, write: None)
    assert trainer.state.step == 2
    groups = {name: group for group, params in captioner.parameter_groups().items() for name in params}
    learning = {"adapter"} if train == "adapter" else {"adapter", "finetune"}
    after = _snapshot(captioner)
    for name, value in after.items():
        if groups[name] in learning:
            continue
        assert torch.equal(value, before[name]), f"{name} ({groups[name]}) changed"
    changed = {groups[n] for n in after if not torch.equal(after[n], before[n])}
    assert changed == learning


def test_trained_model_exports_to_mullama_format_with_the_same_captions(tiny_model, tmp_path):
    spec = resolve_model(str(tiny_model))
    captioner = spec.load_captioner(device="cpu")
    layers, hidden = captioner.config.adapter.mert_layers, captioner.config.adapter.mert_dim
    config = _config(tmp_path, epochs=1)
    trainer = Trainer(config, captioner, synthetic_examples(8, layers, hidden), synthetic_examples(4, layers, hidden, 100))
    trainer.run(lambda metrics, write: None)
    trainer.write_checkpoint(str(tmp_path / "ckpt"))

    restored = trained_captioner(config, spec, str(tmp_path / "ckpt"))
    paths = export(restored, spec, tmp_path / "exported", llama_changed=False)
    reloaded = MusiSceneCaptioner.from_mullama(
        paths["mullama_checkpoint"],
        paths["mullama_llama_dir"],
        tmp_path / "exported" / "mullama" / "LLaMA" / "tokenizer.model",
        device="cpu",
    )
    features = synthetic_examples(6, layers, hidden, 200).features.astype(np.float32)
    expected = captioner.generate(features, MUSISCENE_QUESTION, max_new_tokens=12)
    assert reloaded.generate(features, MUSISCENE_QUESTION, max_new_tokens=12).token_ids == expected.token_ids
    project = resolve_model(paths["model"]).load_captioner(device="cpu")
    assert project.generate(features, MUSISCENE_QUESTION, max_new_tokens=12).token_ids == expected.token_ids
    base = spec.load_captioner(device="cpu")
    assert base.next_token_logits(features).tolist() != captioner.next_token_logits(features).tolist()


def test_lora_option_trains_only_lora_and_merges_exactly(tiny_model, tmp_path):
    captioner = _captioner(tiny_model)
    trainable = configure(captioner, "adapter", lora_rank=2, lora_alpha=4.0)
    lora = [n for n in trainable if "lora_A." in n or "lora_B." in n]
    assert lora and all(".attention.w" in n for n in lora)
    with torch.no_grad():
        for name in lora:
            trainable[name].normal_(0, 0.1)  # both LoRA factors non-zero, so the merge has something to fold in
    features = synthetic_examples(3, captioner.config.adapter.mert_layers, captioner.config.adapter.mert_dim).features
    before = captioner.next_token_logits(features.astype(np.float32))
    assert merge_lora(captioner) == 4 * captioner.config.llama.n_layers
    np.testing.assert_allclose(captioner.next_token_logits(features.astype(np.float32)), before, rtol=1e-4, atol=1e-4)
