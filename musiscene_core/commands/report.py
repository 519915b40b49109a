"""`musiscene report DST --out report.html`: the catalog overview as one standalone HTML file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from musiscene_core.errors import UserError


def report(
    dst: str = typer.Argument(..., help="A tagging output folder (local or s3://)."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="The HTML file to write."),
    clusters: int = typer.Option(6, "--clusters", min=1, help="Clusters of caption embeddings on the map."),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint for s3:// outputs."),
) -> None:
    """Counts, error kinds, audio hours, model versions, run throughput, the embedding map and scene words in one HTML file."""
    from musiscene_core.report.html import render
    from musiscene_core.report.overview import catalog_overview

    if out.is_dir():
        raise UserError(f"--out {str(out)!r} is a folder; name the HTML file to write")
    if not out.parent.exists():
        raise UserError(f"the folder of --out {str(out)!r} does not exist")
    overview = catalog_overview(dst, endpoint_url, clusters=clusters)
    out.write_text(render(overview), encoding="utf-8")
    Console().print(
        f"{overview.tracks} tracks ({overview.ok} ok, {overview.failed} failed), {len(overview.runs)} run(s) "
        f"-> {out} ({out.stat().st_size / 1e3:.0f} kB)"
    )
