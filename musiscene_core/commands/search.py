"""`musiscene index build`, `musiscene search` and `musiscene similar`: scene search from the command line."""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from musiscene_core.index import IndexInfo, SceneIndex, SearchHit, build_index
from musiscene_core.index.recall import DEFAULT_RECALL_TARGET
from musiscene_core.index.selection import DEFAULT_FLAT_THRESHOLD, DEFAULT_MEMORY_BUDGET

index_app = typer.Typer(help="Build the FAISS scene indexes of a tagging run.", no_args_is_help=True)

_ENDPOINT_HELP = "S3-compatible endpoint (MinIO, Ceph, moto, ...) for an s3:// DST."

# The options `search` and `similar` share.
IndexDir = Annotated[str, typer.Option("--index", help="Output folder holding index/ (local or s3://).")]
TopK = Annotated[int, typer.Option("-k", "--top-k", min=1, help="Number of tracks to return.")]
MinDuration = Annotated[float | None, typer.Option("--min-duration", min=0.0, help="Shortest track, in seconds.")]
MaxDuration = Annotated[float | None, typer.Option("--max-duration", min=0.0, help="Longest track, in seconds.")]
EndpointUrl = Annotated[str | None, typer.Option("--endpoint-url", help=_ENDPOINT_HELP)]
AsJson = Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")]


def register(app: typer.Typer) -> None:
    """Add `index build`, `search` and `similar` to the `musiscene` app."""
    app.add_typer(index_app, name="index")
    app.command("search")(search)
    app.command("similar")(similar)


@index_app.command("build")
def build(
    dst: str = typer.Argument(..., help="Output folder of a tagging run (local or s3://)."),
    memory_budget: str = typer.Option(
        DEFAULT_MEMORY_BUDGET, "--memory-budget", help="Memory both indexes may take when loaded, e.g. 4GB, 512MiB."
    ),
    flat_threshold: int = typer.Option(
        DEFAULT_FLAT_THRESHOLD, "--flat-threshold", min=1, help="Below this many tracks search is exact."
    ),
    recall_target: float = typer.Option(
        DEFAULT_RECALL_TARGET, "--recall-target", min=0.0, max=1.0, help="recall@10 the search settings aim for."
    ),
    rebuild: bool = typer.Option(False, "--rebuild", help="Start from scratch instead of adding new tracks."),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help=_ENDPOINT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print index.json's content instead of a summary."),
) -> None:
    """Build DST/index/ from DST's tables, or add the tracks tagged since the last build."""
    console = Console(stderr=True)
    if not as_json:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    spinner = console.status("building the scene index") if console.is_terminal and not as_json else nullcontext()
    with spinner:
        info = build_index(
            dst,
            memory_budget,
            flat_threshold=flat_threshold,
            recall_target=recall_target,
            rebuild=rebuild,
            endpoint_url=endpoint_url,
        )
    if as_json:
        typer.echo(info.to_json(), nl=False)
    else:
        Console().print(_summary_table(dst, info))


def search(
    text: str = typer.Argument(..., help='Scene description, e.g. "a chase through neon-lit streets".'),
    index: IndexDir = ...,
    k: TopK = 10,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    endpoint_url: EndpointUrl = None,
    as_json: AsJson = False,
) -> None:
    """Tracks whose imagined scene best matches TEXT."""
    scene_index = SceneIndex.load(index, endpoint_url=endpoint_url)
    hits = scene_index.search(text, k=k, min_duration=min_duration, max_duration=max_duration)
    _output({"query": text}, index, k, hits, as_json)


def similar(
    track: str = typer.Argument(..., help="Track id (sha256), its uri as tagged, or an audio file already tagged."),
    index: IndexDir = ...,
    k: TopK = 10,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    endpoint_url: EndpointUrl = None,
    as_json: AsJson = False,
) -> None:
    """Tracks that sound most like TRACK (audio embeddings)."""
    scene_index = SceneIndex.load(index, endpoint_url=endpoint_url)
    # Resolve once: a file argument is hashed to find its track id.
    track_id = scene_index.track_id_at(scene_index.row_of(track))
    hits = scene_index.similar(track_id, k=k, min_duration=min_duration, max_duration=max_duration)
    _output({"track": track, "track_id": track_id}, index, k, hits, as_json)


def printable(text: str) -> str:
    """`text` safe for a terminal table: control characters (newlines, escape sequences) shown as
    escapes, and rich's markup brackets taken literally. Captions and file names are data, not layout."""
    return escape("".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text))


def print_hits(console: Console, title: str, hits: list[SearchHit]) -> None:
    """A table of hits: rank, score, track (uri), duration (m:ss), caption."""
    table = Table(title=printable(title), title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("score", justify="right")
    table.add_column("track", overflow="fold", ratio=2)
    table.add_column("duration", justify="right")
    table.add_column("caption", overflow="fold", ratio=3)
    for hit in hits:
        duration = "-" if hit.duration_s is None else f"{int(hit.duration_s // 60)}:{hit.duration_s % 60:04.1f}"
        table.add_row(str(hit.rank), f"{hit.score:.3f}", printable(hit.uri), duration, printable(hit.caption))
    console.print(table)
    if not hits:
        console.print("no track matches these filters")


def _output(query: dict, index: str, k: int, hits: list[SearchHit], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(query | {"index": index, "k": k, "hits": [hit.to_dict() for hit in hits]}, indent=2))
    else:
        print_hits(Console(), " ".join(f"{key}: {value}" for key, value in query.items()), hits)


def _summary_table(dst: str, info: IndexInfo) -> Table:
    table = Table(title=f"scene index of {dst}", show_header=False, title_justify="left")
    table.add_row("tracks", f"{info.rows:,} ({info.added_rows:,} added, {'rebuilt' if info.rebuilt else 'updated'})")
    for name, part in (("captions", info.captions), ("audio", info.audio)):
        params = ", ".join(f"{key}={value}" for key, value in part.search_params.items()) or "exact"
        table.add_row(
            name,
            f"{part.factory} ({params}), {part.dim}-d, recall@10 {part.recall_at_10:.3f}, {part.bytes / 1e6:.1f} MB",
        )
    if info.skipped:
        table.add_row("skipped", ", ".join(f"{count} {reason}" for reason, count in info.skipped.items()))
    table.add_row("build time", f"{info.build_seconds:.1f} s")
    return table
