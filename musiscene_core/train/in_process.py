"""Adapter training in this process, without Ray: the framework-free loop on one worker.

For small runs that must not start a cluster: building the `tiny-scenes` preset on first use from a
library call (a notebook, `musiscene tag --model tiny-scenes`). One process with global batch B
follows the same optimisation path as N Ray Train workers with batch B / N (the loss is the token
mean over the whole global batch; tested in the training tests), so a run here trains the model the
Ray job would. No checkpoints are kept on disk: the best epoch's trained tensors are kept in memory
and exported, with the same report as the Ray job's.
"""

from __future__ import annotations

import tempfile
import time

import torch

from musiscene_core.errors import UserError
from musiscene_core.models.presets import resolve_model
from musiscene_core.train.config import TrainConfig
from musiscene_core.train.dataset import load_prepared
from musiscene_core.train.loop import SELECTION_SCORE, UNSCORED, Trainer
from musiscene_core.train.prepare import claim_output, prepare
from musiscene_core.train.trainable import adapter_mert_shape, load_base


def run_in_process(config: TrainConfig, on_event=None) -> dict:
    """Prepare, train on one process (CPU), export the best epoch; returns the summary like the Ray job's `run`."""
    from musiscene_core.train.export import export_to, trained_captioner
    from musiscene_core.train.report import summarize, write_report

    started = time.time()
    config.validate()
    if config.workers != 1:
        raise UserError("in-process training runs one worker; set the global batch with --batch-size")
    say = on_event or (lambda message: None)
    spec = resolve_model(config.base, question=config.question)
    claim_output(config)
    layers, hidden = adapter_mert_shape(spec)
    prepared = prepare(config, spec, layers, hidden)
    say(f"examples: {prepared.counts}; features reused {prepared.reused}, extracted {prepared.extracted}")
    captioner = load_base(spec, torch.device("cpu"))
    trainer = Trainer(
        config,
        captioner,
        load_prepared(config.out, "train", config.endpoint_url),
        load_prepared(config.out, "validation", config.endpoint_url),
        "cpu",
    )
    every = max(1, trainer.total_steps // 10)

    def progress(row: dict) -> None:
        if row["step"] % every == 0 or row["step"] == trainer.total_steps:
            say(f"  step {row['step']}/{trainer.total_steps}  loss {row['train_loss']:.4f}")

    with tempfile.TemporaryDirectory() as scratch:
        best = {"score": UNSCORED}

        def report(metrics: dict, write_checkpoint) -> None:
            # Only epoch-end reports carry a selection score; of equal scores the earliest epoch is kept.
            if metrics[SELECTION_SCORE] > best["score"]:
                best["score"] = metrics[SELECTION_SCORE]
                write_checkpoint(scratch)

        trainer.run(report, on_step=progress)
        if best["score"] == UNSCORED:
            trainer.write_checkpoint(scratch)
        exported = export_to(
            trained_captioner(config, spec, scratch), spec, config.out, config.endpoint_url, llama_changed=config.lora_rank > 0
        )
    summary = summarize(trainer.state.history, config, 1, trainer.state.best, wall_seconds=time.time() - started)
    summary.update(
        exported=exported,
        examples=prepared.counts,
        features_extracted=prepared.extracted,
        features_reused=prepared.reused,
        dropped=prepared.dropped,
        base=spec.name,
    )
    summary["report"] = write_report(config.out, trainer.state.history, summary, config.endpoint_url)
    return summary
