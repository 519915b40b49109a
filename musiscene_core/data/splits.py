"""Train/validation/test assignment by source video: a pure function of the video's identity.

A video's split comes from the SHA-256 of (seed, its content hash), so every clip of a video lands in
the same split, the assignment is the same on every rerun and every machine, and adding videos never
moves the ones already assigned.
"""

from __future__ import annotations

import hashlib

from musiscene_core.errors import UserError

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def parse_fractions(text: str | tuple | list) -> tuple[float, float, float]:
    """'0.8,0.1,0.1' (or a sequence) -> train, validation, test fractions that sum to 1."""
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        raise UserError(f"split fractions must be three numbers like 0.8,0.1,0.1, not {text!r}") from None
    if len(values) != 3 or any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6 or values[0] <= 0:
        raise UserError(
            f"split fractions must be three non-negative numbers summing to 1 with a positive train part, not {text!r}"
        )
    return values[0], values[1], values[2]


def split_of(video_id: str, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, seed: int = 0) -> str:
    """The split of the source video whose content hash is `video_id`."""
    digest = hashlib.sha256(f"musiscene-split:{seed}:{video_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2.0**64  # uniform in [0, 1)
    if position < fractions[0]:
        return "train"
    if position < fractions[0] + fractions[1]:
        return "validation"
    return "test"
