"""Finding and loading a MERT checkpoint in the Hugging Face repository layout.

A checkpoint is a folder (or a Hub repository) holding `config.json`, `preprocessor_config.json`
and the weights as `model.safetensors` or `pytorch_model.bin`. Hub ids are resolved with
huggingface_hub's file download, which reads its local cache first and honours HF_HUB_OFFLINE;
nothing is ever executed from the repository (no custom code is imported).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors

from musiscene_core.errors import UserError, checkpoint_load_reason

CONFIG_FILE = "config.json"
PREPROCESSOR_FILE = "preprocessor_config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # in order of preference: safetensors needs no unpickling

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class CheckpointFiles:
    """The files of one checkpoint on local disk and a name for where they came from."""

    source: str  # the hub id, or the folder's name
    config: dict
    preprocessor: dict
    weights: Path


def locate_checkpoint(name_or_path: str | Path, revision: str | None = None) -> CheckpointFiles:
    """A local folder if `name_or_path` is one, otherwise a Hub repository id (at `revision`: a branch, tag or commit)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _local_checkpoint(path)
    text = str(name_or_path)
    if path.exists() or not _HUB_ID.match(text):
        raise UserError(f"{text} is neither a MERT checkpoint folder nor a Hugging Face model id like m-a-p/MERT-v1-330M.")
    return _hub_checkpoint(text, revision)


def _local_checkpoint(folder: Path) -> CheckpointFiles:
    missing = [name for name in (CONFIG_FILE, PREPROCESSOR_FILE) if not (folder / name).is_file()]
    weights = next((folder / name for name in WEIGHT_FILES if (folder / name).is_file()), None)
    if weights is None:
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise UserError(f"MERT checkpoint folder {folder} lacks {', '.join(missing)}.")
    return CheckpointFiles(
        source=folder.resolve().name,
        config=_read_json(folder / CONFIG_FILE),
        preprocessor=_read_json(folder / PREPROCESSOR_FILE),
        weights=weights,
    )


def _hub_checkpoint(repo_id: str, revision: str | None = None) -> CheckpointFiles:
    def unavailable(exc: Exception) -> UserError:
        return UserError(
            f"could not get MERT model {repo_id} from the Hugging Face Hub or its local cache"
            f" ({type(exc).__name__}); pass a local folder holding {CONFIG_FILE}, {PREPROCESSOR_FILE}"
            f" and {' or '.join(WEIGHT_FILES)} instead."
        )

    try:
        config = hf_hub_download(repo_id, CONFIG_FILE, revision=revision)
        preprocessor = hf_hub_download(repo_id, PREPROCESSOR_FILE, revision=revision)
    except (HfHubHTTPError, EntryNotFoundError, HFValidationError, OSError) as exc:
        raise unavailable(exc) from exc
    weights = None
    for name in WEIGHT_FILES:
        try:
            weights = Path(hf_hub_download(repo_id, name, revision=revision))
            break
        except EntryNotFoundError as exc:  # absent from the repository, or (offline) from the cache
            last_error = exc
        except (HfHubHTTPError, HFValidationError, OSError) as exc:
            raise unavailable(exc) from exc
    if weights is None:
        raise unavailable(last_error)
    return CheckpointFiles(
        source=repo_id, config=_read_json(Path(config)), preprocessor=_read_json(Path(preprocessor)), weights=weights
    )


def _read_json(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not readable JSON ({exc}).") from exc
    if not isinstance(document, dict):
        raise UserError(f"{path} does not hold a JSON object.")
    return document


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file or of a pickled state dict (loaded with weights_only=True)."""
    try:
        if path.suffix == ".safetensors":
            state = load_safetensors(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, SafetensorError, ValueError, pickle.UnpicklingError) as exc:
        raise UserError(f"could not read MERT weights {path} ({checkpoint_load_reason(exc)}).") from exc
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise UserError(f"MERT weights {path} do not hold a flat state dict of tensors.")
    return state


def match_state_dict(
    state: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]], renames: dict[str, str], where: Path
) -> dict[str, torch.Tensor]:
    """`state` with `renames` applied, after checking its names and shapes equal `expected` exactly."""
    renamed = {renames.get(name, name): tensor for name, tensor in state.items()}
    missing = sorted(set(expected) - set(renamed))
    unexpected = sorted(set(renamed) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
        raise UserError(f"MERT weights {where} do not fit its config.json: {' and '.join(parts)} parameters.")
    for name, shape in expected.items():
        if tuple(renamed[name].shape) != shape:
            raise UserError(
                f"MERT weights {where} do not fit its config.json: {name} has shape"
                f" {tuple(renamed[name].shape)}, expected {shape}."
            )
    return renamed


def weights_digest(path: Path) -> str:
    """The first 12 hex digits of the weights file's SHA-256: names the exact weights in outputs."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()[:12]
