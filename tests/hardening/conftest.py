import sys
from pathlib import Path

import pytest

# The tagging and index tests' helpers (catalogs, synthetic output tables) are shared with this corpus.
sys.path.insert(0, str(Path(__file__).parents[1] / "tagging"))
sys.path.insert(0, str(Path(__file__).parents[1] / "index"))


@pytest.fixture(scope="session")
def models_home(tiny_model):
    """A private $MUSISCENE_MODELS holding the session's tiny preset."""
    return tiny_model.parent
