import os
import subprocess
import sys

import pytest

from musiscene_core.errors import UserError
from musiscene_core.serve import parse_index_option


def _serve(*args, **env):
    return subprocess.run(
        [sys.executable, "-m", "musiscene_core", "serve", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, **env),
    )


def test_an_unset_token_variable_is_one_sentence_before_anything_loads(served_run):
    result = _serve("--index", str(served_run[0]), "--token-env", "MUSISCENE_NO_SUCH_VARIABLE")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: --token-env names MUSISCENE_NO_SUCH_VARIABLE, but that environment variable is empty or unset"
    )


def test_a_folder_without_an_index_is_one_sentence(tmp_path):
    result = _serve("--index", f"music={tmp_path}", "--token-env", "T", T="a-long-enough-token-value")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: no index under ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/data/music-tags", ("music-tags", "/data/music-tags")),
        ("/data/music-tags/", ("music-tags", "/data/music-tags/")),
        ("archive=s3://label/tags", ("archive", "s3://label/tags")),
        ("s3://label/tags", ("tags", "s3://label/tags")),
    ],
)
def test_index_options_name_their_catalogs(value, expected):
    assert parse_index_option(value) == expected


@pytest.mark.parametrize("value", ["s3://label/a=b", "my music=/data/tags", "/data/tags?x"])
def test_names_unusable_in_urls_are_refused(value):
    with pytest.raises(UserError, match="not usable in URLs"):
        parse_index_option(value)
