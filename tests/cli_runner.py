"""Running the `musiscene` command in the test process with typer's CliRunner.

The app is the console script's own (`musiscene_core.cli.get_app`), so a UserError becomes
`error: ...` on stderr and exit status 2 exactly as in a real process. Tests whose subject is
process behaviour (kill -9 and resume, Ray started per run, memory limits) run real subprocesses.
"""

from __future__ import annotations

from typer.testing import CliRunner

from musiscene_core.cli import get_app


def musiscene(*args, env: dict | None = None):
    """Run `musiscene ARGS`; returns the Result (exit_code, stdout, stderr, exception)."""
    return CliRunner().invoke(get_app(), [str(a) for a in args], env=env)
