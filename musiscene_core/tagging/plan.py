"""Deciding what a run must do: list the catalog, then drop files already tagged by the same model version."""

from __future__ import annotations

from dataclasses import dataclass, field

from musiscene_core.catalog import TrackRef, list_tracks
from musiscene_core.tagging.store import OutputStore


@dataclass
class Plan:
    todo: list[TrackRef]
    skipped_done: int  # already tagged by this model version with the same fingerprint
    skipped_non_audio: int
    listed: int
    skipped_paths: dict = field(default_factory=dict)  # links and special files not listed, by reason


def plan_run(src: str, store: OutputStore, model_version: str, force: bool = False, endpoint_url: str | None = None) -> Plan:
    """Unchanged files (same uri and fingerprint: size+mtime or ETag) are skipped without being read."""
    listing = list_tracks(src, endpoint_url)
    done = set() if force else store.done_keys(model_version)
    todo = [ref for ref in listing.tracks if (ref.uri, ref.fingerprint) not in done]
    return Plan(todo=todo, skipped_done=len(listing.tracks) - len(todo), skipped_non_audio=listing.skipped_non_audio, listed=len(listing.tracks),
                skipped_paths=dict(listing.skipped_paths))
