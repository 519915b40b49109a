"""`musiscene build-dataset`: videos -> (video caption, music caption) -> scene caption rows for training."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from musiscene_core.data.build_config import BuildDatasetConfig


def build_dataset(
    src: str = typer.Argument(
        ..., help="Videos: folder, s3://bucket/prefix, or CSV/Parquet manifest with 'uri' and optional 'start'/'end' seconds."
    ),
    out: str = typer.Option(..., "--out", "-o", help="Output folder (local or s3://)."),
    llm_endpoint: str = typer.Option(
        None, "--llm-endpoint", help="OpenAI-compatible base URL (vLLM, TGI, llama.cpp server), e.g. http://host:8000/v1."
    ),
    llm_model: str = typer.Option(
        None,
        "--llm-model",
        help="Model name served by --llm-endpoint; without an endpoint, a local transformers model directory or hub id.",
    ),
    llm_api_key_env: str = typer.Option(
        None, "--llm-api-key-env", help="Environment variable holding the endpoint's API key. [default: MUSISCENE_LLM_API_KEY]"
    ),
    llm_timeout: float = typer.Option(None, "--llm-timeout", help="Seconds per LLM request attempt. [default: 60]"),
    llm_retries: int = typer.Option(
        None, "--llm-retries", help="Retries after a timeout, connection error, 429 or 5xx (exponential backoff). [default: 3]"
    ),
    llm_concurrency: int = typer.Option(None, "--llm-concurrency", help="LLM requests in flight per fusion actor. [default: 8]"),
    video_captioner: str = typer.Option(
        None, "--video-captioner", help="'tiny', a model directory or a hub id. [default: microsoft/git-base-vatex]"
    ),
    model: str = typer.Option(
        None, "--model", "-m", help="Music captioner: preset (mu-llama, musiscene, tiny) or model directory. [default: mu-llama]"
    ),
    music_question: str = typer.Option(
        None, "--music-question", help="Question asked of the music captioner. [default: Describe the music in detail.]"
    ),
    frames: int = typer.Option(None, "--frames", help="Frames sampled per clip. [default: 6]"),
    prompt: str = typer.Option(None, "--prompt", help="Fusion prompt template file. [default: the built-in scene_fusion_v1]"),
    splits: str = typer.Option(None, "--splits", help="train,validation,test fractions by source video. [default: 0.8,0.1,0.1]"),
    split_seed: int = typer.Option(None, "--split-seed", help="Seed of the split assignment. [default: 0]"),
    max_clip_seconds: float = typer.Option(
        None, "--max-clip-seconds", help="Longer clips become too_long error rows. [default: 600]"
    ),
    config_file: str = typer.Option(
        None, "--config", help="YAML file of BuildDatasetConfig options; command-line options override it."
    ),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint for s3:// paths."),
    ray_address: str = typer.Option(
        None, "--ray-address", help="Existing Ray cluster (e.g. ray://head:10001 or auto); default: local Ray."
    ),
    gpus_per_actor: float = typer.Option(
        None, "--gpus-per-actor", help="GPUs per captioning actor; default 1 when the cluster has GPUs, else CPU."
    ),
    caption_actors: int = typer.Option(None, "--caption-actors", help="Captioning actor pool size."),
    batch_size: int = typer.Option(None, "--batch-size", help="Clips per model batch."),
    shard_rows: int = typer.Option(None, "--shard-rows", help="Rows per committed Parquet shard."),
    retry_errors: bool = typer.Option(
        False, "--retry-errors", help="Attempt clips whose LLM fusion failed in earlier runs again."
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild clips already built with the same models and prompt."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Caption the video and the music of every clip and fuse them into scene captions with an LLM; resumable: rerun to continue."""
    overrides = dict(
        llm_endpoint=llm_endpoint,
        llm_model=llm_model,
        llm_api_key_env=llm_api_key_env,
        llm_timeout_s=llm_timeout,
        llm_retries=llm_retries,
        llm_concurrency=llm_concurrency,
        video_captioner=video_captioner,
        model=model,
        music_question=music_question,
        frames=frames,
        prompt=prompt,
        splits=splits,
        split_seed=split_seed,
        max_clip_seconds=max_clip_seconds,
        endpoint_url=endpoint_url,
        ray_address=ray_address,
        gpus_per_actor=gpus_per_actor,
        caption_actors=caption_actors,
        model_batch_size=batch_size,
        shard_rows=shard_rows,
        retry_errors=retry_errors or None,
        force=force or None,
    )
    if config_file:
        config = BuildDatasetConfig.from_yaml(config_file, src=src, dst=out, **overrides)
    else:
        config = BuildDatasetConfig(src=src, dst=out, **{k: v for k, v in overrides.items() if v is not None}).validate()
    summary = run_build(config, quiet=as_json)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        print_build_summary(Console(), summary)


def run_build(config: BuildDatasetConfig, quiet: bool = False) -> dict:
    from musiscene_core.pipelines.build_dataset import run

    progress = Progress(
        TextColumn("building"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet,
    )
    task = progress.add_task("build", total=None)

    def on_progress(done: int, total: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done, total=total)

    try:
        result = run(config, on_progress=on_progress)
    finally:
        if progress.live.is_started:  # stopping a bar never shown would print an empty line before an error
            progress.stop()
    return result.as_dict()


def print_build_summary(console: Console, summary: dict) -> None:
    table = Table(title="build-dataset run", show_header=False)
    table.add_row("output", summary["output"])
    table.add_row("models", f"video {summary['video_captioner']}, music {summary['music_model']}, LLM {summary['llm_model']}")
    table.add_row("prompt", summary["prompt_version"])
    splits = summary["splits"]
    table.add_row(
        "clips ok", f"{summary['ok']} (train {splits['train']}, validation {splits['validation']}, test {splits['test']})"
    )
    errors = summary["errors"]
    table.add_row(
        "clips failed", f"{summary['failed']}" + (f" ({', '.join(f'{k}: {v}' for k, v in errors.items())})" if errors else "")
    )
    table.add_row("duplicates dropped", str(summary["duplicates"]))
    table.add_row("clips skipped (already built)", str(summary["skipped"]))
    tokens = summary["llm_tokens"]
    table.add_row("LLM tokens", f"{tokens['total']:,} (prompt {tokens['prompt']:,}, completion {tokens['completion']:,})")
    table.add_row("time", f"{summary['seconds']:.1f} s")
    if summary.get("dataset"):
        d = summary["dataset"]
        table.add_row(
            "dataset now",
            f"{d['ok']} clips ok (train {d['splits']['train']}, validation {d['splits']['validation']}, "
            f"test {d['splits']['test']}), {d['failed']} failed, {d['duplicates']} duplicates",
        )
    console.print(table)
    if summary.get("random_weights"):
        console.print(
            "[yellow]Random tiny weights were used: the captions show the pipeline works, not what the videos hold.[/yellow]"
        )
