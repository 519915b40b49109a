"""Runs frechet-audio-distance's own `FrechetAudioDistance.calculate_frechet_distance` on saved statistics.

Executed by the package's environment (.venv-fad: numpy<2, scipy, the package without its model dependencies).
The package's module imports torch, laion_clap, encodec and resampy at import time (and laion_clap calls the
hub), so the method's source is taken from the installed fad.py and run as it is, with the numpy and scipy it
imports: the package's formula and numerics, without its models.
"""

import ast
import importlib.util
import inspect
import json
import sys
from pathlib import Path

import numpy as np
from scipy import linalg

spec = importlib.util.find_spec("frechet_audio_distance")
source = (Path(spec.submodule_search_locations[0]) / "fad.py").read_text()
tree = ast.parse(source)
cls = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "FrechetAudioDistance")
method = next(node for node in cls.body if isinstance(node, ast.FunctionDef) and node.name == "calculate_frechet_distance")
namespace = {"np": np, "linalg": linalg}
exec(compile(ast.Module(body=[method], type_ignores=[]), "frechet_audio_distance/fad.py", "exec"), namespace)
calculate = namespace["calculate_frechet_distance"]
assert list(inspect.signature(calculate).parameters)[:5] == ["self", "mu1", "sigma1", "mu2", "sigma2"]

results = {}
for path in sys.argv[1:]:
    data = np.load(path)
    results[Path(path).stem] = float(calculate(None, data["mu1"], data["sigma1"], data["mu2"], data["sigma2"]))
print(json.dumps(results))
