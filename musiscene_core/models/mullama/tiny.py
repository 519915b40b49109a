"""Tiny random MU-LLaMA file sets, in MU-LLaMA's own layout, for tests, notebooks and offline demos.

`write_tiny_mullama(root)` writes

    root/checkpoint.pth              {'model': adapter + finetune tensors}, MU-LLaMA's key names
    root/LLaMA/7B/params.json        Meta LLaMA (consolidated.NN.pth shards) or, with
    root/LLaMA/7B/consolidated.00.pth   llama_format="hf", config.json + model.safetensors
    root/LLaMA/tokenizer.model       a SentencePiece BPE model trained here on a small corpus

so the captioner loads it through the code path real files take (and MU-LLaMA's `llama.load(
root/checkpoint.pth, root/LLaMA, llama_type="7B")` finds it where it looks). Gates, biases and both
LoRA matrices are non-zero, so every part of the architecture changes the logits.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch
from sentencepiece import SentencePieceProcessor, SentencePieceTrainer

from musiscene_core.models.mullama.checkpoint import llama_shapes, write_hf_llama, write_meta_llama, write_mullama_checkpoint
from musiscene_core.models.mullama.configuration import (
    MUSISCENE_QUESTION,
    LlamaConfig,
    MuLlamaConfig,
    MusicAdapterConfig,
    format_prompt,
    meta_ffn_hidden_dim,
)
from musiscene_core.models.mullama.modeling import MuLlamaModel

_SCENES = [
    "a slow-motion shot of a couple walking through a rainy city street at night",
    "a sunny beach party with friends dancing near the water",
    "an epic battle scene in a fantasy movie with horses and armies",
    "a quiet morning in a small cafe while snow falls outside the window",
    "a tense chase through dark alleys in a crime thriller",
    "a road trip across the desert at sunset with the windows down",
    "a romantic dinner by candlelight in an old Italian restaurant",
    "a children's cartoon where animals play in a bright green forest",
    "a documentary about mountains, eagles and wide open skies",
    "a melancholic farewell at a train station in the 1950s",
]
_MUSIC = [
    "The music is a calm piano piece with soft strings and a slow tempo of 70 BPM.",
    "This is an upbeat electronic track with heavy drums, synth bass and a bright lead.",
    "A gentle acoustic guitar plays over light percussion; the mood is warm and happy.",
    "An orchestral score with brass, choir and timpani builds to a powerful climax.",
    "Describe the music. What instruments are playing? What is the genre and the mood?",
]


@dataclass(frozen=True)
class TinyMullamaFiles:
    root: Path
    checkpoint: Path
    llama_dir: Path
    tokenizer: Path


def tokenizer_corpus() -> list[str]:
    """Sentences covering the prompt template, the questions and typical answers."""
    lines = [format_prompt(MUSISCENE_QUESTION), format_prompt("Describe the music")]
    lines += [f"The music is suitable for {s}." for s in _SCENES] + _MUSIC
    return [line for text in lines for line in text.split("\n") if line] * 4


def train_tiny_tokenizer(path: Path, vocab_size: int) -> int:
    """Train a LLaMA-like SentencePiece BPE (byte fallback, ids unk=0 bos=1 eos=2, no pad); returns its size."""
    model = io.BytesIO()
    SentencePieceTrainer.train(
        sentence_iterator=iter(tokenizer_corpus()),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return SentencePieceProcessor(model_proto=model.getvalue()).vocab_size()


def random_mullama_state(cfg: MuLlamaConfig, seed: int) -> dict[str, torch.Tensor]:
    """Random tensors for every MU-LLaMA key, scaled so activations stay O(1) and nothing is zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in MuLlamaModel(cfg).mullama_state_dict().items()}
    state = {}
    for name in sorted(shapes):
        shape = shapes[name]
        noise = torch.randn(shape, generator=gen)
        if name.endswith(".gate"):
            state[name] = torch.rand(shape, generator=gen) * 1.6 - 0.8
        elif "norm" in name and name.endswith(".weight"):
            state[name] = 1.0 + 0.2 * noise
        elif name.endswith(".bias"):
            state[name] = 0.1 * noise
        elif "lora_" in name:
            state[name] = noise / shape[1] ** 0.5 * 0.5
        elif name == "prefix_query.weight" or name.endswith("tok_embeddings.weight"):
            state[name] = noise
        elif name == "mu_mert_agg.weight":
            state[name] = noise / shape[1] ** 0.5
        else:  # linear weights [out, in]
            state[name] = noise / shape[-1] ** 0.5
    return state


def write_tiny_mullama(
    root: str | Path,
    seed: int = 0,
    dim: int = 64,
    n_layers: int = 4,
    n_heads: int = 4,
    prefix_layers: int = 2,
    multiple_of: int = 32,
    norm_eps: float = 1e-5,
    lora_rank: int = 16,  # MU-LLaMA's code fixes the LoRA rank at 16
    mert_layers: int = 25,
    mert_dim: int = 1024,
    vocab_size: int = 400,
    legacy_bridge: bool = False,
    llama_format: str = "meta",
    shards: int = 1,
    llama_type: str = "7B",
) -> TinyMullamaFiles:
    """Write a tiny random MU-LLaMA file set under root (see module docstring); takes well under a second."""
    root = Path(root)
    tokenizer = root / "LLaMA" / "tokenizer.model"
    n_words = train_tiny_tokenizer(tokenizer, vocab_size)
    llama = LlamaConfig(
        dim=dim,
        n_layers=n_layers,
        n_heads=n_heads,
        vocab_size=n_words,
        ffn_hidden_dim=meta_ffn_hidden_dim(dim, multiple_of, None),
        norm_eps=norm_eps,
        lora_rank=lora_rank,
    )
    adapter = MusicAdapterConfig(
        mert_layers=mert_layers, mert_dim=mert_dim, dim=dim, hidden_dim=4 * dim, legacy_bridge=legacy_bridge
    )
    cfg = MuLlamaConfig(llama=llama, adapter=adapter, prefix_layers=prefix_layers)
    state = random_mullama_state(cfg, seed)
    base = {k: state[k] for k in llama_shapes(llama)}  # what Meta's files hold, norms included
    llama_dir = root / "LLaMA" / llama_type
    if llama_format == "meta":
        write_meta_llama(llama_dir, llama, base, shards=shards, multiple_of=multiple_of)
    elif llama_format == "hf":
        write_hf_llama(llama_dir, llama, base)
    else:
        raise ValueError(f"llama_format must be 'meta' or 'hf', not {llama_format!r}")
    checkpoint = root / "checkpoint.pth"
    # MU-LLaMA's finetuned checkpoints carry their own (trained) norms, which replace the base ones.
    own = {k: v for k, v in state.items() if k not in base}
    own.update({k: v * 1.1 for k, v in base.items() if k.endswith("norm.weight")})
    write_mullama_checkpoint(checkpoint, own)
    return TinyMullamaFiles(root=root, checkpoint=checkpoint, llama_dir=llama_dir, tokenizer=tokenizer)
