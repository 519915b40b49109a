"""Named model presets and model directories: which MERT, which captioner, which question.

A model directory holds a `preset.json`:

    {"name": "...", "question": "...", "random_weights": false,
     "mert": "mert" | "m-a-p/MERT-v1-330M",                       # local dir (relative to the file) or hub id
     "mert_revision": "main",                                     # optional: branch, tag or commit of a hub id
     "captioner": "captioner"                                     # the project's format (safetensors + config)
              | {"checkpoint": "checkpoint.pth", "llama_dir": "llama", "tokenizer": "tokenizer.model"}}  # MU-LLaMA's files

The built-in presets `musiscene` and `mu-llama` look for their files under $MUSISCENE_MODELS/<name>/
(default ~/.cache/musiscene/models/<name>/); `tiny` (random weights, seconds) and `tiny-scenes` (the tiny
architectures trained on synthetic scene music, a few minutes) are built there offline on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from musiscene_core.errors import UserError
from musiscene_core.models.mullama.configuration import MU_LLAMA_QUESTION, MUSISCENE_QUESTION
from musiscene_core.models.preset_file import PRESET_FILE, write_preset

MERT_330M = "m-a-p/MERT-v1-330M"


def models_home() -> Path:
    return Path(os.environ.get("MUSISCENE_MODELS", Path.home() / ".cache" / "musiscene" / "models"))


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to load the models of a run; small and picklable, so Ray actors load their own copy."""

    name: str
    mert: str
    captioner: str | dict
    question: str
    random_weights: bool = False
    root: str | None = None
    mert_revision: str | None = None  # for a hub id: branch, tag or commit (None: main)

    def load_mert(self, device: str | None = None):
        from musiscene_core.models import MertEncoder

        return MertEncoder.from_pretrained(self.mert, device=device, revision=self.mert_revision)

    def load_captioner(self, device: str | None = None):
        from musiscene_core.models import MusiSceneCaptioner

        if isinstance(self.captioner, dict):
            return MusiSceneCaptioner.from_mullama(device=device, **self.captioner)
        return MusiSceneCaptioner.from_pretrained(self.captioner, device=device)

    def identity(self) -> str:
        """A cheap identity of every weight source: for local files their names, sizes and first and last
        MiB; for a hub id the id, the revision asked for and the commit the local cache resolves it to."""
        digest = hashlib.sha256()
        sources = [(self.mert, self.mert_revision)]
        sources += [(item, None) for item in (self.captioner.values() if isinstance(self.captioner, dict) else [self.captioner])]
        for source, revision in sources:
            if Path(source).exists():
                for path in _files(source):
                    digest.update(_file_identity(path))
            else:
                digest.update(_hub_identity(str(source), revision).encode())
        return digest.hexdigest()[:12]

    def version(self, **settings) -> str:
        """The model version recorded on every output row: weights + question + every setting that changes outputs."""
        digest = hashlib.sha256(
            json.dumps({"weights": self.identity(), "question": self.question, **settings}, sort_keys=True).encode()
        )
        return f"{self.name}-{digest.hexdigest()[:12]}"

    def describe(self) -> dict:
        return asdict(self)


def _files(source: str) -> list[Path]:
    path = Path(source)
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _file_identity(path: Path, block: int = 1 << 20) -> bytes:
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(block)
        handle.seek(max(size - block, 0))
        tail = handle.read(block)
    return f"{path.name}:{size}:".encode() + hashlib.sha256(head + tail).digest()


