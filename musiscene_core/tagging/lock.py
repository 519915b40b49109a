"""One run per output folder: a lock file naming its holder, created atomically, taken over when stale.

Two runs tagging into one folder would compute every track twice and race on its index. A run
therefore holds `DST/.musiscene-lock.json` (host, pid, process start time, run id) while it works:

- local disks: created with O_EXCL; a lock whose holder ran on this host and whose process is gone
  (or is another process under a reused pid) is stale and taken over at once;
- S3: created with a conditional PUT (`If-None-Match: *`), so of two runs starting together exactly
  one wins; taken over with `If-Match` on the stale lease's ETag, so two takers cannot both win.

A holder on another host cannot be checked by pid; it refreshes a heartbeat in the lock instead, and
a lock whose heartbeat is older than `LEASE_S` is stale. Writers check the lock before committing a
shard (`OutputLock.check_holder`), so a run whose lock was taken over stops committing.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass

from musiscene_core.errors import UserError
from musiscene_core.output_location import OutputLocation

LOCK_FILE = ".musiscene-lock.json"
LEASE_S = 300.0  # a holder on another host that has not refreshed its heartbeat for this long is gone
HEARTBEAT_S = 30.0
_DAMAGED_LOCK_GRACE_S = 1.0


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None when no such process exists."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            # The command name (field 2) may hold spaces and parentheses: split after its closing one.
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass(frozen=True)
class LockHolder:
    run_id: str
    host: str
    pid: int
    pid_start: str | None
    started: float
    heartbeat: float

    @classmethod
    def this_process(cls, run_id: str) -> LockHolder:
        now = time.time()
        return cls(
            run_id=run_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            pid_start=process_start_time(os.getpid()),
            started=now,
            heartbeat=now,
        )

    @classmethod
    def parse(cls, data: bytes) -> LockHolder | None:
        """The holder recorded in a lock file; None for a damaged one (a holder killed while writing it)."""
        try:
            record = json.loads(data)
            return cls(
                run_id=str(record["run_id"]),
                host=str(record["host"]),
                pid=int(record["pid"]),
                pid_start=record.get("pid_start"),
                started=float(record["started"]),
                heartbeat=float(record["heartbeat"]),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    def is_stale(self, now: float | None = None) -> bool:
        if self.host == socket.gethostname():
            start = process_start_time(self.pid)
            return start is None or (self.pid_start is not None and start != self.pid_start)
        return (now or time.time()) - self.heartbeat > LEASE_S

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        return f"run {self.run_id} (pid {self.pid} on {self.host}, started {started})"


def _io_reason(exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
    return (reason if isinstance(reason, str) else reason[0]).rstrip(".")


class OutputLock:
    """The lock a run holds on its output folder; `release()` (or the context manager) gives it back."""

    def __init__(self, location: OutputLocation, holder: LockHolder):
        self.location = location
        self.holder = holder
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    @classmethod
    def acquire(cls, location: OutputLocation, run_id: str) -> OutputLock:
        """Take the folder's lock, or raise a UserError naming the run that holds it.

        Creating the lock file is also the check that the output location exists and can be written,
        before any work starts."""
        holder = LockHolder.this_process(run_id)
        store = _LockFile.for_location(location)
        for _ in range(5):
            if store.create(holder.to_bytes()):
                lock = cls(location, holder)
                lock._start_heartbeat(store)
                return lock
            current, tag = store.read()
            if current is None and tag is not None:
                # Unreadable: a holder may be between creating and writing it; a second look tells.
                time.sleep(_DAMAGED_LOCK_GRACE_S)
                current, tag = store.read()
            if current is None and tag is None:
                continue  # released in between: try again
            if current is not None and not current.is_stale():
                raise UserError(
                    f"{location.url} is in use by {current.describe()}; wait for it to finish "
                    f"(if that run is gone on another machine, delete {store.path})"
                )
            store.take_over(tag, holder.to_bytes())
            confirmed, _ = store.read()
            if confirmed == holder:
                lock = cls(location, holder)
                lock._start_heartbeat(store)
                return lock
        raise UserError(f"could not take the lock of {location.url}: other runs keep taking it")

    def _start_heartbeat(self, store: _LockFile) -> None:
        def beat() -> None:
            while not self._stop.wait(HEARTBEAT_S):
                try:
                    current, _ = store.read()
                    if current is None or current.run_id != self.holder.run_id:
                        return  # taken over: writers notice through check_holder
                    store.overwrite(LockHolder(**{**asdict(self.holder), "heartbeat": time.time()}).to_bytes())
                except Exception:  # storage unreachable for a moment: a missed beat only matters after LEASE_S
                    continue

        self._heartbeat = threading.Thread(target=beat, name="output-lock-heartbeat", daemon=True)
        self._heartbeat.start()

    def release(self) -> None:
        self._stop.set()
        store = _LockFile.for_location(self.location)
        try:
            current, _ = store.read()
            if current is not None and current.run_id == self.holder.run_id:
                store.delete()
        except Exception:  # storage gone (a dead endpoint): the lock left behind is stale and taken over later
            pass

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @staticmethod
    def check_holder(location: OutputLocation, run_id: str) -> None:
        """Raise unless `run_id` still holds the folder's lock: a run that lost it must not commit more."""
        current, _ = _LockFile.for_location(location).read()
        if current is None or current.run_id != run_id:
            other = current.describe() if current else "nobody"
            raise UserError(f"run {run_id} no longer holds the lock of {location.url} (held by {other}); it stops here")


