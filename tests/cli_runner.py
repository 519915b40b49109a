"""Running the `musiscene` command in the test process.

`musiscene` uses typer's CliRunner on the console script's own app (`musiscene_core.cli.get_app`), so a
UserError becomes `error: ...` on stderr and exit status 2 exactly as in a real process. `main_exit`
calls the entry point itself (`musiscene_core.cli.main`), whose handling of usage errors and
interruptions is then part of what runs. Tests whose subject is process behaviour (kill -9 and
resume, Ray started per run, memory limits) run real subprocesses.
"""

from __future__ import annotations

from typer.testing import CliRunner

from musiscene_core.cli import get_app, main


def musiscene(*args, env: dict | None = None):
    """Run `musiscene ARGS`; returns the Result (exit_code, stdout, stderr, exception)."""
    return CliRunner().invoke(get_app(), [str(a) for a in args], env=env)


def main_exit(capsys, *args) -> tuple[int, str, str]:
    """Run `musiscene ARGS` through `musiscene_core.cli.main`: (exit status, stdout, stderr)."""
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
