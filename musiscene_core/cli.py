"""The `musiscene` command. Each command group lives in `musiscene_core.commands`; this file only assembles them."""

from __future__ import annotations

import sys

import typer
from typer._click import exceptions as click_errors  # typer's own copy of click, whose errors it raises

from musiscene_core.errors import RunInterrupted, UserError

app = typer.Typer(
    name="musiscene",
    help="Scene captions and scene search for music catalogs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from musiscene_core.commands import caption, catalog, demo, models, repair, search, tag, train

    app.command("demo")(demo.demo)
    app.add_typer(catalog.app, name="catalog")
    app.command("tag")(tag.tag)
    app.command("repair")(repair.repair)
    search.register(app)
    app.command("caption")(caption.caption)
    app.add_typer(models.app, name="models")
    app.command("train")(train.train)
    app.command("train-demo")(train.train_demo)


def main(argv: list[str] | None = None) -> None:
    _register()
    try:
        # Not standalone: click's usage errors come back here, to be printed like every other error.
        code = app(args=argv, standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()  # the command's help, as for --help
        sys.exit(2)
    except click_errors.UsageError as exc:
        typer.echo(f"error: {' '.join(exc.format_message().split()).rstrip('.')} (see --help)", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except RunInterrupted as exc:
        typer.echo(f"interrupted: {exc}", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
