"""Ray Job Submission for the project's jobs: submit, follow, inspect and stop jobs on a running cluster.

A job's entrypoint is `python -m musiscene_core COMMAND ARGS…`, so it runs with the Python of the
cluster's image (the one that runs Ray and has the project installed), never a console script
looked up on PATH. Every failure a user can act on (no address, unreachable head, a token the head
refuses, an unknown job id) becomes a one-sentence `UserError`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from musiscene_core.errors import UserError

# The jobs that start Ray themselves: inside a submitted job they must join the cluster they run on
# (the job's environment names it in RAY_ADDRESS), never start a private Ray on the head node.
JOINS_CLUSTER = ("tag", "train")
# Keeps Ray from reporting usage from the cluster's processes started for the job.
DEFAULT_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def resolve_address(address: str | None) -> str:
    """The dashboard address: --address, else RAY_API_SERVER_ADDRESS or RAY_ADDRESS; a bare host:port gets http://."""
    address = address or os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS")
    if not address:
        raise UserError("no Ray cluster given: pass --address http://HEAD:8265 or set RAY_ADDRESS")
    if address.startswith("ray://") or address == "auto":
        raise UserError(f"{address!r} is not a job submission address; use the head's dashboard address, http://HEAD:8265")
    return address if "://" in address else f"http://{address}"


def auth_token() -> str | None:
    """Ray's token (2.60 token authentication): RAY_AUTH_TOKEN, the file RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token."""
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if token:
        return token
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--env {pair!r} is not KEY=VALUE")
        env[key] = value
    return env


def entrypoint(command: list[str]) -> str:
    """The shell command the cluster runs for `musiscene COMMAND ARGS…`."""
    if not command:
        raise UserError(
            "nothing to submit: give the command after --, e.g. musiscene submit -- tag s3://bucket/music --out s3://bucket/tags"
        )
    args = list(command)
    if args[0] in JOINS_CLUSTER and not any(a == "--ray-address" or a.startswith("--ray-address=") for a in args):
        args += ["--ray-address", "auto"]
    return " ".join(["python", "-m", "musiscene_core", *map(shlex.quote, args)])


def runtime_env(working_dir: str | None, env: dict[str, str], pip: list[str]) -> dict:
    result: dict = {"env_vars": {**DEFAULT_ENV, **env}}
    if working_dir:
        if not Path(working_dir).is_dir():
            raise UserError(f"--working-dir {working_dir!r} is not a folder")
        result["working_dir"] = str(Path(working_dir).resolve())
    if pip:
        result["pip"] = list(pip)
    return result


@dataclass
class JobInfo:
    job_id: str
    status: str
    entrypoint: str
    message: str
    start_time: float | None
    end_time: float | None


class Jobs:
    """The job server of one cluster, reached through `ray.job_submission.JobSubmissionClient`."""

    def __init__(self, address: str | None):
        from ray.exceptions import AuthenticationError
        from ray.job_submission import JobSubmissionClient

        self.address = resolve_address(address)
        # Ray's client prefers these variables over the address it is given; make them say the same.
        os.environ["RAY_API_SERVER_ADDRESS"] = self.address
        token = auth_token()
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            self._client = self._call(lambda: JobSubmissionClient(self.address, headers=headers))
        except AuthenticationError:
            raise self._refused() from None

    def _refused(self) -> UserError:
        return UserError(
            f"the Ray cluster at {self.address} refused the request (HTTP 401/403): give its token in "
            "RAY_AUTH_TOKEN or ~/.ray/auth_token"
        )

    def _call(self, fn, job_id: str | None = None):
        """Run one client call, turning Ray's exceptions into one sentence each."""
        from ray.exceptions import AuthenticationError

        try:
            return fn()
        except AuthenticationError:
            raise self._refused() from None
        except ConnectionError:
            raise UserError(
                f"cannot reach the Ray head at {self.address}: is the cluster up and its dashboard port open?"
            ) from None
        except RuntimeError as exc:
            text = str(exc)
            if job_id is not None and ("404" in text or "does not exist" in text):
                raise UserError(f"no job {job_id!r} on the Ray cluster at {self.address}") from None
            raise UserError(f"the Ray head at {self.address} answered: {text.strip().splitlines()[0]}") from None

    def submit(
        self, command: list[str], working_dir: str | None = None, env: dict[str, str] | None = None, pip: list[str] | None = None
    ) -> str:
        return self._call(
            lambda: self._client.submit_job(
                entrypoint=entrypoint(command),
                runtime_env=runtime_env(working_dir, env or {}, pip or []),
                metadata={"musiscene_command": command[0]},
            )
        )

    def info(self, job_id: str) -> JobInfo:
        details = self._call(lambda: self._client.get_job_info(job_id), job_id)
        return _job_info(details)

    def list_jobs(self) -> list[JobInfo]:
        jobs = [_job_info(d) for d in self._call(self._client.list_jobs)]
        return sorted(jobs, key=lambda j: j.start_time or 0)

    def logs(self, job_id: str) -> str:
        return self._call(lambda: self._client.get_job_logs(job_id), job_id)

    def follow(self, job_id: str, write) -> str:
        """Stream the job's logs to `write` until it ends; returns its final status."""
        self.info(job_id)  # an unknown id fails here, with one sentence
        # Ray logs the closing of the log stream at INFO on stderr; the final status says the same, once.
        logging.getLogger("ray.dashboard.modules.job.sdk").setLevel(logging.WARNING)

        async def tail():
            async for chunk in self._client.tail_job_logs(job_id):
                write(chunk)

        try:
            asyncio.run(tail())
        except (RuntimeError, OSError):
            # The log stream can close early (head restart, proxy timeout): the status below is what counts.
            pass
        return self.wait(job_id)

    def wait(self, job_id: str, poll_s: float = 1.0) -> str:
        while True:
            status = self.info(job_id).status
            if status in TERMINAL:
                return status
            time.sleep(poll_s)

    def stop(self, job_id: str) -> bool:
        return self._call(lambda: self._client.stop_job(job_id), job_id)


def _job_info(details) -> JobInfo:
    def seconds(ms):
        return ms / 1000.0 if ms else None

    return JobInfo(
        job_id=details.submission_id or details.job_id,
        status=str(getattr(details.status, "value", details.status)),
        entrypoint=details.entrypoint,
        message=details.message or "",
        start_time=seconds(details.start_time),
        end_time=seconds(details.end_time),
    )
