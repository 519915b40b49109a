"""`musiscene submit` and `musiscene jobs`: run the project's jobs on a Ray cluster through its job server."""

from __future__ import annotations

import json
import sys
import time

import typer
from rich.console import Console
from rich.table import Table

_ADDRESS_HELP = "The head's dashboard address, e.g. http://HEAD:8265 (default: $RAY_ADDRESS)."

jobs_app = typer.Typer(help="List, inspect, follow and stop jobs on a Ray cluster.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("submit", context_settings={"allow_interspersed_args": False})(submit)
    app.add_typer(jobs_app, name="jobs")


def _jobs(address: str | None):
    from musiscene_core.pipelines.submission import Jobs

    return Jobs(address)


def _write(chunk: str) -> None:
    sys.stdout.write(chunk)
    sys.stdout.flush()


def submit(
    command: list[str] = typer.Argument(
        None, help="The musiscene command to run on the cluster, after --: tag, index build, train, …"
    ),
    address: str = typer.Option(None, "--address", help=_ADDRESS_HELP),
    wait: bool = typer.Option(False, "--wait", help="Follow the job's logs to its end; exit 0 only when it succeeded."),
    working_dir: str = typer.Option(
        None, "--working-dir", help="Upload this folder as the job's working directory (e.g. a checkout)."
    ),
    env: list[str] = typer.Option(
        None, "--env", help="KEY=VALUE for the job's environment (repeatable), e.g. AWS_DEFAULT_REGION=us-east-1."
    ),
    pip: list[str] = typer.Option(None, "--pip", help="A pip requirement to install for the job (repeatable)."),
) -> None:
    """Submit `musiscene COMMAND ARGS…` as a Ray job: `musiscene submit --wait -- tag s3://b/music --out s3://b/tags`."""
    from musiscene_core.pipelines.submission import parse_env

    jobs = _jobs(address)
    job_id = jobs.submit(list(command or []), working_dir=working_dir, env=parse_env(env or []), pip=list(pip or []))
    typer.echo(f"submitted {job_id} to {jobs.address}", err=True)
    typer.echo(job_id)
    if wait:
        status = jobs.follow(job_id, _write)
        info = jobs.info(job_id)
        typer.echo(
            f"job {job_id} {status.lower()}" + (f": {info.message}" if status != "SUCCEEDED" and info.message else ""), err=True
        )
        raise typer.Exit(0 if status == "SUCCEEDED" else 1)


@jobs_app.command("list")
def list_jobs(
    address: str = typer.Option(None, "--address", help=_ADDRESS_HELP),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per job, one per line."),
) -> None:
    """Every job the cluster knows, oldest first."""
    jobs = _jobs(address).list_jobs()
    if as_json:
        for job in jobs:
            typer.echo(json.dumps(job.__dict__))
        return
    table = Table(title=f"jobs ({len(jobs)})")
    for column in ("job id", "status", "started", "entrypoint"):
        table.add_column(column)
    for job in jobs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.start_time)) if job.start_time else ""
        table.add_row(job.job_id, job.status, started, job.entrypoint)
    Console().print(table)


@jobs_app.command("status")
def status(
    job_id: str = typer.Argument(..., help="Submission id, as printed by submit."),
    address: str = typer.Option(None, "--address", help=_ADDRESS_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) and message."""
    info = _jobs(address).info(job_id)
    if as_json:
        typer.echo(json.dumps(info.__dict__))
    else:
        typer.echo(f"{info.job_id}\t{info.status}\t{info.message}")


@jobs_app.command("logs")
def logs(
    job_id: str = typer.Argument(..., help="Submission id."),
    address: str = typer.Option(None, "--address", help=_ADDRESS_HELP),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the job ends."),
) -> None:
    """The job's driver output so far (or followed to the end)."""
    jobs = _jobs(address)
    if follow:
        jobs.follow(job_id, _write)
    else:
        _write(jobs.logs(job_id))


@jobs_app.command("stop")
def stop(
    job_id: str = typer.Argument(..., help="Submission id."),
    address: str = typer.Option(None, "--address", help=_ADDRESS_HELP),
) -> None:
    """Ask the cluster to stop a job (its outputs stay; rerunning the same command resumes)."""
    stopped = _jobs(address).stop(job_id)
    typer.echo(f"{job_id}: {'stop requested' if stopped else 'already finished'}")
