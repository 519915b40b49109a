"""The library imports without Ray: only `musiscene_core.pipelines` may use it."""

import subprocess
import sys

_PROGRAM = """
import sys

class BlockRay:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, BlockRay())
for name in MODULES:
    __import__(name)
from musiscene_core.models import MUSISCENE_QUESTION, resolve_model
assert not [m for m in sys.modules if m == "ray" or m.startswith("ray.")]
print("imported")
"""

LIBRARY = [
    "musiscene_core.audio",
    "musiscene_core.catalog",
    "musiscene_core.models",
    "musiscene_core.index",
    "musiscene_core.tables",
    "musiscene_core.tagging.stages",
    "musiscene_core.tagging.graph",
    "musiscene_core.pipelines.sequential",
    "musiscene_core.train.prepare",
    "musiscene_core.cli",
]


def _run(modules: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _PROGRAM.replace("MODULES", repr(modules))], capture_output=True, text=True, timeout=300
    )


def test_library_modules_import_with_ray_absent():
    result = _run(LIBRARY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def test_the_blocker_blocks_ray():
    # Without this the first test could pass because the blocker does nothing.
    result = _run(["musiscene_core.pipelines.ray_init", "ray"])
    assert result.returncode != 0 and "blocked by the test" in result.stderr
