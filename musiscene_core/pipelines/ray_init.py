"""Starting Ray for a job, or joining an existing cluster: the one place the jobs call `ray.init`."""

from __future__ import annotations

import os


def init_ray(address: str | None, worker_output: bool = False) -> None:
    """Join the cluster at `address` (e.g. `auto`, `ray://head:10001`), or start Ray on this machine when None.

    worker_output: print what the workers print on this process's console (training reports its
    progress from the workers; tagging keeps the console for its own progress bar). A process that
    already has Ray initialised keeps it. Usage reporting is off unless asked for."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=worker_output)
    else:
        ray.init(include_dashboard=False, log_to_driver=worker_output)
