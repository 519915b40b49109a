"""Failure corpus, `tag` before any work: output location, model, Ray addressing, GPUs, configuration, empty catalogs.

Each case runs the real command in-process and ends before Ray starts, so the corpus stays fast.
"""

import json
import shutil
import subprocess
import sys

import pytest
from run_helpers import assert_one_sentence, cli
from tag_helpers import tag_env, write_catalog

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def catalog(tmp_path):
    write_catalog(tmp_path / "catalog", good=1, bad=0, seconds=1.5)
    return tmp_path / "catalog"


@pytest.fixture(autouse=True)
def _models(models_home, monkeypatch):
    monkeypatch.setenv("MUSISCENE_MODELS", str(models_home))


def tag(capsys, src, dst, *extra):
    return cli(capsys, "tag", str(src), "--out", str(dst), "--model", "tiny", *extra)


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_unwritable_output_is_refused_before_work(tmp_path, catalog, capsys, where):
    (tmp_path / "file").write_text("x")
    dst = tmp_path / "file" / "out" if where == "under-a-file" else "/proc/musiscene-out"
    code, _, err = tag(capsys, catalog, dst)
    assert code == 2
    assert_one_sentence(err, "cannot write to the output folder")


def _read_only_mounts_work() -> bool:
    """An unprivileged user namespace can mount a read-only tmpfs (the mount dies with the namespace)."""
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt && ! touch /mnt/x 2>/dev/null"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.integration
def test_output_on_a_read_only_file_system_is_refused_before_work(tmp_path, catalog, models_home):
    if shutil.which("unshare") is None or not _read_only_mounts_work():
        pytest.skip("this machine cannot mount a read-only file system in a private mount namespace (unshare -rm)")
    mount = tmp_path / "ro"
    mount.mkdir()
    dst = mount / "tags"
    # The command runs inside its own mount namespace: nothing stays mounted if the test dies.
    command = f'mount -t tmpfs -o ro tmpfs "{mount}" && exec "{sys.executable}" -m musiscene_core tag "{catalog}" --out "{dst}" --model tiny'
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", command], env=tag_env(models_home), capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert_one_sentence(proc.stderr, f"cannot write to the output folder {dst}", "read-only file system")
    assert proc.stdout == ""  # no summary: nothing was decoded or tagged
    assert "Started a local Ray instance" not in proc.stderr


def test_truncated_model_weights_are_one_sentence(tmp_path, catalog, capsys, models_home):
    model = tmp_path / "broken-model"
    shutil.copytree(models_home / "tiny", model)
    weights = sorted(model.rglob("*.safetensors"))[0]
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    code, _, err = cli(capsys, "tag", str(catalog), "--out", str(tmp_path / "out"), "--model", str(model))
    assert code == 2
    assert_one_sentence(err, str(model.name))
    assert not (tmp_path / "out" / "tracks").exists()


@pytest.mark.parametrize(
    "address, expected",
    [
        ("not an address", "is not a Ray address"),
        ("127.0.0.1:1", "cannot reach the Ray cluster"),
        ("ray://127.0.0.1:99999", "is not a Ray address"),
    ],
)
def test_bad_or_unreachable_ray_address_is_one_sentence(tmp_path, catalog, capsys, address, expected):
    code, _, err = tag(capsys, catalog, tmp_path / "out", "--ray-address", address)
    assert code == 2
    assert_one_sentence(err, expected)
    assert not (tmp_path / "out" / ".musiscene-lock.json").exists()  # the lock is given back


def test_auto_address_pointing_nowhere_is_one_sentence(tmp_path, catalog, capsys, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # what a stale environment leaves behind
    code, _, err = tag(capsys, catalog, tmp_path / "out", "--ray-address", "auto")
    assert code == 2
    assert_one_sentence(err, "cannot reach the Ray cluster at '127.0.0.1:1'")


def test_gpus_per_actor_without_gpus_is_one_sentence(tmp_path, catalog, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = tag(capsys, catalog, tmp_path / "out", "--gpus-per-actor", "1")
    assert code == 2
    assert_one_sentence(err, "--gpus-per-actor 1", "--gpus-per-actor 0")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("model_batch_size: eight\n", "'model_batch_size' must be a whole number"),
        ("shard_rows: 2.5\n", "'shard_rows' must be a whole number"),
        ('force: "false"\n', "'force' must be true or false"),
        ("window_s: [1, 2]\n", "'window_s' must be a number"),
    ],
)
def test_config_values_of_the_wrong_type_are_refused(tmp_path, catalog, capsys, text, expected):
    (tmp_path / "tag.yaml").write_text(text)
    code, _, err = tag(capsys, catalog, tmp_path / "out", "--config", str(tmp_path / "tag.yaml"))
    assert code == 2
    assert_one_sentence(err, expected)


@pytest.mark.parametrize(
    "option, value", [("--batch-size", "100000000"), ("--shard-rows", "10000000000"), ("--max-new-tokens", "99999999")]
)
def test_absurd_sizes_are_refused(tmp_path, catalog, capsys, option, value):
    code, _, err = tag(capsys, catalog, tmp_path / "out", option, value)
    assert code == 2
    assert_one_sentence(err, "must be at most")


@pytest.mark.parametrize("kind", ["binary", "folder"])
def test_config_that_is_not_a_yaml_file_is_refused(tmp_path, catalog, capsys, kind):
    config = tmp_path / "config"
    if kind == "binary":
        config.write_bytes(bytes(range(256)) * 4)
    else:
        config.mkdir()
    code, _, err = tag(capsys, catalog, tmp_path / "out", "--config", str(config))
    assert code == 2
    assert_one_sentence(err, "config file")


def test_training_config_types_are_checked(tmp_path, capsys):
    (tmp_path / "train.yaml").write_text("epochs: many\n")
    code, _, err = cli(
        capsys,
        "train",
        "--config",
        str(tmp_path / "train.yaml"),
        "--data",
        "d.parquet",
        "--base",
        "tiny",
        "--out",
        str(tmp_path / "run"),
    )
    assert code == 2
    assert_one_sentence(err, "'epochs' must be a whole number")


def test_empty_catalog_completes_with_summary_record_and_nothing_to_index(tmp_path, capsys):
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "notes.txt").write_text("no music here\n")
    dst = tmp_path / "out"
    code, out, err = tag(capsys, tmp_path / "catalog", dst, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["listed"] == 0 and summary["skipped_non_audio"] == 1
    assert summary["index"]["rows"] == 0 and "nothing to index" in summary["index"]["note"]
    assert len(list((dst / "runs").glob("*.json"))) == 1
    assert not (dst / ".musiscene-lock.json").exists()


def test_usage_errors_are_one_sentence(tmp_path, capsys):
    code, _, err = cli(capsys, "search", "x", "--index", str(tmp_path), "-k", "zero")
    assert code == 2
    assert_one_sentence(err, "-k")
