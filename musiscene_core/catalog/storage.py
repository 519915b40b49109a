"""Resolving a catalog or output location (local path, file:// or s3://) to an fsspec filesystem."""

from __future__ import annotations

import os
from dataclasses import dataclass

import fsspec

from musiscene_core.errors import UserError

SUPPORTED_SCHEMES = ("file", "s3")


@dataclass(frozen=True)
class Location:
    """A filesystem plus a root path on it; `uri(path)` turns a path back into what users see."""

    fs: fsspec.AbstractFileSystem
    root: str
    scheme: str

    def uri(self, path: str) -> str:
        if self.scheme == "s3":
            return "s3://" + path.lstrip("/")
        return path

    @property
    def is_remote(self) -> bool:
        return self.scheme != "file"


def scheme_of(uri: str) -> str:
    if "://" not in uri:
        return "file"
    return uri.split("://", 1)[0].lower()


def storage_options(uri: str, endpoint_url: str | None = None) -> dict:
    """fsspec options for `uri`: S3 credentials come from the standard AWS chain; `endpoint_url` targets MinIO and other S3-compatible stores."""
    if scheme_of(uri) != "s3":
        return {}
    from musiscene_core.s3_errors import S3_CLIENT_CONFIG

    # Bounded timeouts and retries: a dead endpoint is an error within seconds, not a hang.
    options: dict = {"config_kwargs": S3_CLIENT_CONFIG}
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    return options


def open_location(uri: str, endpoint_url: str | None = None) -> Location:
    scheme = scheme_of(uri)
    if scheme not in SUPPORTED_SCHEMES:
        raise UserError(f"unsupported location scheme '{scheme}://' in {uri!r}; use a local path or s3://bucket/prefix")
    if scheme == "file":
        uri = os.path.abspath(uri.split("://", 1)[1] if "://" in uri else uri)
    try:
        fs, root = fsspec.core.url_to_fs(uri, **storage_options(uri, endpoint_url))
    except ImportError as exc:
        raise UserError(f"cannot open {uri!r}: {exc}") from exc
    return Location(fs=fs, root=root.rstrip("/") or "/", scheme=scheme)
