"""index.json: what an index folder holds and how it was built. Written last, it commits a build."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from musiscene_core import tables
from musiscene_core.errors import UserError
from musiscene_core.output_location import Commit, FileDigest, OutputLocation

MANIFEST_FILE = "index.json"
IDS_FILE = "ids.parquet"
CAPTIONS_PART = "captions"
AUDIO_PART = "audio"
FORMAT_VERSION = 1
METRIC = "inner_product"


@dataclass
class PartInfo:
    """One FAISS index of the folder (captions.faiss or audio.faiss)."""

    file: str
    factory: str
    dim: int
    embedding_model: str  # the text embedder for captions; the audio models' versions for audio
    search_params: dict[str, int]
    recall_at_10: float
    recall_queries: int
    bytes: int
    sha256: str

    def digest(self) -> FileDigest:
        return FileDigest(bytes=self.bytes, sha256=self.sha256)


@dataclass
class IndexInfo:
    """The content of index.json, plus what the last build did (added rows, rebuild or not)."""

    rows: int
    metric: str
    captions: PartInfo
    audio: PartInfo
    ids_file: str
    ids_bytes: int
    ids_sha256: str
    model_versions: list[str]
    memory_budget: int
    flat_threshold: int
    recall_target: float
    build_seconds: float
    created_at: str
    added_rows: int = 0
    rebuilt: bool = True
    skipped: dict[str, int] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    schema_version: str = tables.SCHEMA_VERSION

    def part(self, name: str) -> PartInfo:
        return self.captions if name == CAPTIONS_PART else self.audio

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> IndexInfo:
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("it does not hold a JSON object")
            if data.get("format_version") != FORMAT_VERSION:
                raise UserError(
                    f"the index at {where} has format version {data.get('format_version')!r}, "
                    f"this version of musiscene reads {FORMAT_VERSION}; rebuild it with `musiscene index build --rebuild`"
                )
            data["captions"] = PartInfo(**data["captions"])
            data["audio"] = PartInfo(**data["audio"])
            return cls(**data)
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"the index manifest at {where} is unreadable ({exc}); rebuild the index") from exc


def index_file(name: str) -> tuple[str, ...]:
    """Path parts of a file of the index folder, relative to the output folder."""
    return (tables.INDEX_DIR, name)


def read_manifest(location: OutputLocation) -> IndexInfo | None:
    """The committed manifest of the output folder, or None when no index was built there."""
    parts = index_file(MANIFEST_FILE)
    if not location.exists(*parts):
        return None
    with location.fs.open(location.path(*parts), "r") as handle:
        return IndexInfo.from_json(handle.read(), location.path(*parts))


def write_manifest(commit: Commit, info: IndexInfo) -> None:
    """Write index.json; call it last in a commit, as it is the marker that the other files are complete."""
    commit.write_bytes(index_file(MANIFEST_FILE), info.to_json().encode())
