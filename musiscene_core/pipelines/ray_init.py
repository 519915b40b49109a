"""Starting or reaching Ray for a job: one place that decides which cluster a driver uses.

Without an address a job starts a private Ray on this machine (`address="local"`, node IP
127.0.0.1): it never joins a cluster that Ray recorded earlier (`/tmp/ray/ray_current_cluster`,
`RAY_ADDRESS`), which on a shared machine is someone else's and, when stale, makes `ray.init()`
wait forever. Ray starts that private instance's processes bound to the driver's life, so they go
down with it. With an address the driver joins that cluster; an address that is malformed or does
not answer within a bounded time is one sentence, not a hang.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from musiscene_core.errors import UserError

CONNECT_TIMEOUT_S = 60.0  # joining a live cluster takes seconds; a dead or wrong address never answers
_PROBE_TIMEOUT_S = 5.0


def _host_port(address: str) -> tuple[str, int]:
    """(host, port) of `host:port` or `ray://host:port`; anything else is a UserError."""
    rest = address[len("ray://") :] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c.isspace() or c in "/@" for c in host):
        raise UserError(f"--ray-address {address!r} is not a Ray address; use host:port, ray://host:port or auto")
    return host.strip("[]"), int(port)


def _resolve(address: str) -> str:
    """The concrete address to join: 'auto' becomes the one Ray recorded (RAY_ADDRESS or the cluster file)."""
    if address != "auto":
        return address
    from ray._private.services import get_ray_address_from_environment

    try:
        resolved = get_ray_address_from_environment("auto", None)
    except (ConnectionError, ValueError) as exc:
        raise UserError("--ray-address auto found no running Ray cluster on this machine; start one or pass host:port") from exc
    if not resolved or resolved == "auto":
        raise UserError("--ray-address auto found no running Ray cluster on this machine; start one or pass host:port")
    return resolved


def _probe(address: str) -> None:
    """Fail fast, with one sentence, when nothing listens at the address."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
            pass
    except socket.gaierror as exc:
        raise UserError(f"cannot reach the Ray cluster at {address!r}: unknown host {host!r}") from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"cannot reach the Ray cluster at {address!r}: {reason.rstrip('.').lower()}") from exc


def _join(address: str, timeout_s: float, log_to_driver: bool) -> None:
    """ray.init(address) bounded in time: a port that accepts connections but is no Ray head never answers."""
    import ray

    failure: list[BaseException] = []

    def connect() -> None:
        try:
            ray.init(address=address, log_to_driver=log_to_driver, logging_level=logging.WARNING)
        except BaseException as exc:  # reported in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=connect, name="ray-connect", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise UserError(f"the Ray cluster at {address!r} did not answer within {timeout_s:g} s")
    if failure:
        message = str(failure[0]).strip().splitlines()
        reason = message[-1] if message else type(failure[0]).__name__
        raise UserError(f"cannot join the Ray cluster at {address!r}: {reason.rstrip('.')}")


def _quiet_ray_logs() -> None:
    """Ray Data logs every dataset's plan at INFO on stderr: noise beside a progress bar or --json output."""
    for name in ("ray", "ray.data", "ray.train", "ray.tune"):
        logging.getLogger(name).setLevel(logging.WARNING)


def init_ray(
    address: str | None,
    *,
    gpus_per_actor: float | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    num_cpus: int | None = None,
    log_to_driver: bool = False,
) -> None:
    """Start a private local Ray (address None) or join the cluster at `address` ("auto", host:port, ray://host:port).

    `log_to_driver` forwards the workers' output (training progress) to this process's terminal.
    `gpus_per_actor` > 0 is checked against the GPUs there are (before starting a local Ray, after
    joining a cluster): Ray would otherwise wait forever for a node that can host the actors."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not ray.is_initialized():
        _quiet_ray_logs()
        if not address:
            _require_local_gpus(gpus_per_actor)
            # "local" always starts a new instance; the node IP keeps every connection on loopback.
            ray.init(
                address="local",
                _node_ip_address="127.0.0.1",
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=log_to_driver,
                logging_level=logging.WARNING,
            )
        else:
            address = _resolve(address.strip())
            _probe(address)
            _join(address, connect_timeout_s, log_to_driver)
    require_gpus(gpus_per_actor)


def _require_local_gpus(gpus_per_actor: float | None) -> None:
    if not gpus_per_actor:
        return
    import torch

    count = torch.cuda.device_count()
    if count < gpus_per_actor:
        raise UserError(
            f"--gpus-per-actor {gpus_per_actor:g} asks for more GPUs than this machine has ({count}); "
            "use --gpus-per-actor 0 to run on CPUs"
        )


def require_gpus(gpus_per_actor: float | None) -> None:
    """Refuse a GPU request no node of the cluster can satisfy: Ray would wait for such a node forever."""
    import ray

    if not gpus_per_actor:
        return
    largest = max((node.get("Resources", {}).get("GPU", 0.0) for node in ray.nodes() if node.get("Alive")), default=0.0)
    if largest < gpus_per_actor:
        where = "this machine's Ray" if largest == 0 else "any node of the Ray cluster"
        raise UserError(
            f"--gpus-per-actor {gpus_per_actor:g} asks for more GPUs than {where} has ({largest:g}); "
            "use --gpus-per-actor 0 to run on CPUs"
        )
