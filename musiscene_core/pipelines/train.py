"""Ray Train runner of adapter fine-tuning: prepare once, train data-parallel, export the best model.

Thin by design: data preparation, the training loop, checkpoints, evaluation, export and the report
are `musiscene_core.train`; this module starts the workers (TorchTrainer: DDP over gloo on CPU or
NCCL on GPU), hands the loop Ray's checkpoint storage and picks the best checkpoint afterwards.

Resuming: checkpoints go to RunConfig(storage_path, name). Ray Train restores a run's checkpoint list
when a run with the same storage path and name starts again, so rerunning the same command continues
from the latest checkpoint; inside one run a crashed worker group is restarted from it too
(FailureConfig.max_failures).
"""

from __future__ import annotations

import os
import tempfile
import time

from musiscene_core.errors import UserError
from musiscene_core.models import resolve_model
from musiscene_core.pipelines.ray_init import init_ray
from musiscene_core.train.config import TrainConfig
from musiscene_core.train.dataset import steps_per_epoch
from musiscene_core.train.loop import SELECTION_SCORE, UNSCORED
from musiscene_core.train.prepare import claim_output, prepare
from musiscene_core.train.trainable import adapter_mert_shape

MAX_FAILURES = 2


def _storage(config: TrainConfig):
    """(storage_path, storage_filesystem) for RunConfig: a local absolute path, or s3:// (custom endpoint allowed)."""
    path = config.storage_path()
    if path.startswith("s3://"):
        if not config.endpoint_url:
            return path, None
        import pyarrow.fs

        return path[len("s3://") :], pyarrow.fs.S3FileSystem(endpoint_override=config.endpoint_url)
    return os.path.abspath(path), None


def _train_worker(loop_config: dict) -> None:
    """The per-worker function: load the base model and the prepared splits, resume, train, report."""
    import ray.train
    import ray.train.torch

    from musiscene_core.train.dataset import load_prepared
    from musiscene_core.train.loop import Trainer
    from musiscene_core.train.trainable import load_base

    config: TrainConfig = loop_config["config"]
    context = ray.train.get_context()
    device = ray.train.torch.get_device()
    captioner = load_base(loop_config["spec"], device)
    trainer = Trainer(
        config,
        captioner,
        load_prepared(config.out, "train", config.endpoint_url),
        load_prepared(config.out, "validation", config.endpoint_url),
        device,
        world=context.get_world_size(),
        rank=context.get_world_rank(),
    )
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as directory:
            trainer.restore(directory)
        if context.get_world_rank() == 0:
            print(f"resumed from step {trainer.state.step} of {trainer.total_steps}", flush=True)

    def report(metrics: dict, write_checkpoint) -> None:
        with tempfile.TemporaryDirectory() as directory:
            saved = None
            if write_checkpoint is not None:
                write_checkpoint(directory)
                saved = ray.train.Checkpoint.from_directory(directory)
            ray.train.report(metrics, checkpoint=saved, checkpoint_dir_name=f"checkpoint-{metrics['step']:07d}")

    every = max(1, trainer.total_steps // 20)

    def progress(row: dict) -> None:
        if context.get_world_rank() == 0 and (row["step"] % every == 0 or row["step"] == trainer.total_steps):
            print(f"step {row['step']}/{trainer.total_steps}  loss {row['train_loss']:.4f}  lr {row['lr']:.2e}", flush=True)

    trainer.run(report, on_step=progress)


def _best_checkpoint(result):
    """The checkpoint with the best selection score among the evaluated ones; the latest when none is."""
    scored = [
        (c, m[SELECTION_SCORE])
        for c, m in (result.best_checkpoints or [])
        if isinstance(m.get(SELECTION_SCORE), (int, float)) and m[SELECTION_SCORE] > UNSCORED
    ]
    if not scored:
        return result.checkpoint
    return max(scored, key=lambda item: item[1])[0]


def run(config: TrainConfig, on_event=None) -> dict:
    """Prepare, train and export; returns the summary (also written to OUT/report/summary.json)."""
    import ray.train
    from ray.train.torch import TorchTrainer

    from musiscene_core.train.export import export_to, trained_captioner
    from musiscene_core.train.loop import STATE_FILE, TrainState
    from musiscene_core.train.report import summarize, write_report

    started = time.time()
    config.validate()
    say = on_event or (lambda message: None)
    spec = resolve_model(config.base, question=config.question)
    claim_output(config)
    layers, hidden = adapter_mert_shape(spec)
    say(f"preparing {config.data} (features cached in {config.features or config.out}) ...")
    prepared = prepare(config, spec, layers, hidden, on_progress=lambda done, total: say(f"  MERT features {done}/{total}"))
    say(
        f"examples: {prepared.counts}; features reused {prepared.reused}, extracted {prepared.extracted}"
        + (f"; dropped {prepared.dropped}" if prepared.dropped else "")
    )
    steps_per_epoch(prepared.counts["train"], config.global_batch)  # fails early, with a clear message

    init_ray(config.ray_address, log_to_driver=True)  # the workers print the training progress
    resources = ray.cluster_resources()
    use_gpu = config.use_gpu if config.use_gpu is not None else resources.get("GPU", 0) > 0
    kind = "GPU" if use_gpu else "CPU"
    if config.ray_address is None and resources.get(kind, 0) < config.workers:
        # On this machine Ray Train would wait for them forever (a cluster may autoscale, so it is not checked there).
        raise UserError(f"{config.workers} workers need {config.workers} {kind}s; the Ray cluster has {resources.get(kind, 0):g}")
    storage_path, filesystem = _storage(config)
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"config": config, "spec": spec},
        scaling_config=ray.train.ScalingConfig(num_workers=config.workers, use_gpu=use_gpu),
        run_config=ray.train.RunConfig(
            name=config.name,
            storage_path=storage_path,
            storage_filesystem=filesystem,
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=config.keep_checkpoints, checkpoint_score_attribute=SELECTION_SCORE, checkpoint_score_order="max"
            ),
            failure_config=ray.train.FailureConfig(max_failures=MAX_FAILURES),
        ),
    )
    say(f"training on {config.workers} worker(s) ({kind}), checkpoints in {config.storage_path()}/{config.name}")
    try:
        result = trainer.fit()
    except ray.train.TrainingFailedError as exc:
        raise UserError(f"training failed: {str(exc).strip().splitlines()[-1]}") from exc
    if result.checkpoint is None:
        raise UserError("training ended without a checkpoint")
    with result.checkpoint.as_directory() as directory:
        state = TrainState.from_json(open(os.path.join(directory, STATE_FILE)).read())
    best = _best_checkpoint(result)
    with best.as_directory() as directory:
        captioner = trained_captioner(config, spec, directory)
    say("exporting the trained model ...")
    exported = export_to(captioner, spec, config.out, config.endpoint_url, llama_changed=config.lora_rank > 0)
    summary = summarize(state.history, config, config.workers, state.best, wall_seconds=time.time() - started)
    summary.update(
        exported=exported,
        examples=prepared.counts,
        features_extracted=prepared.extracted,
        features_reused=prepared.reused,
        dropped=prepared.dropped,
        base=spec.name,
        best_checkpoint=(f"s3://{best.path}" if config.storage_path().startswith("s3://") else best.path),
        checkpoints=f"{config.storage_path()}/{config.name}",
    )
    summary["report"] = write_report(config.out, state.history, summary, config.endpoint_url)
    return summary
