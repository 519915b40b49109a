"""Finding a captioner's files on disk and converting between MU-LLaMA's format and the project's.

A captioner source is one of
* the project format: a folder with `captioner.json` (written by `MusiSceneCaptioner.save_pretrained`);
* MU-LLaMA's files: a `checkpoint.pth` (the file, or a folder holding it) plus a LLaMA folder (Meta or
  Hugging Face layout) and a `tokenizer.model`. When not given, the LLaMA folder and tokenizer are looked
  for where MU-LLaMA's release puts them: `ckpts/checkpoint.pth`, `ckpts/LLaMA/7B/`, `ckpts/LLaMA/tokenizer.model`;
* a model directory (`preset.json`), whose captioner entry is one of the two above.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from musiscene_core.errors import UserError
from musiscene_core.models.mullama.captioner import CONFIG_FILE, MusiSceneCaptioner
from musiscene_core.models.presets import PRESET_FILE

MULLAMA_CHECKPOINT = "checkpoint.pth"
TOKENIZER_FILE = "tokenizer.model"
FORMATS = ("musiscene", "mullama")
# Where MU-LLaMA's release and common copies of it keep the LLaMA, relative to the checkpoint's folder.
_LLAMA_CANDIDATES = ("LLaMA/7B", "LLaMA", "llama", "llama/7B")


@dataclass(frozen=True)
class CaptionerSource:
    """Where a captioner's files are. `format` is 'musiscene' (`directory`) or 'mullama' (the other three)."""

    format: str
    directory: Path | None = None
    checkpoint: Path | None = None
    llama_dir: Path | None = None
    tokenizer: Path | None = None

    def load(self, device: str | None = None, dtype=None) -> MusiSceneCaptioner:
        if self.format == "musiscene":
            return MusiSceneCaptioner.from_pretrained(self.directory, device=device, dtype=dtype, llama_dir=self.llama_dir)
        return MusiSceneCaptioner.from_mullama(self.checkpoint, self.llama_dir, self.tokenizer, device=device, dtype=dtype)

    def describe(self) -> dict:
        paths = {
            "directory": self.directory,
            "checkpoint": self.checkpoint,
            "llama_dir": self.llama_dir,
            "tokenizer": self.tokenizer,
        }
        return {"format": self.format, **{k: str(v) for k, v in paths.items() if v is not None}}


def is_llama_dir(path: Path) -> bool:
    """A folder holding Meta (params.json) or Hugging Face (config.json of a llama model) LLaMA weights."""
    if (path / "params.json").is_file() and any(path.glob("*.pth")):
        return True
    config = path / "config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text()).get("model_type") == "llama"
        except (OSError, json.JSONDecodeError):
            return False
    return False


def find_captioner(src: str | Path, llama_dir: str | Path | None = None, tokenizer: str | Path | None = None) -> CaptionerSource:
    """Resolve `src` (see module docstring) to the files of one captioner; UserError when something is missing."""
    path = Path(src).expanduser()
    if not path.exists():
        raise UserError(f"{path} does not exist")
    if path.is_dir() and (path / PRESET_FILE).is_file():
        return _from_preset(path, llama_dir, tokenizer)
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        return CaptionerSource("musiscene", directory=path, llama_dir=_optional(llama_dir))
    checkpoint = path / MULLAMA_CHECKPOINT if path.is_dir() else path
    if not checkpoint.is_file():
        raise UserError(
            f"{path} holds no captioner: expected {CONFIG_FILE} (project format), {MULLAMA_CHECKPOINT} "
            f"(MU-LLaMA format) or {PRESET_FILE} (model directory)"
        )
    return _mullama_files(checkpoint, llama_dir, tokenizer)


def _optional(value) -> Path | None:
    return Path(value).expanduser() if value is not None else None


def _from_preset(root: Path, llama_dir, tokenizer) -> CaptionerSource:
    try:
        entry = json.loads((root / PRESET_FILE).read_text()).get("captioner")
    except json.JSONDecodeError as exc:
        raise UserError(f"{root / PRESET_FILE} is not valid JSON") from exc
    if isinstance(entry, str):
        return find_captioner(root / entry, llama_dir, tokenizer)
    if isinstance(entry, dict) and "checkpoint" in entry:
        return _mullama_files(
            root / entry["checkpoint"],
            llama_dir or _relative(root, entry.get("llama_dir")),
            tokenizer or _relative(root, entry.get("tokenizer")),
        )
    raise UserError(f"{root / PRESET_FILE} names no captioner")


def _relative(root: Path, value: str | None) -> Path | None:
    return root / value if value else None


def _mullama_files(checkpoint: Path, llama_dir, tokenizer) -> CaptionerSource:
    if not checkpoint.is_file():
        raise UserError(f"MU-LLaMA checkpoint {checkpoint} does not exist")
    if llama_dir is None:
        found = [checkpoint.parent / c for c in _LLAMA_CANDIDATES if is_llama_dir(checkpoint.parent / c)]
        if not found:
            raise UserError(
                f"no LLaMA folder found next to {checkpoint} (looked in {', '.join(_LLAMA_CANDIDATES)}); pass --llama-dir"
            )
        llama_dir = found[0]
    llama = Path(llama_dir).expanduser()
    if not llama.is_dir():
        raise UserError(f"LLaMA folder {llama} does not exist")
    if tokenizer is None:
        candidates = [llama / TOKENIZER_FILE, llama.parent / TOKENIZER_FILE, checkpoint.parent / TOKENIZER_FILE]
        tokenizer = next((c for c in candidates if c.is_file()), None)
        if tokenizer is None:
            raise UserError(f"no {TOKENIZER_FILE} found in {llama}, {llama.parent} or {checkpoint.parent}; pass --tokenizer")
    return CaptionerSource("mullama", checkpoint=checkpoint, llama_dir=llama, tokenizer=Path(tokenizer).expanduser())


@dataclass
class Conversion:
    """What `convert` did: the formats, the model version (unchanged by conversion) and the files written."""

    source: dict
    target_format: str
    destination: str
    model_version: str
    llama_copied: bool
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def convert(
    source: CaptionerSource,
    dst: str | Path,
    to: str,
    copy_llama: bool = True,
    dtype: str = "float32",
    llama_type: str = "7B",
) -> Conversion:
    """Write `source`'s captioner to `dst` in format `to` ('musiscene' or 'mullama').

    copy_llama: musiscene -> also write llama.safetensors (else captioner.json references the LLaMA folder
    the source names); mullama -> also write LLaMA/<llama_type>/ (Meta layout) and LLaMA/tokenizer.model
    (else only checkpoint.pth). dtype: the tensors' type in the project format (MU-LLaMA checkpoints are fp32)."""
    if to not in FORMATS:
        raise UserError(f"unknown target format {to!r}; use {' or '.join(FORMATS)}")
    out = Path(dst).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; choose a new folder")
    captioner = source.load(device="cpu", dtype=dtype)
    if to == "musiscene":
        if not copy_llama and captioner.llama_source is None:
            raise UserError(
                f"{source.directory} holds its own LLaMA weights, so there is no LLaMA folder to reference; convert with the LLaMA copied"
            )
        captioner.save_pretrained(out, include_llama=copy_llama)
    else:
        captioner.export_mullama(out, include_llama=copy_llama, llama_type=llama_type)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return Conversion(source.describe(), to, str(out), captioner.model_version, copy_llama, files)
