import numpy as np
import pytest

from musiscene_core.errors import UserError
from musiscene_core.models.text_embedder import DEFAULT_TEXT_EMBEDDER, TextEmbedder, canonical_model_name


@pytest.fixture(scope="module")
def embedder():
    return TextEmbedder()


def test_default_model_loads_offline_and_names_itself_by_hub_id(embedder):
    assert embedder.name == DEFAULT_TEXT_EMBEDDER == "sentence-transformers/all-MiniLM-L6-v2"
    assert embedder.dim == 384


def test_embeddings_are_unit_float32_rows_in_input_order(embedder):
    texts = ["a rainy night in the city", "sunlight over a calm sea", "a rainy night in the city"]
    vectors = embedder.embed(texts, batch_size=2)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    assert vectors.flags["C_CONTIGUOUS"]


def test_related_scenes_are_closer_than_unrelated_ones(embedder):
    chase, pursuit, picnic = embedder.embed(
        ["a car chase through neon-lit streets", "police pursue a speeding car at night", "a family picnic in a meadow"]
    )
    assert chase @ pursuit > chase @ picnic + 0.2


def test_empty_and_single_string_inputs(embedder):
    assert embedder.embed([]).shape == (0, 384)
    with pytest.raises(TypeError, match="sequence of strings"):
        embedder.embed("one text")


def test_short_hub_names_and_local_directories_get_one_identity(tmp_path):
    assert canonical_model_name("all-MiniLM-L6-v2") == DEFAULT_TEXT_EMBEDDER
    assert canonical_model_name("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert canonical_model_name(str(tmp_path)) == str(tmp_path.resolve())


def test_a_model_that_cannot_be_loaded_offline_is_a_user_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="cannot load text embedder 'nobody/no-such-embedder'"):
        TextEmbedder("nobody/no-such-embedder")
    with pytest.raises(UserError, match="cannot load text embedder"):
        TextEmbedder(str(tmp_path))  # an empty directory is no model
