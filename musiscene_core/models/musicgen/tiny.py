"""A tiny MusicGen with random weights, built offline in about a second: the real architecture at toy sizes.

The text encoder is a one-layer T5 with a small word-level tokenizer; the audio codec is EnCodec at 6.4 kHz
with a 640-sample hop (10 frames per second) and two 32-entry codebooks; the decoder has two layers. Its music
is noise-like (random weights): it exists to exercise generation, windowing, loudness and muxing.
"""

from __future__ import annotations

import json
from pathlib import Path

MARKER = "musiscene_musicgen.json"
_WORDS = (
    "a an the of in on at by with and through night day city street rain sea forest slow fast calm dark bright "
    "chase walk couple shot motion quiet loud music scene piano drums guitar strings warm cold dance party sad "
    "happy epic film car neon snow sun morning evening"
).split()


def _tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in _WORDS:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    # T5 appends </s> to every text; the tiny text encoder is trained on nothing, but its inputs look the same.
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=64
    )


def make_tiny_musicgen(root: str | Path, seed: int = 0) -> Path:
    """Build the tiny random MusicGen into `root` (a directory loadable with from_pretrained) and return it."""
    from musiscene_core.models.musicgen.loading import quiet_transformers

    root = Path(root)
    tokenizer = _tokenizer()
    with quiet_transformers():
        model = _model(seed)
    root.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    (root / MARKER).write_text(json.dumps({"name": "musicgen-tiny", "random_weights": True, "seed": seed}))
    return root


def _model(seed: int):
    import torch
    from transformers import EncodecConfig, MusicgenConfig, MusicgenDecoderConfig, MusicgenForConditionalGeneration, T5Config

    text = T5Config(
        vocab_size=64,
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    codec = EncodecConfig(
        sampling_rate=6400,
        audio_channels=1,
        num_filters=4,
        hidden_size=16,
        upsampling_ratios=[8, 5, 4, 4],
        codebook_size=32,
        codebook_dim=16,
        num_lstm_layers=1,
        target_bandwidths=[0.1],
        chunk_length_s=None,
        overlap=None,
        norm_type="weight_norm",
        use_causal_conv=False,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=32,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        ffn_dim=32,
        num_codebooks=2,
        max_position_embeddings=1024,
        pad_token_id=32,
        bos_token_id=32,
        decoder_start_token_id=32,
    )
    config = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=codec.to_dict(), decoder=decoder.to_dict())
    torch.manual_seed(seed)
    model = MusicgenForConditionalGeneration(config).eval()
    model.generation_config.update(
        do_sample=True, guidance_scale=3.0, decoder_start_token_id=32, pad_token_id=32, bos_token_id=32, max_length=1024
    )
    return model
