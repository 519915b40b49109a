"""`musiscene serve`: the search API and web page over one or more tagging outputs."""

from __future__ import annotations

import logging
import os

import typer

from musiscene_core.errors import UserError


def serve(
    index: list[str] = typer.Option(
        ..., "--index", help="Output folder holding index/ (local or s3://), as DST or NAME=DST; repeat for more catalogs."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; the default is reachable from this machine only."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="TCP port."),
    token_env: str = typer.Option(
        None, "--token-env", help="Name of an environment variable holding the token every request must bear."
    ),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint for s3:// indexes and audio."),
    reload_interval: float = typer.Option(
        10.0, "--reload-interval", min=0.0, help="Seconds between checks for rebuilt indexes (0: never reload)."
    ),
) -> None:
    """Serve scene search, more-like-this, audio previews and a web page over HTTP."""
    try:
        import uvicorn

        from musiscene_core.serve import CatalogRegistry, create_app, parse_index_option
    except ImportError as exc:
        raise UserError(
            f"`musiscene serve` needs the serve extra ({exc.name} is missing): pip install 'musiscene[serve]'"
        ) from exc
    token = _token(token_env)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    registry = CatalogRegistry()
    for value in index:
        name, dst = parse_index_option(value)
        catalog = registry.add(name, dst, endpoint_url)
        typer.echo(f"catalog {name}: {len(catalog.index):,} tracks from {dst}", err=True)
    app = create_app(registry, token=token, endpoint_url=endpoint_url, reload_interval=reload_interval or None)
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: serving on {host} without --token-env: anyone who reaches it can search and listen", err=True)
    typer.echo(f"serving on http://{host}:{port}/", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, timeout_graceful_shutdown=10)


def _token(variable: str | None) -> str | None:
    if variable is None:
        return None
    token = os.environ.get(variable, "")
    if not token:
        raise UserError(f"--token-env names {variable}, but that environment variable is empty or unset")
    if len(token) < 16:
        raise UserError(f"the token in {variable} is shorter than 16 characters; use a long random one")
    return token
