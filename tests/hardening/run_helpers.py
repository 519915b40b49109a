"""Running `musiscene` for the failure corpus: in-process for fast cases, as subprocesses where processes matter."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from cli_runner import main_exit as cli  # noqa: F401 - the corpus's in-process runner


def run_cli(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the command as a subprocess (the real exit code and output streams)."""
    return subprocess.run(
        [sys.executable, "-m", "musiscene_core", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


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
