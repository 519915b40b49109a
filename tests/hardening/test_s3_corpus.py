"""Failure corpus, S3: a missing bucket, a dead or malformed endpoint, missing or wrong credentials (moto servers on 127.0.0.1)."""

import json

import pytest
from run_helpers import assert_one_sentence, cli, moto_server, run_cli
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


@pytest.fixture
def authenticating_s3():
    """A moto server of this test's own that checks every request's signature against its IAM users, with one
    user allowed everything on S3 and a bucket `music`; yields (endpoint, access key id, secret key)."""
    import boto3

    # The first four requests (the setup below) are let through unsigned; every later one is checked.
    with moto_server(INITIAL_NO_AUTH_ACTION_COUNT="4") as endpoint:
        anyone = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
        iam = boto3.client("iam", **anyone)
        iam.create_user(UserName="tagger")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="tagger", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="tagger")["AccessKey"]
        boto3.client("s3", **anyone).create_bucket(Bucket="music")
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]


@pytest.mark.parametrize(
    "which, expected",
    [("unknown key id", "does not accept the access key id"), ("wrong secret", "secret key does not match")],
)
def test_wrong_credentials_are_one_sentence_and_create_nothing(catalog, authenticating_s3, models_home, which, expected):
    import boto3

    endpoint, key_id, secret = authenticating_s3
    wrong = ("AKIAIOSFODNN7NOTREAL", secret) if which == "unknown key id" else (key_id, secret[::-1])
    env = tag_env(models_home) | {
        "AWS_ACCESS_KEY_ID": wrong[0],
        "AWS_SECRET_ACCESS_KEY": wrong[1],
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    proc = run_cli("tag", str(catalog), "--out", "s3://music/tags", "--model", "tiny", "--endpoint-url", endpoint, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert_one_sentence(proc.stderr, "s3://music/tags", "refused the credentials", expected)
    # The same server accepts the right credentials (so it is the credentials that were refused), and nothing was written.
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret
    )
    assert s3.list_objects_v2(Bucket="music")["KeyCount"] == 0
