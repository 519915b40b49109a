import shutil
from pathlib import Path

import pytest
from llm_server import LLMServer
from videos import write_video


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory) -> Path:
    """Two MP4 and two WebM videos with music, a copy of one, a video without sound and a corrupt file."""
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "beach.mp4", seed=1, scene="calm_sea")
    write_video(root / "chase.mp4", seed=2, scene="neon_chase", seconds=3.0)
    write_video(root / "snow.webm", seed=3, scene="snowy_morning")
    write_video(root / "battle.webm", seed=4, scene="epic_battle")
    (root / "reupload").mkdir()
    shutil.copy(root / "beach.mp4", root / "reupload" / "beach.mp4")
    write_video(root / "silent.mp4", seed=5, audio=False)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17not a movie" * 300)
    (root / "notes.txt").write_text("not a video\n")
    return root


@pytest.fixture(scope="session")
def llm_server():
    with LLMServer(slow_s=2.0) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_video_captioner(tmp_path_factory) -> Path:
    from musiscene_core.models.video_captioner import make_tiny_video_captioner

    return make_tiny_video_captioner(tmp_path_factory.mktemp("video-captioner") / "git-tiny")


@pytest.fixture(scope="session")
def models_home(tiny_model):
    """The session's tiny preset as $MUSISCENE_MODELS/tiny, so `--model tiny` finds it."""
    return tiny_model.parent
