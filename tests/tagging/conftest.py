import pytest


@pytest.fixture(scope="session")
def models_home(tmp_path_factory):
    """A private $MUSISCENE_MODELS with the tiny preset built once for the session."""
    from musiscene_core.models.tiny_preset import make_tiny

    home = tmp_path_factory.mktemp("models")
    make_tiny(home / "tiny")
    return home
