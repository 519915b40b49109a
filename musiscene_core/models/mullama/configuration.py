"""MU-LLaMA's configuration as plain data (no torch): LLaMA and music-adapter shapes, questions, prompt.

The shapes are what a checkpoint's files declare; the questions and the prompt template are the text
MU-LLaMA and MusiScene were trained with, defined here once for the captioner, the presets and the
tiny builders.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

MUSISCENE_QUESTION = "What type of scene the music is suitable for?"
MU_LLAMA_QUESTION = "Describe the music in detail."

# MU-LLaMA's format_prompt fills the "Input" slot with Python's builtin `input` function, so the
# text its models were trained and run with contains that function's repr. Reproduced verbatim.
_MULLAMA_INPUT = "<built-in function input>"
PROMPT_TEMPLATE = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n" + _MULLAMA_INPUT + "\n\n### Response:"
)


def format_prompt(question: str) -> str:
    """The exact prompt string MU-LLaMA builds for a question."""
    return PROMPT_TEMPLATE.format_map({"instruction": question})


@dataclass(frozen=True)
class LlamaConfig:
    dim: int
    n_layers: int
    n_heads: int
    vocab_size: int
    ffn_hidden_dim: int
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    lora_rank: int = 16
    # MU-LLaMA builds its model with max_seq_len=8192; generation never runs past it.
    max_seq_len: int = 8192

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


def meta_ffn_hidden_dim(dim: int, multiple_of: int, ffn_dim_multiplier: float | None) -> int:
    """The feed-forward width Meta's code derives from `params.json` (4*dim, 2/3 of it, rounded up)."""
    hidden = int(2 * (4 * dim) / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


@dataclass(frozen=True)
class MusicAdapterConfig:
    mert_layers: int  # hidden states MERT returns, embeddings included (25 for MERT-v1-330M)
    mert_dim: int  # MERT hidden size (1024)
    dim: int  # LLaMA model width
    hidden_dim: int  # width inside the SwiGLU blocks (4 * dim in MU-LLaMA)
    legacy_bridge: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MuLlamaConfig:
    llama: LlamaConfig
    adapter: MusicAdapterConfig
    prefix_layers: int  # rows of prefix_query: the last `prefix_layers` LLaMA blocks receive an adapter token

    def to_dict(self) -> dict:
        return {"llama": self.llama.to_dict(), "adapter": self.adapter.to_dict(), "prefix_layers": self.prefix_layers}

    @classmethod
    def from_dict(cls, data: dict) -> MuLlamaConfig:
        return cls(LlamaConfig(**data["llama"]), MusicAdapterConfig(**data["adapter"]), int(data["prefix_layers"]))
