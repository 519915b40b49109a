"""The catalogs a server answers for: one loaded SceneIndex each, swapped atomically when its index is rebuilt.

A request takes the catalog's current index once and uses that object to the end, so a swap
never changes an index under a request in flight: the old one is dropped when its last request
finishes. A background thread compares each catalog's index.json with the loaded one and loads
a changed index completely (every file checked against its digest) before swapping it in; a
build still being written fails that check and is retried at the next poll.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field

from musiscene_core.errors import UserError
from musiscene_core.index import IndexInfo, SceneIndex
from musiscene_core.index.manifest import read_manifest
from musiscene_core.output_location import OutputLocation

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SerializedEmbedder:
    """A text embedder shared by request threads; one query is embedded at a time.

    Hugging Face fast tokenizers raise "Already borrowed" when one instance is used by several
    threads at once, and two concurrent forward passes on two cores only thrash each other.
    """

    def __init__(self, embedder):
        self._embedder = embedder
        self._lock = threading.Lock()
        self.name = embedder.name
        self.dim = embedder.dim

    def embed(self, texts):
        with self._lock:
            return self._embedder.embed(texts)


@dataclass
class Catalog:
    """One served index folder and the index loaded from it."""

    name: str
    dst: str
    endpoint_url: str | None
    index: SceneIndex
    stamp: tuple
    loaded_at: float = field(default_factory=time.time)


def manifest_stamp(info: IndexInfo) -> tuple:
    """What changes whenever a build commits: the digests of the three files and the commit time."""
    return (info.created_at, info.ids_sha256, info.captions.sha256, info.audio.sha256)


def parse_index_option(value: str) -> tuple[str, str]:
    """`NAME=DST` or a bare `DST` (named after its last path component) -> (name, dst)."""
    name, separator, dst = value.partition("=")
    if not separator or "://" in name or "/" in name:
        dst = value
        name = value.rstrip("/").rsplit("/", 1)[-1] or "catalog"
    if not _NAME.match(name):
        raise UserError(
            f"catalog name {name!r} is not usable in URLs; name it explicitly with --index NAME=DST "
            "(letters, digits, '.', '_' and '-')"
        )
    return name, dst


class CatalogRegistry:
    """Catalogs by name, the first one the default; `reload_changed` swaps in rebuilt indexes."""

    def __init__(self, embedder_factory=None):
        self._catalogs: dict[str, Catalog] = {}
        self._lock = threading.Lock()
        self._embedders: dict[str, SerializedEmbedder] = {}
        self._embedder_factory = embedder_factory or _default_embedder
        self.reloads: dict[tuple[str, str], int] = {}

    def add(self, name: str, dst: str, endpoint_url: str | None = None) -> Catalog:
        if name in self._catalogs:
            raise UserError(f"two indexes are named {name!r}; give each a distinct name with --index NAME=DST")
        index, stamp = self._load(dst, endpoint_url)
        catalog = Catalog(name, dst, endpoint_url, index, stamp)
        with self._lock:
            self._catalogs[name] = catalog
        return catalog

    @property
    def names(self) -> list[str]:
        return list(self._catalogs)

    def catalogs(self) -> list[Catalog]:
        with self._lock:
            return list(self._catalogs.values())

    def get(self, name: str | None = None) -> Catalog:
        """The catalog's current state; hold on to it for the whole request."""
        with self._lock:
            if not self._catalogs:
                raise UserError("no catalog is loaded")
            if name is None:
                return next(iter(self._catalogs.values()))
            catalog = self._catalogs.get(name)
        if catalog is None:
            raise KeyError(name)
        return catalog

    def reload_changed(self) -> list[str]:
        """Load and swap in every index whose index.json changed since it was loaded; names of those swapped."""
        swapped = []
        for catalog in self.catalogs():
            try:
                info = read_manifest(OutputLocation(catalog.dst, endpoint_url=catalog.endpoint_url))
                if info is None or manifest_stamp(info) == catalog.stamp:
                    continue
                index, stamp = self._load(catalog.dst, catalog.endpoint_url)
            except (UserError, OSError) as exc:
                # A build under way, or storage briefly unreachable: keep serving the loaded index.
                log.warning("catalog %s: keeping the loaded index (%s)", catalog.name, exc)
                self._count(catalog.name, "failed")
                continue
            with self._lock:
                self._catalogs[catalog.name] = Catalog(catalog.name, catalog.dst, catalog.endpoint_url, index, stamp)
            log.info("catalog %s: now serving the rebuilt index (%d tracks)", catalog.name, len(index))
            self._count(catalog.name, "swapped")
            swapped.append(catalog.name)
        return swapped

    def _load(self, dst: str, endpoint_url: str | None) -> tuple[SceneIndex, tuple]:
        location = OutputLocation(dst, endpoint_url=endpoint_url)
        info = read_manifest(location) if location.fs.exists(location.root) else None
        embedder = self._embedder(info.captions.embedding_model) if info is not None else None
        index = SceneIndex.load(dst, embedder, endpoint_url=endpoint_url)
        return index, manifest_stamp(index.info)

    def _embedder(self, model: str) -> SerializedEmbedder:
        if model not in self._embedders:
            self._embedders[model] = SerializedEmbedder(self._embedder_factory(model))
        return self._embedders[model]

    def _count(self, name: str, outcome: str) -> None:
        with self._lock:
            self.reloads[(name, outcome)] = self.reloads.get((name, outcome), 0) + 1


class Reloader:
    """A daemon thread calling `registry.reload_changed()` every `interval` seconds until stopped."""

    def __init__(self, registry: CatalogRegistry, interval: float):
        self._registry = registry
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="musiscene-index-reloader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._registry.reload_changed()
            except Exception:  # the server must keep answering whatever a poll hits
                log.exception("index reload poll failed")


def _default_embedder(model: str):
    from musiscene_core.models import TextEmbedder

    return TextEmbedder(model)
