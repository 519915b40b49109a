"""The models package's layout contracts: configurations without torch, one preset.json writer, one dtype rule."""

import json
import subprocess
import sys

import torch

from musiscene_core.models import MUSISCENE_QUESTION
from musiscene_core.models.devices import default_dtype
from musiscene_core.models.preset_file import PRESET_FILE, write_preset
from musiscene_core.models.presets import resolve_model


def test_configurations_presets_and_the_question_import_without_torch():
    program = (
        "import sys\n"
        "import musiscene_core.models.mert.configuration, musiscene_core.models.mullama.configuration\n"
        "from musiscene_core.models import MUSISCENE_QUESTION, resolve_model\n"
        "import musiscene_core.models.tiny_preset\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_one_question_everywhere():
    from musiscene_core.models import presets
    from musiscene_core.models.mullama import captioner, configuration

    assert MUSISCENE_QUESTION == "What type of scene the music is suitable for?"
    assert captioner.MUSISCENE_QUESTION is configuration.MUSISCENE_QUESTION is presets.MUSISCENE_QUESTION


def test_written_preset_resolves(tmp_path, tiny_model):
    write_preset(
        tmp_path / "model",
        name="copy",
        question="Where?",
        mert=str(tiny_model / "mert"),
        captioner=str(tiny_model / "captioner"),
        base="tiny",
    )
    data = json.loads((tmp_path / "model" / PRESET_FILE).read_text())
    assert data["random_weights"] is False and data["base"] == "tiny"
    spec = resolve_model(str(tmp_path / "model"))
    assert (spec.name, spec.question, spec.mert) == ("copy", "Where?", str(tiny_model / "mert"))


def test_default_dtype_per_device():
    assert default_dtype("cpu") == default_dtype("cpu", training=True) == torch.float32
    assert default_dtype("cuda") == torch.float16  # MU-LLaMA's inference precision
    assert default_dtype(torch.device("cuda", 1), training=True) == torch.bfloat16
