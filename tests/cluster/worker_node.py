"""One Ray worker node on 127.0.0.1, blocking like `ray start --block` until killed.

Why not `ray start` itself: on Linux it rewrites a 127.0.0.1 node or GCS address to the machine's
network address, and the only switch that stops it (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) also makes
it refuse to start a worker node. This starts the same node processes (raylet, object store, agents)
through the same `Node` class `ray start` uses, with the addresses given.

    python worker_node.py GCS_PORT NUM_CPUS RESOURCES_JSON OBJECT_STORE_BYTES MEMORY_BYTES MIN_PORT MAX_PORT PORT…
"""

import json
import sys
import time

import ray._private.node
import ray._private.parameter


def main(argv: list[str]) -> None:
    gcs_port, num_cpus, resources, object_store, memory, min_port, max_port, *ports = argv
    node_manager, object_manager, agent_listen, agent_grpc, metrics_export, runtime_env_agent = map(int, ports)
    params = ray._private.parameter.RayParams(
        gcs_address=f"127.0.0.1:{gcs_port}",
        node_ip_address="127.0.0.1",
        num_cpus=int(num_cpus),
        resources=json.loads(resources),
        object_store_memory=int(object_store),
        memory=int(memory),
        min_worker_port=int(min_port),
        max_worker_port=int(max_port),
        node_manager_port=node_manager,
        object_manager_port=object_manager,
        dashboard_agent_listen_port=agent_listen,
        metrics_agent_port=agent_grpc,
        metrics_export_port=metrics_export,
        runtime_env_agent_port=runtime_env_agent,
    )
    ray._private.node.Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True, connect_only=False)
    print("worker node started", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1:])
