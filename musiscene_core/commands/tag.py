"""`musiscene tag`: caption a whole catalog into Parquet tables and FAISS indexes."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from musiscene_core.errors import UserError
from musiscene_core.tagging.config import TagConfig


def tag(
    src: str = typer.Argument(..., help="Catalog: folder, s3://bucket/prefix, or CSV/Parquet manifest with a 'uri' column."),
    out: str = typer.Option(None, "--out", "-o", help="Output folder (local or s3://); required unless --plan."),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Preset (musiscene, mu-llama, tiny) or model directory; tiny has random weights, for trying the pipeline. [default: musiscene]",
    ),
    config_file: str = typer.Option(None, "--config", help="YAML file of TagConfig options; command-line options override it."),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint for SRC and --out."),
    ray_address: str = typer.Option(
        None, "--ray-address", help="Existing Ray cluster (e.g. ray://head:10001 or auto); default: local Ray."
    ),
    policy: str = typer.Option(
        None, "--policy", help="'whole' (windows over the whole track, default) or 'mu-llama' (first 60 s, as the reference)."
    ),
    question: str = typer.Option(None, "--question", help="Question asked of the captioner; default: the preset's."),
    gpus_per_actor: float = typer.Option(
        None, "--gpus-per-actor", help="GPUs per model actor (fractional allowed); default 1 when the cluster has GPUs, else CPU."
    ),
    mert_actors: int = typer.Option(None, "--mert-actors", help="MERT actor pool size."),
    caption_actors: int = typer.Option(None, "--caption-actors", help="Caption actor pool size."),
    batch_size: int = typer.Option(None, "--batch-size", help="Tracks per model batch."),
    shard_rows: int = typer.Option(None, "--shard-rows", help="Rows per committed Parquet shard."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", help="Caption length limit in tokens."),
    force: bool = typer.Option(False, "--force", help="Recompute tracks already tagged by this model version."),
    retry_errors: bool = typer.Option(
        False,
        "--retry-errors",
        help="Also retry unchanged files whose audio was unusable (reruns always retry transient errors).",
    ),
    no_index: bool = typer.Option(False, "--no-index", help="Do not build the FAISS indexes at the end."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    plan: bool = typer.Option(
        False, "--plan", help="Do not tag: profile a sample here and project time and cost of the whole run."
    ),
    cluster_gpus: int = typer.Option(
        None, "--cluster-gpus", help="With --plan: GPUs of the target cluster (default: this machine)."
    ),
    gpu_type: str = typer.Option(
        None, "--gpu-type", help="With --plan: the cluster's GPU, e.g. A10G, L40S, H100 (a label for the report)."
    ),
    price_per_gpu_hour: float = typer.Option(
        None, "--price-per-gpu-hour", help="With --plan: price of one GPU-hour, for the cost."
    ),
    sample: int = typer.Option(None, "--sample", help="With --plan: tracks to profile (default 100; all when fewer)."),
) -> None:
    """Decode, MERT, caption and embed every track of SRC on Ray; resumable: rerun to continue."""
    overrides = dict(
        model=model,
        endpoint_url=endpoint_url,
        ray_address=ray_address,
        policy=policy,
        question=question,
        gpus_per_actor=gpus_per_actor,
        mert_actors=mert_actors,
        caption_actors=caption_actors,
        model_batch_size=batch_size,
        shard_rows=shard_rows,
        max_new_tokens=max_new_tokens,
        force=force or None,
        retry_errors=retry_errors or None,
        build_index=False if no_index else None,
    )
    if not out and not plan:
        raise UserError("--out is required (where the tables and indexes go)")
    if config_file:
        config = TagConfig.from_yaml(config_file, src=src, dst=out, **overrides)
    else:
        config = TagConfig(src=src, dst=out, **{k: v for k, v in overrides.items() if v is not None}).validate()
    if plan:
        from musiscene_core.commands.tag_plan import plan_tag

        plan_tag(config, cluster_gpus, gpu_type, price_per_gpu_hour, sample, as_json)
        return
    summary = run_tag(config, quiet=as_json)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        print_tag_summary(Console(), summary)


def run_tag(config: TagConfig, quiet: bool = False) -> dict:
    from musiscene_core.pipelines.tag import run

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("tagging"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
    task = progress.add_task("tag", total=None)

    def on_progress(done: int, total: int) -> None:
        # The bar appears once the catalog is listed, so an early error prints alone.
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done, total=total)

    try:
        result = run(config, on_progress=on_progress)
    finally:
        progress.stop()
    return result.as_dict()


def print_tag_summary(console: Console, summary: dict) -> None:
    table = Table(title="tag run", show_header=False)
    table.add_row("output", summary["output"])
    table.add_row("model version", summary["model_version"])
    table.add_row("tracks ok", str(summary["ok"]))
    errors = summary["errors"]
    table.add_row(
        "tracks failed", f"{summary['failed']}" + (f" ({', '.join(f'{k}: {v}' for k, v in errors.items())})" if errors else "")
    )
    table.add_row("tracks skipped (already tagged)", str(summary["skipped"]))
    if summary.get("retried"):
        table.add_row("errors retried", str(summary["retried"]))
    if summary.get("deleted"):
        table.add_row("gone from the catalog (marked deleted)", str(summary["deleted"]))
    table.add_row("audio hours", f"{summary['audio_hours']:.3f}")
    table.add_row("time", f"{summary['seconds']:.1f} s")
    if summary["tracks_per_hour"]:
        table.add_row("tracks per hour", f"{summary['tracks_per_hour']:,.0f}")
    if summary.get("index"):
        index = summary["index"]
        table.add_row(
            "index", f"{index['rows']} tracks ({index['added_rows']} new), captions {index['captions']}, audio {index['audio']}"
        )
    console.print(table)
    if summary.get("random_weights"):
        console.print(
            "[yellow]Captions come from random tiny weights: they show the pipeline works, not what the music suits. "
            "Use --model musiscene or --model DIR for real weights.[/yellow]"
        )
