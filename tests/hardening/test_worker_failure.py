"""A stage failing inside a Ray worker reaches the user as one sentence (its own, when it raised a UserError)."""

import pytest

from musiscene_core.errors import UserError
from musiscene_core.pipelines.driver import worker_failure

pytestmark = pytest.mark.timeout(60)


def test_user_error_raised_in_a_worker_keeps_its_sentence():
    from ray.exceptions import RayTaskError

    cause = UserError("Cannot read /models/x/checkpoint.pth as a plain-tensor PyTorch checkpoint: it is truncated.")
    error = RayTaskError("MapWorker.__init__", "Traceback (most recent call last):\n  ...\nUserError: ...", cause)
    message = str(worker_failure(error, committed=3))
    assert "checkpoint.pth" in message and "3 track(s)" in message and "Traceback" not in message
    assert "\n" not in message


def test_other_worker_errors_give_their_last_line():
    from ray.exceptions import RayTaskError

    error = RayTaskError(
        "ModelChain", "Traceback (most recent call last):\n  ...", RuntimeError("CUDA out of memory\nTried to allocate 2 GiB")
    )
    message = str(worker_failure(error, committed=0))
    assert "Tried to allocate 2 GiB" in message and "\n" not in message
