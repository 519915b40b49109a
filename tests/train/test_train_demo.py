"""Building blocks of `musiscene train-demo` (the full demo takes minutes and is run by hand)."""

import torch

from musiscene_core.data.synthetic_scenes import classify_caption
from musiscene_core.models import MUSISCENE_QUESTION, resolve_model
from musiscene_core.train.demo import caption_sentences, pretrain_language_model, sentence_codes


def test_caption_sentences_cover_every_scene_class():
    classes = [classify_caption(s) for s in caption_sentences()]
    assert None not in classes and len(set(classes)) == 6


def test_caption_decoder_pretraining_teaches_llama_and_leaves_the_adapter_alone(tiny_model):
    captioner = resolve_model(str(tiny_model)).load_captioner(device="cpu")
    sentences = caption_sentences()[:12]
    codes = sentence_codes(captioner, sentences, torch.Generator().manual_seed(0))
    same = torch.nn.functional.cosine_similarity(codes[0], codes[1], dim=0)  # two calm-sea captions
    other = torch.nn.functional.cosine_similarity(codes[0], codes[6], dim=0)  # calm sea vs neon chase
    assert same > other
    adapter_before = {k: v.clone() for k, v in captioner.parameter_groups()["adapter"].items()}
    llama_before = captioner.model.llama.output.weight.detach().clone()
    losses = pretrain_language_model(captioner, sentences, MUSISCENE_QUESTION, steps=25, lr=3e-3, code_noise=0.3)
    assert losses[-1] < 0.5 * losses[0]
    assert all(torch.equal(p, adapter_before[k]) for k, p in captioner.parameter_groups()["adapter"].items())
    assert not torch.equal(captioner.model.llama.output.weight, llama_before)
    assert not any(p.requires_grad for p in captioner.model.parameters())
