import sys
from pathlib import Path

# The catalog writer of the tagging job's tests (tests/tagging/tag_helpers.py) serves these tests too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tagging"))
