import pytest
from report_scenes import write_scene_run


@pytest.fixture(scope="session")
def scene_run(tmp_path_factory):
    """A tagged output folder: 30 ok tracks of three scene classes, two failed tracks, two run records."""
    return write_scene_run(tmp_path_factory.mktemp("report") / "out")
