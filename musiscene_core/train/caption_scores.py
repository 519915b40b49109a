"""Caption scores computed during training from additive counts, so workers can sum them.

BLEU is corpus BLEU (Papineni et al. 2002) with one reference per caption: clipped n-gram matches and
n-gram totals for n = 1..4, hypothesis and reference lengths, brevity penalty, uniform weights, on
lower-cased word tokens. Scene accuracy counts captions whose scene class (by keyword, see
`classify_caption`) equals their reference's, over references that name a class.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from musiscene_core.data.synthetic_scenes import classify_caption

MAX_N = 4
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Layout of the count vector: matches[1..4], totals[1..4], hyp_len, ref_len, scene_correct, scene_total.
N_COUNTS = 2 * MAX_N + 4


def words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def caption_counts(hypotheses: list[str], references: list[str]) -> np.ndarray:
    """The additive counts of a set of (hypothesis, reference) pairs, as a float64 vector."""
    counts = np.zeros(N_COUNTS, dtype=np.float64)
    for hyp, ref in zip(hypotheses, references, strict=True):
        h, r = words(hyp), words(ref)
        for n in range(1, MAX_N + 1):
            hyp_ngrams = Counter(tuple(h[i : i + n]) for i in range(len(h) - n + 1))
            ref_ngrams = Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
            counts[n - 1] += sum(min(c, ref_ngrams[g]) for g, c in hyp_ngrams.items())
            counts[MAX_N + n - 1] += max(len(h) - n + 1, 0)
        counts[2 * MAX_N] += len(h)
        counts[2 * MAX_N + 1] += len(r)
        ref_scene = classify_caption(ref)
        if ref_scene is not None:
            counts[2 * MAX_N + 3] += 1
            counts[2 * MAX_N + 2] += classify_caption(hyp) == ref_scene
    return counts


def bleu(counts: np.ndarray, max_n: int = MAX_N) -> float:
    """Corpus BLEU-`max_n` in [0, 1] from summed counts; 0 when any n-gram order has no match."""
    matches, totals = counts[:MAX_N], counts[MAX_N : 2 * MAX_N]
    hyp_len, ref_len = counts[2 * MAX_N], counts[2 * MAX_N + 1]
    if hyp_len == 0 or any(matches[n] == 0 or totals[n] == 0 for n in range(max_n)):
        return 0.0
    log_precision = sum(math.log(matches[n] / totals[n]) for n in range(max_n)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1.0 - ref_len / hyp_len)
    return brevity * math.exp(log_precision)


def scene_accuracy(counts: np.ndarray) -> float | None:
    """Fraction of captions naming their reference's scene class; None when no reference names one."""
    total = counts[2 * MAX_N + 3]
    return float(counts[2 * MAX_N + 2] / total) if total else None


def summarize(counts: np.ndarray) -> dict:
    return {
        "bleu": bleu(counts),
        "bleu1": bleu(counts, 1),
        "scene_accuracy": scene_accuracy(counts),
        "scene_total": int(counts[2 * MAX_N + 3]),
    }
