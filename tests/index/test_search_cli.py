import json

import pytest
from cli_runner import musiscene
from index_tables import MODEL_VERSION, Shard, random_shard, track_id_of, write_shard

from musiscene_core.models.text_embedder import TextEmbedder

SCENES = ["a car chase through neon-lit city streets at night", "a quiet snowy forest at dawn"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import numpy as np

    rng = np.random.default_rng(1)
    dst = tmp_path_factory.mktemp("cli") / "run"
    write_shard(dst, random_shard(rng, [f"t{i}" for i in range(100)]), "part-0")
    embedder = TextEmbedder()
    scenes = Shard(
        track_ids=[track_id_of("chase"), track_id_of("forest")],
        uris=["s3://catalog/chase.flac", "s3://catalog/forest.flac"],
        durations=[95.5, 240.0],
        captions=SCENES,
        caption_vectors=embedder.embed(SCENES),
        audio_vectors=random_shard(rng, ["a", "b"]).audio_vectors,
        embed_model=embedder.name,
    )
    write_shard(dst, scenes, "part-1")
    return dst


def test_index_build_then_search_and_similar_from_the_command_line(run_dir):
    built = musiscene("index", "build", str(run_dir), "--memory-budget", "1GB", "--json")
    assert built.exit_code == 0, built.stderr
    manifest = json.loads(built.stdout)
    assert manifest["rows"] == 102 and manifest["captions"]["factory"] == "Flat"
    assert manifest["memory_budget"] == 10**9

    found = musiscene("search", "a chase through neon-lit streets", "--index", str(run_dir), "-k", "2", "--json")
    assert found.exit_code == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["query"] == "a chase through neon-lit streets" and result["k"] == 2
    assert [hit["rank"] for hit in result["hits"]] == [1, 2]
    assert result["hits"][0] == {
        "rank": 1,
        "score": result["hits"][0]["score"],
        "track_id": track_id_of("chase"),
        "uri": "s3://catalog/chase.flac",
        "duration_s": 95.5,
        "caption": SCENES[0],
        "model_version": MODEL_VERSION,
    }

    table = musiscene("similar", track_id_of("forest"), "--index", str(run_dir), "-k", "3", "--max-duration", "1000")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.count("file:///catalog/t") + table.stdout.count("s3://catalog/chase") == 3
    assert "rank" in table.stdout and "caption" in table.stdout


def test_command_line_errors_are_one_sentence_without_traceback(tmp_path):
    missing = musiscene("similar", "abc", "--index", str(tmp_path / "nowhere"), "--json")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: ") and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr

    empty = musiscene("index", "build", str(tmp_path))
    assert empty.exit_code == 2
    assert "no tracks/ table" in empty.stderr and "Traceback" not in empty.stderr
