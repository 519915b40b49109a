"""Caption metrics under two named protocols, scored pair by pair so that any subset (a bootstrap resample) can be re-aggregated.

`mullama` — the definitions of MU-LLaMA's ModelEvaluations/evaluate.py, quirks included:
    bleu     nltk sentence_bleu([ref], cand) on the raw strings, so over characters, not words
    bleu4    the same with weights (0, 0, 0, 1)
    meteor   nltk meteor_score([wordpunct(ref)], wordpunct(cand))
    rouge_l  rouge-score ROUGE-L *recall* with the Porter stemmer
    bertscore  BERTScore recall (MU-LLaMA used roberta-large)
    each a mean over pairs.
`standard` — what caption papers usually report:
    bleu     corpus BLEU over words (sacrebleu, 13a tokenisation, up to 4-grams)
    bleu4    corpus 4-gram precision times the brevity penalty (sacrebleu's statistics): the word-level
             counterpart of `mullama`'s bleu4
    meteor   nltk METEOR on lower-cased wordpunct tokens, mean over pairs
    rouge_l  ROUGE-L F1 with stemming, mean over pairs
    bertscore  BERTScore F1, mean over pairs
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from musiscene_core.errors import UserError

PROTOCOLS = ("mullama", "standard")
METRICS = ("bleu", "bleu4", "meteor", "rouge_l", "bertscore")


@dataclass
class PairScores:
    """Per-pair scores of one prediction set; `bleu_stats` holds sacrebleu's per-sentence statistics (standard protocol)."""

    protocol: str
    per_pair: dict[str, np.ndarray]
    bleu_stats: np.ndarray | None = None
    bertscore_model: str | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(next(iter(self.per_pair.values())))

    def aggregate(self, indices: np.ndarray | None = None) -> dict[str, float]:
        """The protocol's scores over the pairs `indices` (all pairs by default; repeats allowed)."""
        idx = np.arange(len(self)) if indices is None else np.asarray(indices)
        scores = {name: float(values[idx].mean()) for name, values in self.per_pair.items()}
        if self.bleu_stats is not None:
            scores["bleu"], scores["bleu4"] = _corpus_bleu(self.bleu_stats[idx].sum(axis=0))
        return {name: scores[name] for name in METRICS if name in scores}

    def bootstrap(self, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, tuple[float, float]]:
        """Percentile bootstrap intervals over pairs (resampled with replacement, same draws for every metric)."""
        rng = np.random.default_rng(seed)
        n = len(self)
        draws = [self.aggregate(rng.integers(0, n, n)) for _ in range(resamples)]
        tail = (1 - level) / 2 * 100
        return {
            name: (
                float(np.percentile([d[name] for d in draws], tail)),
                float(np.percentile([d[name] for d in draws], 100 - tail)),
            )
            for name in draws[0]
        }


def caption_metrics(
    predictions,
    references,
    protocol: str = "mullama",
    bertscore_model: str | None = None,
    bertscore_layers: int | None = None,
    device: str | None = None,
) -> dict[str, float]:
    """Scores of predictions against references (one reference per prediction, in the same order).

    Returns {"bleu", "bleu4", "meteor", "rouge_l"} (+ "bertscore" when `bertscore_model`, a hub id or local
    directory, is given; `bertscore_layers` defaults to bert-score's choice for that model).
    """
    return score_pairs(predictions, references, protocol, bertscore_model, bertscore_layers, device).aggregate()


def score_pairs(
    predictions,
    references,
    protocol: str = "mullama",
    bertscore_model: str | os.PathLike | None = None,
    bertscore_layers: int | None = None,
    device: str | None = None,
) -> PairScores:
    preds, refs = _texts(predictions, "prediction"), _texts(references, "reference")
    if len(preds) != len(refs):
        raise UserError(f"{len(preds)} predictions but {len(refs)} references; they must pair up one to one")
    if not preds:
        raise UserError("no caption pairs to score")
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}; use {' or '.join(PROTOCOLS)}")
    scorer = _mullama_pair if protocol == "mullama" else _standard_pair
    rows = [scorer(p, r) for p, r in zip(preds, refs)]
    per_pair = {name: np.array([row[name] for row in rows], dtype=np.float64) for name in rows[0]}
    result = PairScores(protocol, per_pair, bertscore_model=bertscore_model)
    if protocol == "standard":
        result.bleu_stats = _sacrebleu_stats(preds, refs)
    if bertscore_model:
        from musiscene_core.metrics.bertscore import bertscore

        bert = bertscore(preds, refs, bertscore_model, bertscore_layers, device=device)
        result.per_pair["bertscore"] = bert["recall" if protocol == "mullama" else "f1"]
    return result


def _texts(values, what: str) -> list[str]:
    texts = []
    for value in values:
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise UserError(f"every {what} must be a string, got {type(value).__name__}")
        texts.append(value)
    return texts


_ROUGE = {}


def _rouge():
    if not _ROUGE:
        from rouge_score import rouge_scorer

        _ROUGE["scorer"] = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return _ROUGE["scorer"]


def _mullama_pair(cand: str, ref: str) -> dict[str, float]:
    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.bleu_score import sentence_bleu
    from nltk.translate.meteor_score import meteor_score

    from musiscene_core.metrics.wordnet import ensure_wordnet

    ensure_wordnet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns on every zero n-gram count; the value (0) is the definition
        bleu = sentence_bleu([ref], cand)
        bleu4 = sentence_bleu([ref], cand, weights=(0.0, 0.0, 0.0, 1.0))
    return {
        "bleu": float(bleu),
        "bleu4": float(bleu4),
        "meteor": float(meteor_score([wordpunct_tokenize(ref)], wordpunct_tokenize(cand))),
        "rouge_l": float(_rouge().score(ref, cand)["rougeL"].recall),
    }


def _standard_pair(cand: str, ref: str) -> dict[str, float]:
    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.meteor_score import meteor_score

    from musiscene_core.metrics.wordnet import ensure_wordnet

    ensure_wordnet()
    return {
        "meteor": float(meteor_score([wordpunct_tokenize(ref.lower())], wordpunct_tokenize(cand.lower()))),
        "rouge_l": float(_rouge().score(ref, cand)["rougeL"].fmeasure),
    }


def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU(max_ngram_order=4)


def _sacrebleu_stats(preds: list[str], refs: list[str]) -> np.ndarray:
    # Per-sentence sufficient statistics [hyp_len, ref_len, correct_1..4, total_1..4]; their sums give the
    # corpus score of any subset, which is what the bootstrap needs.
    return np.array(_bleu()._extract_corpus_statistics(preds, [refs]), dtype=np.float64)


def _corpus_bleu(stats: np.ndarray) -> tuple[float, float]:
    bleu = _bleu()
    full = bleu._compute_score_from_stats([int(v) for v in stats])
    # 4-gram precision alone, with the same brevity penalty (no smoothing needed: 0 counts give 0).
    p4 = stats[5] / stats[9] if stats[9] > 0 else 0.0
    return full.score / 100.0, float(full.bp * p4)
