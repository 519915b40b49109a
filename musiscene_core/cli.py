"""The `musiscene` command. Each command group lives in `musiscene_core.commands`; this file only assembles them."""

from __future__ import annotations

import sys

import typer
from typer._click import exceptions as click_errors  # typer's own copy of click, whose errors it raises
from typer.core import TyperGroup

from musiscene_core.errors import RunInterrupted, UserError


class _MusisceneGroup(TyperGroup):
    """A UserError raised by any command below becomes one sentence on stderr and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    name="musiscene",
    cls=_MusisceneGroup,
    help="Scene captions and scene search for music catalogs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def get_app() -> typer.Typer:
    """The app with every command registered (once); what the console script and CliRunner tests run."""
    if not app.registered_commands:
        from musiscene_core.commands import (
            build_dataset,
            caption,
            catalog,
            demo,
            evaluate,
            models,
            repair,
            report,
            search,
            serve,
            soundtrack,
            submit,
            tag,
            train,
        )

        app.command("demo")(demo.demo)
        app.add_typer(catalog.app, name="catalog")
        app.command("tag")(tag.tag)
        app.command("repair")(repair.repair)
        search.register(app)
        app.command("caption")(caption.caption)
        app.add_typer(models.app, name="models")
        app.command("train")(train.train)
        app.command("train-demo")(train.train_demo)
        app.add_typer(evaluate.app, name="evaluate")
        app.command("soundtrack")(soundtrack.soundtrack)
        app.command("serve")(serve.serve)
        app.command("build-dataset")(build_dataset.build_dataset)
        app.command("report")(report.report)
        submit.register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    try:
        # Not standalone: click's usage errors come back here, to be printed like every other error.
        code = get_app()(args=argv, standalone_mode=False)
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