class _LockFile:
    """Atomic create / read / take-over of the lock file on one kind of storage.

    `read()` gives (holder, version tag): holder None for a damaged file, (None, None) when there is none."""

    def __init__(self, location: OutputLocation):
        self.location = location
        self.path = location.path(LOCK_FILE)

    @staticmethod
    def for_location(location: OutputLocation) -> _LockFile:
        return _LocalLockFile(location) if location.is_local else _S3LockFile(location)


class _LocalLockFile(_LockFile):
    def create(self, data: bytes) -> bool:
        try:
            os.makedirs(self.location.root, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            reason = "it is on a read-only file system" if exc.errno == errno.EROFS else _io_reason(exc)
            raise UserError(f"cannot write to the output folder {self.location.url}: {reason}") from exc
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def read(self) -> tuple[LockHolder | None, str | None]:
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None, None
        return LockHolder.parse(data), "present"

    def take_over(self, tag: str | None, data: bytes) -> None:
        # Renaming the stale file away succeeds for exactly one taker; the others find it gone and retry.
        aside = f"{self.path}.stale-{uuid.uuid4().hex}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        os.remove(aside)
        self.create(data)

    def overwrite(self, data: bytes) -> None:
        temporary = f"{self.path}.tmp-{uuid.uuid4().hex}"
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, self.path)

    def delete(self) -> None:
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass


class _S3LockFile(_LockFile):
    def _bucket_must_exist(self) -> None:
        # Writing under a missing bucket would make s3fs create it: a typo must not create buckets.
        bucket = self.path.split("/", 1)[0]
        fs = self.location.fs
        try:
            # A one-key listing rather than HEAD: a refused HEAD has no body, so "the access key id is unknown",
            # "the secret does not match" and "no permission" would all read as a bare 403.
            fs.call_s3("list_objects_v2", Bucket=bucket, MaxKeys=1)
        except FileNotFoundError as exc:
            raise UserError(f"the bucket of {self.location.url} does not exist; create it first") from exc

    def create(self, data: bytes) -> bool:
        from musiscene_core.s3_errors import s3_user_error

        try:
            self._bucket_must_exist()
            self.location.fs.pipe_file(self.path, data, mode="create")
        except UserError:
            raise
        except OSError as exc:
            if _is_precondition_failure(exc):
                return False
            raise s3_user_error(self.location.url, exc) from exc
        except Exception as exc:  # botocore's own errors (dead endpoint, bad URL, no credentials)
            raise s3_user_error(self.location.url, exc) from exc
        return True

    def read(self) -> tuple[LockHolder | None, str | None]:
        fs = self.location.fs
        try:
            head = fs.call_s3("head_object", Bucket=self.path.split("/", 1)[0], Key=self.path.split("/", 1)[1])
            data = fs.cat_file(self.path)
        except FileNotFoundError:
            return None, None
        return LockHolder.parse(data), head.get("ETag")

    def take_over(self, tag: str | None, data: bytes) -> None:
        try:
            self.location.fs.pipe_file(self.path, data, IfMatch=tag)
        except OSError as exc:
            if not _is_precondition_failure(exc) and not isinstance(exc, FileNotFoundError):
                raise

    def overwrite(self, data: bytes) -> None:
        self.location.fs.pipe_file(self.path, data)

    def delete(self) -> None:
        try:
            self.location.fs.rm_file(self.path)
        except FileNotFoundError:
            pass


def _is_precondition_failure(exc: OSError) -> bool:
    """A conditional PUT lost (HTTP 412; s3fs raises it as an OSError whose text varies by store)."""
    text = str(exc).lower()
    return any(mark in text for mark in ("precondition", "pre-condition", "412", "conditionalrequestconflict"))
