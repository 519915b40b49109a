"""Which error rows a rerun tries again.

Permanent errors say the bytes are not usable audio; they are retried only when the file changed
(its fingerprint differs). Every other kind — the file was missing or unreadable for a moment, the
store throttled, a model batch ran out of memory — is transient and retried by a plain rerun.
"""

from __future__ import annotations

PERMANENT_ERROR_KINDS = frozenset({"empty", "unsupported", "decode_failed", "too_short"})


def is_permanent(error_kind: str | None) -> bool:
    """True for errors that the same bytes would give again; unknown kinds count as transient."""
    return error_kind in PERMANENT_ERROR_KINDS
