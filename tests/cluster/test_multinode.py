"""The jobs on a real multi-node Ray cluster on this machine, submitted with `musiscene submit`, surviving lost nodes.

One cluster for the module (a head without CPUs and two 1-CPU worker nodes, so tasks can only run
on the workers and two training workers can only fit one per node), token authentication on.
"""

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from local_cluster import LocalCluster, free_port
from tag_helpers import write_catalog

pytestmark = pytest.mark.integration

WORKER_CPUS = 1


@pytest.fixture(scope="module")
def models_home(tiny_model):
    return tiny_model.parent


@pytest.fixture(scope="module")
def cluster(models_home):
    cluster = LocalCluster.start(
        extra_env={
            "MUSISCENE_MODELS": str(models_home),
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    try:
        for name in ("worker_a", "worker_b"):
            cluster.add_worker(name, num_cpus=WORKER_CPUS)
        yield cluster
    finally:
        cluster.shutdown()


def job_env(models_home) -> list[str]:
    """What an operator passes to every job: where the models are, and no hub access."""
    return ["--env", f"MUSISCENE_MODELS={models_home}", "--env", "HF_HUB_OFFLINE=1"]


def tag_args(src, dst) -> list[str]:
    return ["tag", str(src), "--out", str(dst), "--model", "tiny", "--batch-size", "2", "--shard-rows", "2", "--json"]


def submission_job(cluster: LocalCluster, submission_id: str) -> dict:
    return cluster.api(f"/api/jobs/{submission_id}")


def wait_for_job(cluster: LocalCluster, submission_id: str, timeout: float = 600) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = submission_job(cluster, submission_id)["status"]
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return status
        time.sleep(1)
    raise AssertionError(f"job {submission_id} did not end in {timeout} s")


def submit(cluster: LocalCluster, models_home, *command: str, wait: bool = False):
    result = cluster.musiscene("submit", *(["--wait"] if wait else []), *job_env(models_home), "--", *command)
    submission_id = result.stdout.strip().splitlines()[0] if result.stdout.strip() else None
    return result, submission_id


def committed_shards(dst: Path) -> int:
    return len(list((dst / "tracks").glob("part-*.parquet")))


def assert_every_track_once(dst: Path, goods, bads):
    for table in ("tracks", "captions", "features"):
        for shard in (dst / table).glob("*.parquet"):
            pq.read_table(shard)  # every committed shard is whole
        assert not [p for p in (dst / table).iterdir() if not p.name.startswith("part-")], "temporary files left"
    tracks = pq.read_table(dst / "tracks").to_pandas()
    assert sorted(tracks["uri"]) == sorted(str(p) for p in goods + bads)
    ok = tracks[tracks.status == "ok"]
    assert len(ok) == len(goods) and len(tracks[tracks.status == "error"]) == len(bads)
    for table in ("captions", "features"):
        assert sorted(pq.read_table(dst / table).to_pandas()["track_id"]) == sorted(ok["track_id"])


def test_submitted_tagging_job_runs_on_the_worker_nodes(cluster, models_home, tmp_path):
    goods, bads = write_catalog(tmp_path / "catalog", good=6, bad=3, seconds=2.0)
    dst = tmp_path / "out"
    result, submission_id = submit(cluster, models_home, *tag_args(tmp_path / "catalog", dst), wait=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"job {submission_id} succeeded" in result.stderr
    assert_every_track_once(dst, goods, bads)
    assert json.loads((dst / "index" / "index.json").read_text())["rows"] == 6

    # Where the work ran, from Ray's own task records: Ray Data's map tasks and model actors, never the head.
    nodes = cluster.alive_nodes()
    job_id = submission_job(cluster, submission_id)["job_id"]
    work = [t for t in cluster.tasks(job_id) if "Map" in t["name"] and t.get("node_id")]
    assert work, "no Ray Data task records"
    ran_on = {nodes.get(t["node_id"], "?") for t in work}
    assert ran_on <= {"worker_a", "worker_b"} and ran_on, ran_on

    # The job's own records through the CLI.
    status = cluster.musiscene("jobs", "status", submission_id, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "SUCCEEDED"
    logs = cluster.musiscene("jobs", "logs", submission_id)
    assert logs.returncode == 0 and '"ok": 6' in logs.stdout


def test_cluster_errors_are_one_sentence(cluster):
    for args, token, expected in (
        (("jobs", "list"), False, "refused the request"),
        (("jobs", "status", "raysubmit_nosuchjob"), True, "no job 'raysubmit_nosuchjob'"),
        (("jobs", "list", "--address", f"http://127.0.0.1:{free_port()}"), True, "cannot reach the Ray head"),
    ):
        result = cluster.musiscene(*args, token=token)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _node_of_model_actor(cluster: LocalCluster, job_id: str, timeout: float = 300) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        actors = cluster.api("/api/v0/actors?limit=1000&detail=true")["data"]["result"]["result"]
        nodes = cluster.alive_nodes()
        for actor in actors:
            if actor.get("job_id") == job_id and "MapWorker" in actor.get("class_name", "") and actor.get("state") == "ALIVE":
                name = nodes.get(actor.get("node_id"))
                if name and name != "head":
                    return name
        time.sleep(0.5)
    raise AssertionError("no model actor came up")


def test_tagging_survives_a_worker_node_killed_mid_job(cluster, models_home, tmp_path):
    goods, bads = write_catalog(tmp_path / "catalog", good=14, bad=2, seconds=2.0, first_seed=50)
    dst = tmp_path / "out"
    args = tag_args(tmp_path / "catalog", dst) + ["--no-index"]
    result, submission_id = submit(cluster, models_home, *args)
    assert result.returncode == 0, result.stderr
    job_id = None
    deadline = time.time() + 600
    while job_id is None:
        job_id = submission_job(cluster, submission_id).get("job_id")
        assert time.time() < deadline
        time.sleep(0.5)
    victim = _node_of_model_actor(cluster, job_id)
    # Kill it mid-job: once some shards are committed, well before all are.
    while not committed_shards(dst):
        assert submission_job(cluster, submission_id)["status"] in ("PENDING", "RUNNING"), "the job ended before the kill"
        assert time.time() < deadline
        time.sleep(0.2)
    committed_before = committed_shards(dst)
    cluster.kill_node(victim)
    # What the autoscaler does after a spot loss; until it arrives the job waits on the surviving node.
    cluster.add_worker("worker_tag_replacement", num_cpus=WORKER_CPUS)
    status = wait_for_job(cluster, submission_id)
    if status != "SUCCEEDED":
        # The backstop: one rerun of the same command resumes from the committed shards.
        again, _ = submit(cluster, models_home, *args, wait=True)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert committed_before * 2 < len(goods + bads)  # two tracks per shard: the kill came before the end
    assert_every_track_once(dst, goods, bads)


def test_training_on_two_nodes_resumes_from_its_checkpoint_after_a_node_is_lost(cluster, models_home, tmp_path):
    import pyarrow as pa

    from musiscene_core.data.synthetic import make_catalog

    pieces = make_catalog(tmp_path / "audio", n=30, seed=1, formats=("wav",), duration_s=1.5)
    data = tmp_path / "data.parquet"
    pq.write_table(
        pa.table(
            {"uri": [str(p.path) for p in pieces], "answer": [p.caption for p in pieces], "split": [p.split for p in pieces]}
        ),
        data,
    )
    # Two 1-CPU workers: one per node, so losing a node always loses a worker.
    live_workers = [n for n in cluster.alive_nodes().values() if n != "head" and n in cluster.nodes]
    for i in range(2 - len(live_workers)):
        cluster.add_worker(f"worker_r{i}", num_cpus=WORKER_CPUS)
    out = tmp_path / "train"
    result, submission_id = submit(
        cluster,
        models_home,
        "train",
        "--data",
        str(data),
        "--base",
        "tiny",
        "--out",
        str(out),
        "--workers",
        "2",
        "--epochs",
        "6",
        "--batch-size",
        "2",
        "--lr",
        "5e-3",
        "--warmup-epochs",
        "0.5",
        "--checkpoint-every",
        "2",
        "--eval-limit",
        "2",
    )
    assert result.returncode == 0, result.stderr
    snapshot = out / "run" / "checkpoint_manager_snapshot.json"
    deadline = time.time() + 600
    while not (snapshot.exists() and "checkpoint-0000002" in snapshot.read_text()):
        assert submission_job(cluster, submission_id)["status"] in ("PENDING", "RUNNING"), cluster.musiscene(
            "jobs", "logs", submission_id
        ).stdout[-3000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    victim = next(n for n in cluster.nodes if n != "head")
    cluster.kill_node(victim)
    cluster.add_worker("worker_replacement", num_cpus=WORKER_CPUS)  # what an autoscaler does after a spot loss
    status = wait_for_job(cluster, submission_id)
    logs = cluster.musiscene("jobs", "logs", submission_id).stdout
    assert status == "SUCCEEDED", logs[-4000:]
    assert "resumed from step" in logs
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["steps"] > 2 and (out / "mullama" / "checkpoint.pth").is_file()
