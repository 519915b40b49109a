"""Failure corpus, S3: a missing bucket, a dead or malformed endpoint, missing credentials (moto server on 127.0.0.1)."""

import pytest
from run_helpers import assert_one_sentence, cli, run_cli
from tag_helpers import tag_env, write_catalog

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(autouse=True)
def _models(models_home, monkeypatch):
    monkeypatch.setenv("MUSISCENE_MODELS", str(models_home))


@pytest.fixture
def catalog(tmp_path):
    write_catalog(tmp_path / "catalog", good=1, bad=0, seconds=1.5)
    return tmp_path / "catalog"


def test_output_in_a_missing_bucket_is_refused_and_not_created(catalog, s3_bucket, capsys):
    endpoint, bucket, fs = s3_bucket
    missing = f"{bucket}-missing"
    code, _, err = cli(
        capsys, "tag", str(catalog), "--out", f"s3://{missing}/tags", "--model", "tiny", "--endpoint-url", endpoint
    )
    assert code == 2
    assert_one_sentence(err, "does not exist")
    fs.invalidate_cache()
    assert not fs.exists(missing)


@pytest.mark.parametrize(
    "endpoint, expected",
    [
        ("http://127.0.0.1:1", "does not answer"),
        ("not a url", "endpoint URL is not valid"),
    ],
)
def test_dead_or_malformed_endpoint_is_one_sentence(catalog, s3_endpoint, capsys, endpoint, expected):
    code, _, err = cli(capsys, "tag", str(catalog), "--out", "s3://bucket/tags", "--model", "tiny", "--endpoint-url", endpoint)
    assert code == 2
    assert_one_sentence(err, expected)


def test_dead_endpoint_for_an_s3_catalog_is_one_sentence(tmp_path, capsys):
    code, _, err = cli(
        capsys,
        "tag",
        "s3://bucket/catalog",
        "--out",
        str(tmp_path / "out"),
        "--model",
        "tiny",
        "--endpoint-url",
        "http://127.0.0.1:1",
    )
    assert code == 2
    assert_one_sentence(err, "s3://bucket/catalog")


def test_missing_credentials_are_one_sentence(catalog, s3_bucket, models_home, tmp_path):
    endpoint, bucket, _ = s3_bucket
    env = {k: v for k, v in tag_env(models_home).items() if not k.startswith("AWS_")}
    env |= {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    proc = run_cli("tag", str(catalog), "--out", f"s3://{bucket}/tags", "--model", "tiny", "--endpoint-url", endpoint, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert_one_sentence(proc.stderr, "credentials")
