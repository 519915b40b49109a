"""The `musiscene` command. Each command group lives in `musiscene_core.commands`; this file only assembles them."""

from __future__ import annotations

import sys

import typer

from musiscene_core.errors import UserError

app = typer.Typer(
    name="musiscene",
    help="Scene captions and scene search for music catalogs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from musiscene_core.commands import caption, catalog, demo, models, search, submit, tag, train

    app.command("demo")(demo.demo)
    app.add_typer(catalog.app, name="catalog")
    app.command("tag")(tag.tag)
    search.register(app)
    app.command("caption")(caption.caption)
    app.add_typer(models.app, name="models")
    app.command("train")(train.train)
    app.command("train-demo")(train.train_demo)
    submit.register(app)


def main(argv: list[str] | None = None) -> None:
    _register()
    try:
        app(args=argv, standalone_mode=True)
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
