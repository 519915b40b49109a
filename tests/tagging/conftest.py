import pytest


@pytest.fixture(scope="session")
def models_home(tiny_model):
    """A private $MUSISCENE_MODELS holding the session's tiny preset."""
    return tiny_model.parent