def _hub_identity(repo_id: str, revision: str | None) -> str:
    """`hub:<id>@<revision>=<commit>`: the commit is read from the local Hugging Face cache when it
    has resolved this revision before (that is what gets loaded offline), else left empty."""
    revision = revision or "main"
    commit = revision if re.fullmatch(r"[0-9a-f]{40}", revision) else ""
    if not commit:
        from huggingface_hub.constants import HF_HUB_CACHE

        ref = Path(HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "refs" / revision
        commit = ref.read_text().strip() if ref.is_file() else ""
    return f"hub:{repo_id}@{revision}={commit}"


def _from_directory(root: Path, question: str | None) -> ModelSpec:
    try:
        data = json.loads((root / PRESET_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{root / PRESET_FILE} is not valid JSON") from exc

    def local(value: str) -> str:
        candidate = root / value
        return str(candidate) if candidate.exists() or not _looks_like_hub_id(value) else value

    captioner = data.get("captioner")
    if isinstance(captioner, dict):
        captioner = {key: local(value) for key, value in captioner.items()}
    elif isinstance(captioner, str):
        captioner = local(captioner)
    else:
        raise UserError(f"{root / PRESET_FILE} names no captioner")
    if "mert" not in data:
        raise UserError(f"{root / PRESET_FILE} names no MERT model")
    return ModelSpec(
        name=data.get("name", root.name),
        mert=local(data["mert"]),
        captioner=captioner,
        question=question or data.get("question") or MUSISCENE_QUESTION,
        random_weights=bool(data.get("random_weights", False)),
        root=str(root),
        mert_revision=data.get("mert_revision"),
    )


def _looks_like_hub_id(value: str) -> bool:
    return value.count("/") == 1 and not value.startswith((".", "/"))


BUILTIN = {
    "musiscene": {
        "name": "musiscene",
        "question": MUSISCENE_QUESTION,
        "mert": MERT_330M,
        "captioner": {"checkpoint": "checkpoint.pth", "llama_dir": "llama", "tokenizer": "tokenizer.model"},
    },
    "mu-llama": {
        "name": "mu-llama",
        "question": MU_LLAMA_QUESTION,
        "mert": MERT_330M,
        "captioner": {"checkpoint": "checkpoint.pth", "llama_dir": "llama", "tokenizer": "tokenizer.model"},
    },
}


def _build_tiny(root: Path) -> None:
    from musiscene_core.models.tiny_preset import make_tiny

    if not (root / PRESET_FILE).is_file():
        make_tiny(root)


def _build_tiny_scenes(root: Path) -> None:
    from musiscene_core.train.scenes_preset import ensure_tiny_scenes

    ensure_tiny_scenes(root, say=lambda message: print(message, file=sys.stderr, flush=True))


# Presets built offline into the models home on first use (then cached there). Each builder returns at
# once when a current build is cached; `tiny-scenes` also replaces a build of an older recipe.
BUILT_OFFLINE = {"tiny": _build_tiny, "tiny-scenes": _build_tiny_scenes}


def resolve_model(name_or_dir: str, question: str | None = None) -> ModelSpec:
    """A preset name (`tiny`, `tiny-scenes`, `musiscene`, `mu-llama`) or a model directory -> a loadable ModelSpec."""
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        if not (path / PRESET_FILE).is_file():
            raise UserError(
                f"model directory {str(path)!r} has no {PRESET_FILE}; build one with `musiscene models make-tiny` or see the README's model layout"
            )
        return _from_directory(path, question)
    if name_or_dir in BUILT_OFFLINE:
        root = models_home() / name_or_dir
        BUILT_OFFLINE[name_or_dir](root)
        return _from_directory(root, question)
    if name_or_dir in BUILTIN:
        root = models_home() / name_or_dir
        if not (root / PRESET_FILE).is_file():
            spec = BUILTIN[name_or_dir]
            missing = [f for f in spec["captioner"].values() if not (root / f).exists()]
            if missing:
                raise UserError(
                    f"the {name_or_dir!r} preset needs its weights in {root} ({', '.join(missing)} missing): put them there "
                    f"(see the README, 'Real weights') or pass --model DIR, or try the pipeline with --model tiny (random weights)"
                )
            write_preset(root, **spec)
        return _from_directory(root, question)
    if "/" in name_or_dir or name_or_dir.startswith("."):
        raise UserError(f"model directory {name_or_dir!r} does not exist")
    raise UserError(f"unknown model {name_or_dir!r}; use a preset ({', '.join([*BUILT_OFFLINE, *BUILTIN])}) or a model directory")
