"""Running `musiscene` for the failure corpus: in-process for fast cases, as subprocesses where processes matter."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli_runner import main_exit as cli  # noqa: F401 - the corpus's in-process runner


def run_cli(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the command as a subprocess (the real exit code and output streams)."""
    return subprocess.run(
        [sys.executable, "-m", "musiscene_core", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def wait_for(condition, deadline_s: float) -> bool:
    """Poll `condition` until it holds or `deadline_s` passes; its last value."""
    end = time.time() + deadline_s
    while time.time() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def start_slow_tag(catalog: Path, dst: Path, env: dict, *extra: str, **popen) -> subprocess.Popen:
    """`musiscene tag` with the tiny model, one track per batch and per shard (so it commits shard by shard and
    lasts long enough to act on), in its own session so that a test can kill its process group."""
    command = [sys.executable, "-m", "musiscene_core", "tag", str(catalog), "--out", str(dst), "--model", "tiny"]
    command += ["--batch-size", "1", "--shard-rows", "1", *extra]
    return subprocess.Popen(command, env=env, start_new_session=True, **popen)


def assert_one_sentence(stderr: str, *fragments: str) -> str:
    """stderr is one `error:` line (Ray's own log lines aside), with no traceback, mentioning every fragment."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def short_ray_tmpdir() -> str:
    """A private RAY_TMPDIR: Ray's unix socket paths must stay short, so not under pytest's tmp_path."""
    return tempfile.mkdtemp(prefix="rt", dir="/tmp")


def processes_with_env(key: str, value: str) -> list[int]:
    """Pids of processes whose environment holds key=value (how a run's Ray processes are found)."""
    needle = f"{key}={value}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_server(port: int | None = None, **env: str) -> Iterator[str]:
    """A moto S3 server process of the test's own on 127.0.0.1 (`env` tunes it); yields its endpoint URL.

    Leaving the block terminates it; a test may kill it earlier (`moto_process(endpoint)`)."""
    port = port or free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, **env),
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        endpoint = f"http://127.0.0.1:{port}"
        _MOTO_PROCESSES[endpoint] = proc
        yield endpoint
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)


_MOTO_PROCESSES: dict[str, subprocess.Popen] = {}


def moto_process(endpoint: str) -> subprocess.Popen:
    """The process of a `moto_server` endpoint (to kill it mid-run)."""
    return _MOTO_PROCESSES[endpoint]
