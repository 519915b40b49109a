"""The one exception type the audio layer raises for a bad or unusable file."""

from __future__ import annotations

# Every AudioError carries one of these kinds, so callers (the catalog scanner, the tagging
# stages) can count and filter failures without parsing messages.
ERROR_KINDS = frozenset(
    {
        "not_found",  # the path does not exist
        "unreadable",  # it exists but cannot be read, or its container header cannot be parsed
        "unsupported",  # the content is not a format we decode, or it has no decodable audio track
        "empty",  # zero bytes, or a valid container that holds no audio samples
        "too_short",  # decodes fine but is shorter than the minimum duration asked for
        "decode_failed",  # the header is fine but the audio data does not decode
    }
)


class AudioError(Exception):
    """A file that cannot become audio: `kind` is one of ERROR_KINDS, `reason` is one sentence."""

    def __init__(self, kind: str, reason: str):
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown audio error kind {kind!r}; expected one of {sorted(ERROR_KINDS)}")
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason

    def __reduce__(self):
        # Errors cross process boundaries (Ray workers); rebuild from both fields, not from str().
        return (type(self), (self.kind, self.reason))
