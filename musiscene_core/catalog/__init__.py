"""Finding tracks: local folders, s3:// prefixes and manifests; track identity; catalog scans."""

from musiscene_core.catalog.identity import fingerprint, sha256_stream
from musiscene_core.catalog.listing import AUDIO_EXTENSIONS, Listing, TrackRef, list_tracks
from musiscene_core.catalog.storage import Location, open_location, storage_options

__all__ = [
    "AUDIO_EXTENSIONS",
    "Listing",
    "Location",
    "TrackRef",
    "fingerprint",
    "list_tracks",
    "open_location",
    "sha256_stream",
    "storage_options",
]
