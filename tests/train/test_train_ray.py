"""Training on Ray Train with 2 CPU workers: gradient sync, crash and resume, outputs of a run."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from musiscene_core.models.presets import resolve_model
from musiscene_core.train.config import TrainConfig
from musiscene_core.train.dataset import load_prepared
from musiscene_core.train.loop import Trainer
from musiscene_core.train.trainable import load_base

pytestmark = pytest.mark.integration

OPTIONS = dict(
    workers=2, epochs=2, batch_size=2, lr=5e-3, warmup_epochs=0.5, checkpoint_every=2, eval_limit=2, eval_max_new_tokens=6
)


def _cli_args(config: TrainConfig) -> list[str]:
    return [
        str(Path(sys.executable).with_name("musiscene")),
        "train",
        "--data",
        config.data,
        "--base",
        config.base,
        "--out",
        config.out,
        "--workers",
        "2",
        "--epochs",
        "2",
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
    ]


def _train_losses(out: str) -> list[float]:
    with open(Path(out) / "report" / "metrics.csv") as handle:
        return [float(row["train_loss"]) for row in csv.DictReader(handle) if row["kind"] == "train"]


@pytest.fixture(scope="module")
def ray_run(tiny_model, synthetic_catalog, tmp_path_factory):
    """One uninterrupted 2-worker run through musiscene_core.pipelines.train.run."""
    import ray

    from musiscene_core.pipelines.train import run

    config = TrainConfig(
        data=str(synthetic_catalog),
        base=str(tiny_model),
        out=str(tmp_path_factory.mktemp("ray") / "out"),
        eval_max_new_tokens=6,
        **{k: v for k, v in OPTIONS.items() if k != "eval_max_new_tokens"},
    )
    summary = run(config)
    yield config, summary
    ray.shutdown()


def test_run_writes_model_report_and_keeps_the_data_cached(ray_run):
    config, summary = ray_run
    out = Path(config.out)
    assert summary["examples"] == {"train": 18, "validation": 6, "test": 6}
    assert summary["features_extracted"] == 30 and summary["steps"] == 8
    for name in ("metrics.csv", "loss.png", "validation.png", "summary.json", "summary.md"):
        assert (out / "report" / name).stat().st_size > 0
    assert json.loads((out / "report" / "summary.json").read_text())["steps"] == 8
    assert (out / "mullama" / "checkpoint.pth").is_file()
    assert resolve_model(summary["exported"]["model"]).name.endswith("-trained")
    losses = _train_losses(config.out)
    assert len(losses) == 8 and losses[-1] < losses[0]


def test_two_workers_with_batch_b_follow_one_worker_with_batch_2b(ray_run, tiny_model):
    config, _ = ray_run
    single = TrainConfig(**{**config.as_dict(), "workers": 1, "batch_size": 2 * config.batch_size})
    assert single.global_batch == config.global_batch
    trainer = Trainer(
        single,
        load_base(resolve_model(config.base), "cpu"),
        load_prepared(config.out, "train"),
        load_prepared(config.out, "validation"),
    )
    trainer.run(lambda metrics, write: None)
    one_worker = [row["train_loss"] for row in trainer.state.history if row["kind"] == "train"]
    assert one_worker == pytest.approx(_train_losses(config.out), rel=1e-5)


def _kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the CLI process and everything it started (Ray's processes are in its session)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    survivors = subprocess.run(["ps", "-o", "pid=", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    for pid in survivors:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_killed_run_resumes_from_its_last_checkpoint_when_rerun(ray_run, tmp_path):
    config, summary = ray_run
    crash = TrainConfig(**{**config.as_dict(), "out": str(tmp_path / "out")})
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.Popen(
        _cli_args(crash), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env
    )
    # A checkpoint counts once Ray's run snapshot lists it (it is copied first, then registered).
    snapshot = tmp_path / "out" / "run" / "checkpoint_manager_snapshot.json"
    deadline = time.time() + 300
    try:
        while not (snapshot.exists() and "checkpoint-0000002" in snapshot.read_text()):
            assert proc.poll() is None, "the run ended before it could be interrupted"
            assert time.time() < deadline, "no checkpoint appeared"
            time.sleep(0.1)
    finally:
        _kill_session(proc)
    assert not (tmp_path / "out" / "report").exists()  # it really stopped mid-run

    again = subprocess.run(_cli_args(crash), capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    log = again.stdout + again.stderr
    assert "resumed from step" in log
    assert "extracted 0" in log  # features were cached by the killed run
    resumed = json.loads((tmp_path / "out" / "report" / "summary.json").read_text())
    assert resumed["steps"] == summary["steps"]
    assert resumed["final_train_loss"] == pytest.approx(summary["final_train_loss"], rel=1e-5)
    assert _train_losses(crash.out) == pytest.approx(_train_losses(config.out), rel=1e-5)
