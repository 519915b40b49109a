"""`musiscene catalog scan`: list, identify and validate every file of a catalog."""

from __future__ import annotations

import json
import os
import posixpath

import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from musiscene_core.catalog import list_tracks, open_location
from musiscene_core.catalog.scan import ScanSummary, rows_to_table, scan_tracks
from musiscene_core.errors import UserError

app = typer.Typer(help="Inspect music catalogs.", no_args_is_help=True)


@app.command("scan")
def scan(
    src: str = typer.Argument(..., help="Folder, s3://bucket/prefix, or a CSV/Parquet manifest with a 'uri' column."),
    out: str = typer.Option(
        None, "--out", "-o", help="Where to write the Parquet manifest (local or s3://); none is written without it."
    ),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint (MinIO, Ceph, ...)."),
    min_seconds: float = typer.Option(1.0, "--min-seconds", min=0.0, help="Shorter tracks are reported as too_short."),
    workers: int = typer.Option(os.cpu_count() or 2, "--workers", min=1, help="Files decoded in parallel."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of a table."),
) -> None:
    """Decode every audio file once: one manifest row per file (ok or error with a reason), then a summary."""
    console = Console(stderr=True)
    listing = list_tracks(src, endpoint_url)
    out_location = open_location(out, endpoint_url) if out else None
    summary = ScanSummary(skipped_non_audio=listing.skipped_non_audio)
    rows = []
    with Progress(
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json or not console.is_terminal,
    ) as progress:
        task = progress.add_task("scan", total=len(listing.tracks))
        for row in scan_tracks(listing.tracks, min_seconds=min_seconds, workers=workers):
            rows.append(row)
            summary.add(row)
            progress.advance(task)
    if out_location is not None:
        _write_manifest(rows, out_location)
    result = summary.as_dict() | {
        "manifest": out_location.uri(out_location.root) if out_location else None,
        "skipped_paths": dict(sorted(listing.skipped_paths.items())),
    }
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        _print_summary(Console(), result)


def _write_manifest(rows, location) -> None:
    parent = posixpath.dirname(location.root)
    try:
        if parent and not location.is_remote:
            location.fs.makedirs(parent, exist_ok=True)
        with location.fs.open(location.root, "wb") as handle:
            pq.write_table(rows_to_table(rows), handle)
    except OSError as exc:
        raise UserError(f"cannot write the manifest to {location.uri(location.root)!r}: {exc}") from exc


def _print_summary(console: Console, result: dict) -> None:
    table = Table(title="catalog scan", show_header=False)
    table.add_row("files", str(result["files"]))
    table.add_row("ok", str(result["ok"]))
    errors = result["errors"]
    table.add_row("errors", ", ".join(f"{k}: {v}" for k, v in errors.items()) if errors else "0")
    table.add_row("duplicates", str(result["duplicates"]))
    table.add_row("audio hours", f"{result['audio_hours']:.3f}")
    table.add_row("formats", ", ".join(f"{k}: {v}" for k, v in result["formats"].items()) or "-")
    if result["skipped_non_audio"]:
        table.add_row("non-audio files skipped", str(result["skipped_non_audio"]))
    if result["skipped_paths"]:
        table.add_row("paths skipped", ", ".join(f"{k}: {v}" for k, v in result["skipped_paths"].items()))
    table.add_row("manifest", result["manifest"] or "not written (use --out FILE)")
    console.print(table)
