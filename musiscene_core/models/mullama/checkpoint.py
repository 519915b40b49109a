"""Reading and writing MU-LLaMA's files and LLaMA base weights (Meta and Hugging Face layouts).

* MU-LLaMA adapter checkpoint: `checkpoint.pth`, a pickle whose `model` entry is a state dict with
  MU-LLaMA's key names; MU-LLaMA loads it with `strict=False`, so it may also carry LLaMA base
  tensors (they then replace those of the base model) or MERT tensors (ignored here).
* Meta LLaMA: `params.json` + `consolidated.NN.pth` model-parallel shards, concatenated along the
  dimension each tensor was split on.
* Hugging Face LLaMA: `config.json` + `*.safetensors` (or `pytorch_model*.bin`); q/k projections are
  stored permuted for the rotate-half rotary layout and are permuted back to Meta's layout.
Every returned state dict uses MU-LLaMA's key names (`llama.layers.0.attention.wq.weight`, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from musiscene_core.errors import UserError, checkpoint_load_reason
from musiscene_core.models.mullama.configuration import LlamaConfig, meta_ffn_hidden_dim

# Dimension along which Meta's model-parallel shards split each tensor (None: replicated).
_META_SPLIT_DIM = {
    "tok_embeddings": 1,
    "output": 0,
    "norm": None,
    "wq": 0,
    "wk": 0,
    "wv": 0,
    "wo": 1,
    "w1": 0,
    "w3": 0,
    "w2": 1,
    "attention_norm": None,
    "ffn_norm": None,
}
_META_IGNORED = ("rope.freqs",)  # LLaMA-1's precomputed rotary table, recomputed here
_HF_LAYER_NAMES = {
    "self_attn.q_proj": "attention.wq",
    "self_attn.k_proj": "attention.wk",
    "self_attn.v_proj": "attention.wv",
    "self_attn.o_proj": "attention.wo",
    "mlp.gate_proj": "feed_forward.w1",
    "mlp.down_proj": "feed_forward.w2",
    "mlp.up_proj": "feed_forward.w3",
    "input_layernorm": "attention_norm",
    "post_attention_layernorm": "ffn_norm",
}


@dataclass
class LlamaWeights:
    """Base LLaMA tensors (MU-LLaMA key names, `llama.` prefix) and the shape parameters read with them."""

    state: dict[str, torch.Tensor]
    dim: int
    n_layers: int
    n_heads: int
    ffn_hidden_dim: int
    norm_eps: float
    rope_theta: float
    vocab_size: int
    source_format: str  # "meta" or "hf"

    def config(self, lora_rank: int) -> LlamaConfig:
        return LlamaConfig(
            dim=self.dim,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            vocab_size=self.vocab_size,
            ffn_hidden_dim=self.ffn_hidden_dim,
            norm_eps=self.norm_eps,
            rope_theta=self.rope_theta,
            lora_rank=lora_rank,
        )


def replace_file(path: Path, write) -> None:
    """Write through `write(tmp_path)` then rename over `path`. Loaded tensors may be memory-mapped
    from the old file; truncating it in place would crash their readers (SIGBUS), a rename does not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def torch_load(path: Path) -> object:
    """torch.load with weights_only=True; MU-LLaMA's training checkpoints also pickle an argparse Namespace."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as exc:  # files in torch's legacy (non-zip) format cannot be memory-mapped
                if "mmap" not in str(exc):
                    raise
                return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise UserError(f"Cannot read {path} as a plain-tensor PyTorch checkpoint: {checkpoint_load_reason(exc)}.") from exc


def llama_format(llama_dir: Path) -> str:
    if (llama_dir / "params.json").is_file() and any(llama_dir.glob("*.pth")):
        return "meta"
    if (llama_dir / "config.json").is_file() and (
        any(llama_dir.glob("*.safetensors")) or any(llama_dir.glob("pytorch_model*.bin"))
    ):
        return "hf"
    raise UserError(
        f"{llama_dir} holds neither Meta LLaMA weights (params.json + consolidated.*.pth) "
        "nor Hugging Face LLaMA weights (config.json + *.safetensors)."
    )


def read_llama(llama_dir: str | Path) -> LlamaWeights:
    path = Path(llama_dir)
    if not path.is_dir():
        raise UserError(f"LLaMA directory {path} does not exist.")
    weights = _read_meta(path) if llama_format(path) == "meta" else _read_hf(path)
    _check_llama_shapes(weights, path)
    return weights


def _read_meta(llama_dir: Path) -> LlamaWeights:
    params = json.loads((llama_dir / "params.json").read_text())
    n_kv_heads = params.get("n_kv_heads")
    if n_kv_heads not in (None, params["n_heads"]):
        raise UserError(f"{llama_dir} uses grouped-query attention (n_kv_heads={n_kv_heads}), which MU-LLaMA does not support.")
    shards = [torch_load(p) for p in sorted(llama_dir.glob("*.pth"))]
    state = {}
    for name in shards[0]:
        if name in _META_IGNORED:
            continue
        split = _META_SPLIT_DIM.get(name.split(".")[-2])
        if split is None or len(shards) == 1:
            state["llama." + name] = shards[0][name]
        else:
            state["llama." + name] = torch.cat([shard[name] for shard in shards], dim=split)
    emb = state.get("llama.tok_embeddings.weight")
    if emb is None:
        raise UserError(f"{llama_dir} has no tok_embeddings.weight: not a Meta LLaMA checkpoint.")
    return LlamaWeights(
        state=state,
        dim=params["dim"],
        n_layers=params["n_layers"],
        n_heads=params["n_heads"],
        ffn_hidden_dim=meta_ffn_hidden_dim(params["dim"], params.get("multiple_of", 256), params.get("ffn_dim_multiplier")),
        norm_eps=float(params.get("norm_eps", 1e-5)),
        rope_theta=float(params.get("rope_theta", 10000.0)),
        vocab_size=emb.shape[0],
        source_format="meta",
    )


def hf_permute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Meta q/k rows -> Hugging Face's order (each head's interleaved pairs split into two halves)."""
    out_dim, in_dim = w.shape
    return w.view(n_heads, out_dim // n_heads // 2, 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def hf_unpermute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Inverse of `hf_permute`."""
    out_dim, in_dim = w.shape
    return w.view(n_heads, 2, out_dim // n_heads // 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def _hf_rope_theta(config: dict, llama_dir: Path) -> float:
    rope = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling")
    if (scaling and scaling.get("rope_type", scaling.get("type")) not in (None, "default")) or rope.get(
        "rope_type", "default"
    ) != "default":
        raise UserError(f"{llama_dir} uses scaled rotary embeddings, which MU-LLaMA does not support.")
    return float(rope.get("rope_theta", config.get("rope_theta", 10000.0)))


def _read_hf(llama_dir: Path) -> LlamaWeights:
    config = json.loads((llama_dir / "config.json").read_text())
    n_heads = config["num_attention_heads"]
    if config.get("num_key_value_heads", n_heads) != n_heads:
        raise UserError(f"{llama_dir} uses grouped-query attention, which MU-LLaMA does not support.")
    raw: dict[str, torch.Tensor] = {}
    files = sorted(llama_dir.glob("*.safetensors")) or sorted(llama_dir.glob("pytorch_model*.bin"))
    for file in files:
        raw.update(load_file(file) if file.suffix == ".safetensors" else torch_load(file))
    state = {}
    for name, tensor in raw.items():
        if name == "model.embed_tokens.weight":
            state["llama.tok_embeddings.weight"] = tensor
        elif name == "model.norm.weight":
            state["llama.norm.weight"] = tensor
        elif name == "lm_head.weight":
            state["llama.output.weight"] = tensor
        elif name.startswith("model.layers.") and name.endswith(".weight"):
            index, sub = name[len("model.layers.") : -len(".weight")].split(".", 1)
            if sub not in _HF_LAYER_NAMES:
                continue  # e.g. rotary buffers some exports include
            if sub in ("self_attn.q_proj", "self_attn.k_proj"):
                tensor = hf_unpermute(tensor, n_heads)
            state[f"llama.layers.{index}.{_HF_LAYER_NAMES[sub]}.weight"] = tensor
    if "llama.output.weight" not in state and config.get("tie_word_embeddings") and "llama.tok_embeddings.weight" in state:
        state["llama.output.weight"] = state["llama.tok_embeddings.weight"]
    if "llama.tok_embeddings.weight" not in state:
        raise UserError(f"{llama_dir} has no model.embed_tokens.weight: not a Hugging Face LLaMA checkpoint.")
    return LlamaWeights(
        state=state,
        dim=config["hidden_size"],
        n_layers=config["num_hidden_layers"],
        n_heads=n_heads,
        ffn_hidden_dim=config["intermediate_size"],
        norm_eps=float(config.get("rms_norm_eps", 1e-6)),
        rope_theta=_hf_rope_theta(config, llama_dir),
        vocab_size=state["llama.tok_embeddings.weight"].shape[0],
        source_format="hf",
    )


def llama_shapes(cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
    d, h, v = cfg.dim, cfg.ffn_hidden_dim, cfg.vocab_size
    shapes = {"llama.tok_embeddings.weight": (v, d), "llama.norm.weight": (d,), "llama.output.weight": (v, d)}
    for i in range(cfg.n_layers):
        p = f"llama.layers.{i}."
        shapes.update(
            {
                p + "attention.wq.weight": (d, d),
                p + "attention.wk.weight": (d, d),
                p + "attention.wv.weight": (d, d),
                p + "attention.wo.weight": (d, d),
                p + "feed_forward.w1.weight": (h, d),
                p + "feed_forward.w2.weight": (d, h),
                p + "feed_forward.w3.weight": (h, d),
                p + "attention_norm.weight": (d,),
                p + "ffn_norm.weight": (d,),
            }
        )
    return shapes


def _check_llama_shapes(weights: LlamaWeights, llama_dir: Path) -> None:
    if weights.dim % weights.n_heads or (weights.dim // weights.n_heads) % 2:
        raise UserError(f"{llama_dir}: dim {weights.dim} does not split into {weights.n_heads} heads of even width.")
    expected = llama_shapes(weights.config(lora_rank=0))
    missing = sorted(set(expected) - set(weights.state))
    if missing:
        raise UserError(f"{llama_dir} lacks {len(missing)} LLaMA tensors, e.g. {missing[0].removeprefix('llama.')}.")
    for name, shape in expected.items():
        if tuple(weights.state[name].shape) != shape:
            raise UserError(
                f"{llama_dir}: {name.removeprefix('llama.')} has shape {tuple(weights.state[name].shape)}, "
                f"but its configuration implies {shape}."
            )
    extra = sorted(set(weights.state) - set(expected))
    if extra:
        raise UserError(
            f"{llama_dir} holds {len(extra)} tensors a LLaMA of this shape does not have, e.g. {extra[0].removeprefix('llama.')}."
        )


def read_mullama_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The `model` state dict of a MU-LLaMA checkpoint, MERT tensors dropped."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"MU-LLaMA checkpoint {file} does not exist.")
    data = torch_load(file)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise UserError(f"{file} is not a MU-LLaMA checkpoint: it has no 'model' state dict.")
    return {k: v for k, v in data["model"].items() if not k.startswith("mert_model.") and isinstance(v, torch.Tensor)}


def write_mullama_checkpoint(path: str | Path, state: dict[str, torch.Tensor]) -> None:
    """Write `{'model': state}` as MU-LLaMA's `llama.load` reads it."""
    model = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    replace_file(Path(path), lambda tmp: torch.save({"model": model}, tmp))


def meta_params(cfg: LlamaConfig, multiple_of_hint: int = 256) -> dict:
    """params.json content from which Meta's formula gives back cfg.ffn_hidden_dim."""
    base = int(2 * (4 * cfg.dim) / 3)
    params = {"dim": cfg.dim, "n_layers": cfg.n_layers, "n_heads": cfg.n_heads, "norm_eps": cfg.norm_eps, "vocab_size": -1}
    if cfg.rope_theta != 10000.0:
        params["rope_theta"] = cfg.rope_theta
    for multiple_of in (multiple_of_hint, cfg.ffn_hidden_dim):
        if meta_ffn_hidden_dim(cfg.dim, multiple_of, None) == cfg.ffn_hidden_dim:
            return {**params, "multiple_of": multiple_of}
    # Narrower than 8/3 * dim: only a multiplier below 1 gets there.
    return {**params, "multiple_of": 1, "ffn_dim_multiplier": (cfg.ffn_hidden_dim + 0.5) / base}


def write_meta_llama(
    llama_dir: str | Path, cfg: LlamaConfig, state: dict[str, torch.Tensor], shards: int = 1, multiple_of: int = 256
) -> None:
    """Write base LLaMA tensors (MU-LLaMA keys) as Meta's params.json + consolidated.NN.pth shards;
    params.json uses `multiple_of` when Meta's formula with it gives cfg.ffn_hidden_dim."""
    out = Path(llama_dir)
    out.mkdir(parents=True, exist_ok=True)
    params = json.dumps(meta_params(cfg, multiple_of))
    replace_file(out / "params.json", lambda tmp: tmp.write_text(params))
    for index in range(shards):
        shard = {}
        for name in llama_shapes(cfg):
            tensor = state[name].detach().cpu()
            split = _META_SPLIT_DIM[name.split(".")[-2]]
            if split is not None and shards > 1:
                tensor = tensor.chunk(shards, dim=split)[index]
            shard[name.removeprefix("llama.")] = tensor.contiguous().clone()
        replace_file(out / f"consolidated.{index:02d}.pth", lambda tmp, shard=shard: torch.save(shard, tmp))


def write_hf_llama(llama_dir: str | Path, cfg: LlamaConfig, state: dict[str, torch.Tensor]) -> None:
    """Write base LLaMA tensors as a Hugging Face LlamaForCausalLM folder (config.json + model.safetensors)."""
    out = Path(llama_dir)
    out.mkdir(parents=True, exist_ok=True)
    to_hf = {v: k for k, v in _HF_LAYER_NAMES.items()}
    tensors = {
        "model.embed_tokens.weight": state["llama.tok_embeddings.weight"],
        "model.norm.weight": state["llama.norm.weight"],
        "lm_head.weight": state["llama.output.weight"],
    }
    for i in range(cfg.n_layers):
        for ours, theirs in to_hf.items():
            tensor = state[f"llama.layers.{i}.{ours}.weight"]
            if ours in ("attention.wq", "attention.wk"):
                tensor = hf_permute(tensor, cfg.n_heads)
            tensors[f"model.layers.{i}.{theirs}.weight"] = tensor
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    replace_file(out / "model.safetensors", lambda tmp: save_file(tensors, tmp))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": cfg.dim,
        "intermediate_size": cfg.ffn_hidden_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_heads,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "vocab_size": cfg.vocab_size,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }
    replace_file(out / "config.json", lambda tmp: tmp.write_text(json.dumps(config, indent=2)))
