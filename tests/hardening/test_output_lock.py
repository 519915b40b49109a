"""The output-folder lock on its own: refusal naming the holder, stale takeover, damaged lock files, S3 leases."""

import json
import subprocess
import sys
import time

import pytest

from musiscene_core.errors import UserError
from musiscene_core.output_location import OutputLocation
from musiscene_core.tagging import lock as lock_module
from musiscene_core.tagging.lock import LOCK_FILE, OutputLock

pytestmark = pytest.mark.timeout(120)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_second_holder_is_refused_with_the_holders_name(tmp_path):
    location = OutputLocation(tmp_path / "out")
    with OutputLock.acquire(location, "run-a"):
        with pytest.raises(UserError, match=r"in use by run run-a \(pid \d+ on "):
            OutputLock.acquire(location, "run-b")
        OutputLock.check_holder(location, "run-a")
        with pytest.raises(UserError, match="no longer holds"):
            OutputLock.check_holder(location, "run-b")
    assert not (tmp_path / "out" / LOCK_FILE).exists()


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    location = OutputLocation(tmp_path / "out")
    (tmp_path / "out").mkdir()
    stale = {
        "run_id": "gone",
        "host": lock_module.socket.gethostname(),
        "pid": _dead_pid(),
        "pid_start": "1",
        "started": time.time(),
        "heartbeat": time.time(),
    }
    (tmp_path / "out" / LOCK_FILE).write_text(json.dumps(stale))
    with OutputLock.acquire(location, "run-new"):
        OutputLock.check_holder(location, "run-new")
        with pytest.raises(UserError):
            OutputLock.check_holder(location, "gone")  # the old run's writers stop committing


def test_damaged_lock_file_is_taken_over(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / LOCK_FILE).write_text('{"run_id": "half-writ')
    with OutputLock.acquire(OutputLocation(tmp_path / "out"), "run-new"):
        pass


@pytest.mark.integration
def test_s3_lease_is_exclusive_and_a_stale_one_is_taken_over(s3_bucket):
    endpoint, bucket, fs = s3_bucket
    location = OutputLocation(f"s3://{bucket}/out", endpoint_url=endpoint)
    first = OutputLock.acquire(location, "run-a")
    with pytest.raises(UserError, match="in use by run run-a"):
        OutputLock.acquire(location, "run-b")
    first.release()
    # A holder on another machine whose heartbeat stopped long ago.
    old = time.time() - 10 * lock_module.LEASE_S
    fs.pipe_file(
        f"{bucket}/out/{LOCK_FILE}",
        json.dumps(
            {"run_id": "elsewhere", "host": "another-host", "pid": 1, "pid_start": "1", "started": old, "heartbeat": old}
        ).encode(),
    )
    with OutputLock.acquire(location, "run-c"):
        OutputLock.check_holder(location, "run-c")
