"""What a job's driver does around its Ray work: check the model first, tie workers to its life,
stop cleanly on SIGTERM, and turn a worker's failure into one sentence."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from musiscene_core.errors import UserError
from musiscene_core.tagging.lock import process_start_time

_WATCH_INTERVAL_S = 0.5
_watching = threading.Lock()
_watched: set[tuple[str, int]] = set()


@dataclass(frozen=True)
class DriverRef:
    """The driver process of a run, as its workers see it.

    A worker on the driver's machine watches that process and exits as soon as it is gone, so a
    killed run stops committing at once instead of when Ray notices (tens of seconds later).
    Workers on other machines rely on Ray, which ends a job's workers when its driver disconnects."""

    host: str
    pid: int
    pid_start: str | None

    @classmethod
    def this_process(cls) -> DriverRef:
        return cls(host=socket.gethostname(), pid=os.getpid(), pid_start=process_start_time(os.getpid()))

    def alive(self) -> bool:
        return process_start_time(self.pid) == self.pid_start

    def watch(self) -> None:
        """In a worker: exit this process when the driver is gone (checked now, then in the background)."""
        if self.host != socket.gethostname() or self.pid_start is None:
            return
        if not self.alive():
            os._exit(1)
        with _watching:
            if (self.host, self.pid) in _watched:
                return
            _watched.add((self.host, self.pid))

        def poll() -> None:
            while self.alive():
                time.sleep(_WATCH_INTERVAL_S)
            os._exit(1)  # no cleanup: nothing of a dead run may be committed any more

        threading.Thread(target=poll, name="driver-watch", daemon=True).start()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def sigterm_interrupts() -> None:
    """Make SIGTERM raise KeyboardInterrupt in the main thread. Call it again after `ray.init`, which
    installs its own handler (one that aborts the process)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the block runs, so `kill PID` stops the run cleanly too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    sigterm_interrupts()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def validate_model(name: str) -> None:
    """Open every file of the model and check every shape (on PyTorch's meta device: no weights are
    copied) before any actor starts, so a broken model is one sentence instead of a failed actor pool."""
    from musiscene_core.models.describe import describe

    try:
        describe(name)
    except UserError:
        raise
    except Exception as exc:  # a damaged file surfaces as whatever its reader raises
        raise UserError(f"model {name!r} cannot be loaded: {_last_line(exc)}") from exc


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__).rstrip(".")


def worker_failure(exc: BaseException, committed: int) -> UserError:
    """One sentence for a Ray task or actor failure; the user's own error when a stage raised one."""
    cause = exc
    while getattr(cause, "cause", None) is not None and cause.cause is not cause:
        cause = cause.cause
    reason = str(cause) if isinstance(cause, UserError) else _last_line(cause)
    return UserError(
        f"the run stopped because a worker failed ({reason.rstrip('.')}); "
        f"the {committed} track(s) it committed stay valid, rerun to continue"
    )
