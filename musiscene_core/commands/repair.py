"""`musiscene repair DST`: set damaged shards and indexes of an output folder aside (see tagging.repair)."""

from __future__ import annotations

import json
import time
import uuid

import typer

from musiscene_core.tagging.lock import OutputLock
from musiscene_core.tagging.repair import repair as repair_output
from musiscene_core.tagging.store import OutputStore


def repair(
    dst: str = typer.Argument(..., help="Output folder of `musiscene tag` (local or s3://)."),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint for an s3:// DST."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Move shards that cannot be read (and the index, if damaged) to DST/quarantine/; the next run recomputes their tracks."""
    store = OutputStore.open(dst, endpoint_url)
    # Never move files under a running job: repair holds the folder's lock like a run does.
    with OutputLock.acquire(store.location, f"repair-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"):
        report = repair_output(store.location)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    if not report.damaged:
        typer.echo(f"{report.checked} shard(s) checked; nothing is damaged")
        return
    for path in report.damaged:
        typer.echo(f"damaged: {path}")
    typer.echo(
        f"{len(report.moved)} file(s) moved to {store.uri}/quarantine/; rerun `musiscene tag` to recompute their tracks"
        + (" and rebuild the index" if report.index_set_aside else "")
    )
