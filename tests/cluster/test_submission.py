"""musiscene submit's pieces that need no cluster: addresses, tokens, entrypoints, runtime environments."""

import shlex

import pytest

from musiscene_core.errors import UserError
from musiscene_core.pipelines import submission
from musiscene_core.tagging.config import TagConfig


def test_address_comes_from_the_option_or_ray_address(monkeypatch):
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "http://head:8265")
    assert submission.resolve_address(None) == "http://head:8265"
    assert submission.resolve_address("10.0.0.1:8265") == "http://10.0.0.1:8265"
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(UserError, match="RAY_ADDRESS"):
        submission.resolve_address(None)
    with pytest.raises(UserError, match="dashboard address"):
        submission.resolve_address("ray://head:10001")


def test_token_from_environment_then_file(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert submission.auth_token() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-file\n")
    assert submission.auth_token() == "from-file"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert submission.auth_token() == "from-env"


def test_entrypoint_runs_the_clusters_python_and_joins_the_cluster():
    line = submission.entrypoint(["tag", "s3://b/music dir", "--out", "s3://b/tags"])
    assert shlex.split(line) == [
        "python",
        "-m",
        "musiscene_core",
        "tag",
        "s3://b/music dir",
        "--out",
        "s3://b/tags",
        "--ray-address",
        "auto",
    ]
    assert "--ray-address" not in submission.entrypoint(["index", "build", "s3://b/tags"])
    assert submission.entrypoint(["train", "--ray-address", "auto"]).count("--ray-address") == 1
    with pytest.raises(UserError):
        submission.entrypoint([])


def test_runtime_env(tmp_path):
    env = submission.runtime_env(str(tmp_path), submission.parse_env(["AWS_DEFAULT_REGION=us-east-1", "X=a=b"]), ["boto3"])
    assert env["env_vars"] == {"RAY_USAGE_STATS_ENABLED": "0", "AWS_DEFAULT_REGION": "us-east-1", "X": "a=b"}
    assert env["working_dir"] == str(tmp_path) and env["pip"] == ["boto3"]
    with pytest.raises(UserError):
        submission.parse_env(["NOVALUE"])
    with pytest.raises(UserError):
        submission.runtime_env(str(tmp_path / "missing"), {}, [])


def test_placement_options_are_checked():
    with pytest.raises(UserError):
        TagConfig(src="a", dst="b", mert_actors=2, max_actors=1).validate()
    with pytest.raises(UserError):
        TagConfig(src="a", dst="b", actor_restarts=-2).validate()
    TagConfig(src="a", dst="b", max_actors=4, decode_tasks=8, decode_cpus=1, object_store_limit="8GB").validate()
