import pytest

from musiscene_core.audio import write_audio
from musiscene_core.data.synthetic import generate_piece


@pytest.fixture(scope="session")
def musicgen_home(tmp_path_factory):
    """A models home where `--musicgen tiny` builds its model once for the session."""
    return tmp_path_factory.mktemp("musicgen-home")


@pytest.fixture(autouse=True)
def _models_home(monkeypatch, musicgen_home):
    monkeypatch.setenv("MUSISCENE_MODELS", str(musicgen_home))


@pytest.fixture(scope="session")
def video_40s(tmp_path_factory):
    """A 40-second H.264 + AAC video (longer than one MusicGen window)."""
    path = tmp_path_factory.mktemp("videos") / "scene.mp4"
    return write_audio(path, generate_piece("calm_sea", seed=1, duration_s=40.0, sample_rate=16000), 16000, "mp4")
