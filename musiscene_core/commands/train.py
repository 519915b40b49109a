"""`musiscene train` (fine-tune the music adapter with Ray Train) and `musiscene train-demo` (show that it learns)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from musiscene_core.train.config import TrainConfig


def train(
    data: str = typer.Option(None, "--data", help="Parquet file or folder of {track_id|uri, question, answer, split} rows."),
    base: str = typer.Option(None, "--base", help="Preset name or model directory to start from."),
    out: str = typer.Option(None, "--out", help="Output folder: prepared data, features cache, report, exported model."),
    features: str = typer.Option(None, "--features", help="A tagging output folder whose features table to reuse."),
    policy: str = typer.Option(
        None, "--policy", help="Window policy of the features: 'whole' (default) or 'mu-llama'; use the one you tag with."
    ),
    window_s: float = typer.Option(None, "--window-s", help="Window length in seconds for --policy whole (default 30)."),
    hop_s: float = typer.Option(None, "--hop-s", help="Hop between windows in seconds for --policy whole (default 30)."),
    storage: str = typer.Option(None, "--storage", help="Where checkpoints go (local or s3://); default: OUT."),
    name: str = typer.Option(None, "--name", help="Run name under the storage path; the same name resumes (default: run)."),
    workers: int = typer.Option(None, "--workers", help="Ray Train workers (data-parallel)."),
    gpu: bool = typer.Option(None, "--gpu/--cpu", help="Train on GPUs or CPUs (default: GPUs when the cluster has them)."),
    epochs: int = typer.Option(None, "--epochs"),
    lr: float = typer.Option(None, "--lr", help="Absolute peak learning rate (default: blr x global batch / 256)."),
    blr: float = typer.Option(None, "--blr", help="Base learning rate (MU-LLaMA: 1e-3)."),
    warmup_epochs: float = typer.Option(None, "--warmup-epochs"),
    batch_size: int = typer.Option(None, "--batch-size", help="Examples per worker per micro-batch."),
    grad_accum: int = typer.Option(None, "--grad-accum", help="Micro-batches per optimizer step."),
    train_what: str = typer.Option(None, "--train", help="adapter (default) or adapter+finetune."),
    lora_rank: int = typer.Option(None, "--lora-rank", help="Add peft LoRA of this rank on LLaMA's attention (0: none)."),
    center_adapter: bool = typer.Option(
        None, "--center-adapter", help="Centre a randomly initialised adapter's projection on the training features first."
    ),
    checkpoint_every: int = typer.Option(None, "--checkpoint-every", help="Optimizer steps between checkpoints."),
    select_by: str = typer.Option(None, "--select-by", help="val_loss, bleu or scene_accuracy: which epoch is exported."),
    eval_limit: int = typer.Option(None, "--eval-limit", help="Validation examples captioned per epoch (default: all)."),
    seed: int = typer.Option(None, "--seed"),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint for s3:// paths."),
    ray_address: str = typer.Option(None, "--ray-address", help="Join this Ray cluster instead of starting one."),
    config: Path = typer.Option(None, "--config", help="YAML file of options; command-line options override it."),
) -> None:
    """Fine-tune the music adapter (LLaMA frozen) on a scene-caption dataset with Ray Train; rerun to resume."""
    from musiscene_core.pipelines.train import run

    overrides = dict(
        data=data,
        base=base,
        out=out,
        features=features,
        policy=policy,
        window_s=window_s,
        hop_s=hop_s,
        storage=storage,
        name=name,
        workers=workers,
        use_gpu=gpu,
        epochs=epochs,
        lr=lr,
        blr=blr,
        warmup_epochs=warmup_epochs,
        batch_size=batch_size,
        grad_accum=grad_accum,
        train=train_what,
        lora_rank=lora_rank,
        center_adapter=center_adapter,
        checkpoint_every=checkpoint_every,
        select_by=select_by,
        eval_limit=eval_limit,
        seed=seed,
        endpoint_url=endpoint_url,
        ray_address=ray_address,
    )
    if config is not None:
        cfg = TrainConfig.from_yaml(config, **overrides)
    else:
        cfg = TrainConfig.from_options({k: v for k, v in overrides.items() if v is not None})
    console = Console()
    summary = run(cfg, on_event=console.print)
    print_summary(console, summary)


def print_summary(console: Console, summary: dict) -> None:
    from musiscene_core.train.report import markdown

    console.print(markdown(summary))
    console.print(
        f"model: {summary['exported']['model']}\nMU-LLaMA checkpoint: {summary['exported']['mullama_checkpoint']}\n"
        f"report: {summary['report']}"
    )


def train_demo(
    workdir: Path = typer.Option(Path("musiscene-train-demo"), "--workdir", help="Where the data, models and outputs go."),
    pieces: int = typer.Option(None, "--pieces", help="Synthetic pieces in the catalog."),
    workers: int = typer.Option(2, "--workers", help="Ray Train workers."),
    epochs: int = typer.Option(None, "--epochs"),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, the tiny models, pretraining and training."),
) -> None:
    """Generate scene music, train the tiny preset's adapter on 2 CPU workers and compare it with the untrained model."""
    from musiscene_core.pipelines.train import run
    from musiscene_core.train.demo import DemoSettings, run_demo

    settings = DemoSettings(workdir=workdir, workers=workers, seed=seed)
    if pieces is not None:
        settings.pieces = pieces
    if epochs is not None:
        settings.epochs = epochs
    console = Console()
    result = run_demo(settings, run, say=console.print)
    console.print(result["markdown"])
    console.print(json.dumps({k: result[k] for k in ("untrained", "trained", "seconds")}, indent=2))
