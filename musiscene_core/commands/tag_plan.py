"""`musiscene tag SRC --plan`: the planner's projection as a table or JSON."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from musiscene_core.tagging.config import TagConfig
from musiscene_core.tagging.planner import (
    DEFAULT_SAMPLE,
    NIGHT_HOURS,
    ClusterShape,
    plan_tagging,
)


def plan_tag(
    config: TagConfig,
    cluster_gpus: int | None,
    gpu_type: str | None,
    price_per_gpu_hour: float | None,
    sample: int | None,
    as_json: bool,
) -> None:
    shape = ClusterShape(gpus=cluster_gpus, gpu_type=gpu_type, price_per_gpu_hour=price_per_gpu_hour)
    console = Console(stderr=True)
    if not as_json:
        console.print(f"profiling up to {sample or DEFAULT_SAMPLE} tracks of {config.src} on this machine ...")
    projection = plan_tagging(config, shape, sample or DEFAULT_SAMPLE)
    if as_json:
        typer.echo(json.dumps(projection.as_dict(), indent=2))
        return
    p = projection.profile
    table = Table(title=f"tagging plan: {projection.target}", show_header=False)
    table.add_row("tracks", f"{projection.tracks_todo:,} to tag of {projection.tracks_listed:,} listed")
    table.add_row(
        "measured per track",
        f"decode {p.decode_s:.3f} s and write {p.write_s:.3f} s (CPU), MERT {p.mert_s:.3f} s, caption {p.caption_s:.3f} s, "
        f"embed {p.embed_s:.3f} s on {p.device}; model load {p.load_s:.1f} s",
    )
    table.add_row("wall time", f"{projection.wall_hours:.2f} h ({projection.seconds_per_track:.4f} s per track)")
    if projection.gpu_hours is not None:
        table.add_row("GPU-hours", f"{projection.gpu_hours:,.1f}")
        table.add_row(f"GPUs for one {NIGHT_HOURS:g}-hour night", str(projection.gpus_for_one_night))
    if projection.cost is not None:
        table.add_row(
            "cost",
            f"{projection.cost:,.2f} ({projection.cost_per_track:.6f} per track, "
            f"{projection.cost_per_million:,.0f} per million tracks)",
        )
    Console().print(table)
    Console().print("assumptions:\n" + "\n".join(f"  - {a}" for a in projection.assumptions))
