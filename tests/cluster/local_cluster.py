"""A real multi-node Ray cluster on this machine: a head (`ray start --head --block`, no CPUs) and worker nodes.

Every node is a separate process group on 127.0.0.1 with its own ports and worker-port range, all
sharing one private RAY_TMPDIR, so the test finds (and kills) exactly the processes it started: a
node's `ray start` group, plus the Ray worker processes it spawned (they run in their own process
groups), recognised by RAY_TMPDIR and the node's name in their environment. Token authentication
is on, with a token of the cluster's own.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

NODE_ENV = "MUSISCENE_TEST_NODE"
OBJECT_STORE_BYTES = 150 * 1024 * 1024
NODE_MEMORY_BYTES = 4 * 1024**3  # each node would otherwise claim the whole machine's memory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Node:
    name: str
    proc: subprocess.Popen
    worker_ports: tuple[int, int]


@dataclass
class LocalCluster:
    """Start with `LocalCluster.start(...)`; `add_worker`, `kill_node`, `shutdown`."""

    tmpdir: Path
    env: dict
    gcs_port: int
    dashboard_port: int
    token: str
    nodes: dict = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @classmethod
    def start(cls, extra_env: dict | None = None) -> LocalCluster:
        # A short path: Ray's Unix sockets live under it and their paths are limited to ~100 bytes.
        tmpdir = Path(tempfile.mkdtemp(prefix="msc-", dir="/tmp"))
        token = uuid.uuid4().hex + uuid.uuid4().hex
        venv_bin = str(Path(sys.executable).parent)
        env = dict(os.environ, **(extra_env or {}))
        for key in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH"):
            env.pop(key, None)
        env.update(
            RAY_TMPDIR=str(tmpdir),
            RAY_USAGE_STATS_ENABLED="0",
            # Every process of the cluster (drivers of submitted jobs included) takes 127.0.0.1 as its node's
            # address instead of the machine's network address.
            RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN=token,
            # The cluster's `python` is this environment's, as it would be in the cluster's image.
            PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        )
        cluster = cls(tmpdir=tmpdir, env=env, gcs_port=free_port(), dashboard_port=free_port(), token=token)
        try:
            cluster._start_head()
            cluster.wait_for_nodes(1)
        except BaseException:
            cluster.shutdown()
            raise
        return cluster

    def _launch(self, name: str, cmd: list[str], ports: tuple[int, int]) -> None:
        log = open(self.tmpdir / f"{name}.log", "wb")
        # Its own session: the node is one process group, killed as one.
        proc = subprocess.Popen(
            cmd, env=dict(self.env, **{NODE_ENV: name}), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.nodes[name] = Node(name, proc, ports)

    @staticmethod
    def _worker_ports() -> tuple[int, int]:
        # Below the kernel's ephemeral range, where free_port() draws every other port: the two never meet.
        lowest_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        base = random.randrange(10000, lowest_ephemeral - 100, 200)
        return base, base + 99

    def _start_head(self) -> None:
        ports = self._worker_ports()
        cmd = [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            "--block",
            "--node-ip-address",
            "127.0.0.1",
            "--num-cpus",
            "0",
            "--port",
            str(self.gcs_port),
            "--include-dashboard",
            "true",
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(self.dashboard_port),
            "--ray-client-server-port",
            str(free_port()),
            "--object-store-memory",
            str(OBJECT_STORE_BYTES),
            "--min-worker-port",
            str(ports[0]),
            "--max-worker-port",
            str(ports[1]),
            "--node-manager-port",
            str(free_port()),
            "--object-manager-port",
            str(free_port()),
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--dashboard-agent-grpc-port",
            str(free_port()),
            "--metrics-export-port",
            str(free_port()),
            "--runtime-env-agent-port",
            str(free_port()),
            "--temp-dir",
            str(self.tmpdir / "ray"),
            "--disable-usage-stats",
        ]
        self._launch("head", cmd, ports)

    def add_worker(self, name: str, num_cpus: int = 2) -> None:
        """A worker node with `num_cpus` CPUs and a custom resource named after it (to tell nodes apart)."""
        ports = self._worker_ports()
        cmd = [
            sys.executable,
            str(Path(__file__).with_name("worker_node.py")),
            str(self.gcs_port),
            str(num_cpus),
            json.dumps({name: 100}),
            str(OBJECT_STORE_BYTES),
            str(NODE_MEMORY_BYTES),
            str(ports[0]),
            str(ports[1]),
            *(str(free_port()) for _ in range(6)),
        ]
        self._launch(name, cmd, ports)
        # One node at a time: on a busy machine, nodes registering together can miss Ray's start-up deadline.
        self.wait_for_node(name)

    def wait_for_node(self, name: str, timeout: float = 240) -> None:
        deadline = time.time() + timeout
        while name not in self.alive_nodes().values():
            node = self.nodes[name]
            if node.proc.poll() is not None:
                raise RuntimeError(f"ray node {name} exited: {(self.tmpdir / (name + '.log')).read_text()[-2000:]}")
            if time.time() > deadline:
                raise RuntimeError(f"ray node {name} did not join in {timeout:.0f} s")
            time.sleep(1.0)

    # --- state, through the dashboard's state API ---------------------------------------------------------------

    def api(self, path: str, timeout: float = 30) -> dict:
        response = requests.get(f"{self.address}{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout)
        response.raise_for_status()
        return response.json()

    def alive_nodes(self) -> dict[str, str]:
        """node id -> node name (head, or the worker's name) of the nodes the cluster sees alive."""
        rows = self.api("/api/v0/nodes?limit=1000&detail=true")["data"]["result"]["result"]
        named = {}
        for row in rows:
            if row.get("state") != "ALIVE":
                continue
            resources = row.get("resources_total") or {}
            name = "head" if row.get("is_head_node") else next((n for n in self.nodes if n in resources), "?")
            named[row["node_id"]] = name
        return named

    def wait_for_nodes(self, count: int, timeout: float = 240) -> dict[str, str]:
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            for node in self.nodes.values():
                if node.proc.poll() is not None:
                    raise RuntimeError(f"ray node {node.name} exited: {(self.tmpdir / (node.name + '.log')).read_text()[-2000:]}")
            try:
                alive = self.alive_nodes()
                if len(alive) >= count:
                    return alive
                last = alive
            except (requests.RequestException, KeyError, ValueError) as exc:
                last = exc
            time.sleep(1.0)
        raise RuntimeError(f"the cluster did not reach {count} nodes in {timeout:.0f} s (last: {last})")

    def tasks(self, job_id: str | None = None) -> list[dict]:
        """Finished and running tasks with the node they ran on (Ray's task events)."""
        rows = self.api("/api/v0/tasks?limit=10000&detail=true")["data"]["result"]["result"]
        return [r for r in rows if job_id is None or r.get("job_id") == job_id]

    # --- killing exactly what was started ------------------------------------------------------------------------

    def _pids(self, node: str | None) -> list[int]:
        """Processes whose environment carries this cluster's RAY_TMPDIR (and the node's name, when given)."""
        marker = f"RAY_TMPDIR={self.tmpdir}".encode()
        node_marker = f"{NODE_ENV}={node}".encode() if node else None
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in environ and (node_marker is None or node_marker in environ):
                pids.append(int(entry))
        return pids

    def kill_node(self, name: str) -> None:
        """SIGKILL a node: its `ray start` process group, then every Ray process it spawned."""
        node = self.nodes.pop(name)
        try:
            os.killpg(node.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in self._pids(name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        node.proc.wait(timeout=30)

    def shutdown(self) -> None:
        for name in list(self.nodes):
            self.kill_node(name)
        for _ in range(3):
            for pid in self._pids(None):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def musiscene(
        self, *args: str, token: bool = True, timeout: float = 600, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        """Run the `musiscene` CLI as an operator's machine would: the head's address, the cluster's token."""
        client_env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
        client_env.update(RAY_ADDRESS=self.address, HOME=str(self.tmpdir / "client-home"), **(env or {}))
        if token:
            client_env["RAY_AUTH_TOKEN"] = self.token
        return subprocess.run(
            [sys.executable, "-m", "musiscene_core", *args], env=client_env, capture_output=True, text=True, timeout=timeout
        )
