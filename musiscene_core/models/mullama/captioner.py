"""MusiSceneCaptioner: MERT layer means -> scene captions, with MU-LLaMA's weights and numbers.

Loads MU-LLaMA's own files (`checkpoint.pth` + Meta or Hugging Face LLaMA + `tokenizer.model`) or the
project's format (safetensors + `captioner.json`), builds the prompt MU-LLaMA builds, decodes in
batches with a KV cache, and exposes the training forward pass and parameter groups the fine-tuning
job uses. MERT itself is not part of it: inputs are MERT's per-layer time means [B, layers, hidden].
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from musiscene_core.errors import UserError
from musiscene_core.models.devices import default_device, default_dtype
from musiscene_core.models.mullama.checkpoint import (
    LlamaWeights,
    llama_shapes,
    read_llama,
    read_mullama_checkpoint,
    replace_file,
    write_meta_llama,
    write_mullama_checkpoint,
)
from musiscene_core.models.mullama.configuration import (
    MUSISCENE_QUESTION,
    LlamaConfig,
    MuLlamaConfig,
    MusicAdapterConfig,
    format_prompt,
)
from musiscene_core.models.mullama.fast_generation import fast_generate_ids
from musiscene_core.models.mullama.generation import generate_ids, prefill
from musiscene_core.models.mullama.modeling import (
    GROUPS,
    MuLlamaModel,
    causal_lm_loss,
    module_key,
    parameter_group,
    weights_fingerprint,
)
from musiscene_core.models.mullama.tokenizer import LlamaTokenizer

CONFIG_FILE = "captioner.json"
WEIGHTS_FILE = "captioner.safetensors"
LLAMA_WEIGHTS_FILE = "llama.safetensors"
TOKENIZER_FILE = "tokenizer.model"
FORMAT_NAME = "musiscene-captioner"
FORMAT_VERSION = 1
DEFAULT_LORA_RANK = 16  # MU-LLaMA's ModelArgs.lora_rank, used when a checkpoint carries no LoRA
_REQUIRED_ADAPTER_KEYS = ("prefix_query.weight", "mu_mert_agg.weight", "mu_mert_proj.weight", "mu_mert_f1_1.weight")


@dataclass
class GenerationResult:
    token_ids: list[list[int]]  # new tokens per input, cut before EOS
    texts: list[str]  # decoded and stripped, as MU-LLaMA's inference scripts print them
    prompts: list[str]


@dataclass
class TrainOutput:
    logits: torch.Tensor  # [B, S, vocab], fp32
    loss: torch.Tensor | None  # causal-LM loss over labelled positions, when labels were given


def resolve_device_dtype(device, dtype) -> tuple[torch.device, torch.dtype]:
    """None -> CUDA when available, else CPU; the inference type of that device (`devices.default_dtype`)."""
    dev = torch.device(device) if device is not None else default_device()
    if dtype is None:
        return dev, default_dtype(dev)
    if isinstance(dtype, str):
        resolved = getattr(torch, dtype.removeprefix("torch."), None)
        if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
            raise UserError(f"Unknown floating-point dtype {dtype!r}.")
        return dev, resolved
    return dev, dtype


class MusiSceneCaptioner:
    def __init__(self, model: MuLlamaModel, tokenizer: LlamaTokenizer, model_version: str, llama_source: dict | None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self._model_version = model_version
        # Where the frozen LLaMA came from, so a save or export can reference it instead of copying it.
        self.llama_source = llama_source

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_mullama(cls, checkpoint, llama_dir, tokenizer, device=None, dtype=None) -> MusiSceneCaptioner:
        """Load MU-LLaMA's `checkpoint.pth`, a LLaMA folder (Meta or Hugging Face) and `tokenizer.model`."""
        tok = LlamaTokenizer(tokenizer)
        weights = read_llama(llama_dir)
        adapter_state = read_mullama_checkpoint(checkpoint)
        cfg = _infer_config(weights, adapter_state, tok, str(checkpoint), str(llama_dir))
        state = _assemble_state(cfg, weights.state, adapter_state, str(checkpoint))
        source = {"path": str(Path(llama_dir).resolve()), "format": weights.source_format}
        return cls._build(cfg, state, tok, source, device, dtype)

    @classmethod
    def from_pretrained(cls, directory, device=None, dtype=None, llama_dir=None) -> MusiSceneCaptioner:
        """Load a folder written by `save_pretrained`; `llama_dir` overrides where a referenced LLaMA is."""
        root = Path(directory)
        if not (root / CONFIG_FILE).is_file():
            raise UserError(f"{root} is not a saved captioner: {CONFIG_FILE} is missing.")
        meta = json.loads((root / CONFIG_FILE).read_text())
        if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
            raise UserError(f"{root / CONFIG_FILE} is not a {FORMAT_NAME} v{FORMAT_VERSION} configuration.")
        cfg = MuLlamaConfig.from_dict(meta["config"])
        tok = LlamaTokenizer(root / TOKENIZER_FILE)
        state = load_file(root / WEIGHTS_FILE)
        if (root / LLAMA_WEIGHTS_FILE).is_file():
            source = None
            state.update(load_file(root / LLAMA_WEIGHTS_FILE))
        else:
            source = dict(meta.get("llama_source") or {})
            if llama_dir is not None:
                source = {"path": str(Path(llama_dir).resolve())}
            if not source.get("path"):
                raise UserError(f"{root} holds no LLaMA weights and names no LLaMA folder; pass llama_dir.")
            weights = read_llama(source["path"])
            source["format"] = weights.source_format
            if weights.config(cfg.llama.lora_rank) != cfg.llama:
                raise UserError(f"The LLaMA in {source['path']} does not have the shape {root} was saved with.")
            state = {**weights.state, **state}
        return cls._build(cfg, state, tok, source, device, dtype)

    @classmethod
    def _build(cls, cfg, state, tok, source, device, dtype) -> MusiSceneCaptioner:
        dev, dt = resolve_device_dtype(device, dtype)
        version = _model_version(cfg, state, tok)
        with torch.device("meta"):
            model = MuLlamaModel(cfg)
        casted = {module_key(k): v.to(device=dev, dtype=dt) for k, v in state.items()}
        model.load_state_dict(casted, strict=True, assign=True)
        model.requires_grad_(False)
        return cls(model, tok, version, source)

    # ------------------------------------------------------------------ properties

    @property
    def model_version(self) -> str:
        """Identifies the weights as loaded (or last saved): adapter, finetune and LLaMA shape + tokenizer."""
        return self._model_version

    @property
    def config(self) -> MuLlamaConfig:
        return self.model.cfg

    @property
    def device(self) -> torch.device:
        return self.model.prefix_query.weight.device

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype (that of the frozen LLaMA weights)."""
        return self.model.compute_dtype

    def _precision(self):
        """Autocast to the base dtype once `set_trainable` has put trainable tensors in fp32 over a
        half-precision base, as MU-LLaMA runs under torch.cuda.amp.autocast; a no-op otherwise."""
        if all(p.dtype == self.dtype for p in self.model.parameters()):
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    # ------------------------------------------------------------------ prompts and inputs

    def format_prompt(self, question: str = MUSISCENE_QUESTION) -> str:
        return format_prompt(question)

    def _questions(self, question: str | Sequence[str], batch: int) -> list[str]:
        questions = [question] * batch if isinstance(question, str) else list(question)
        if len(questions) != batch:
            raise UserError(f"{len(questions)} questions given for {batch} inputs.")
        return questions

    def _features(self, mert_layer_means) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(mert_layer_means) if not isinstance(mert_layer_means, torch.Tensor) else mert_layer_means)
        want = (self.config.adapter.mert_layers, self.config.adapter.mert_dim)
        if x.ndim != 3 or tuple(x.shape[1:]) != want:
            raise UserError(f"MERT layer means must have shape [batch, {want[0]}, {want[1]}], got {list(x.shape)}.")
        if x.shape[0] == 0:
            raise UserError("No inputs to caption: the batch is empty.")
        return x.to(device=self.device, dtype=self.model.music_adapter.mu_mert_agg.weight.dtype)

    def _encode_prompts(self, questions: list[str]) -> tuple[list[str], list[list[int]]]:
        prompts = [format_prompt(q) for q in questions]
        return prompts, [self.tokenizer.encode(p, bos=True, eos=False) for p in prompts]

    # ------------------------------------------------------------------ inference

    @torch.inference_mode()
    def next_token_logits(self, mert_layer_means, question: str | Sequence[str] = MUSISCENE_QUESTION) -> np.ndarray:
        """Logits [B, vocab] (fp32) of the first answer token."""
        x = self._features(mert_layer_means)
        _, ids = self._encode_prompts(self._questions(question, x.shape[0]))
        with self._precision():
            logits, *_ = prefill(self.model, ids, self.model.adapter_values(x), self._pad_id, max(len(i) for i in ids))
        return logits.float().cpu().numpy()

    @torch.inference_mode()
    def generate(
        self,
        mert_layer_means,
        question: str | Sequence[str] = MUSISCENE_QUESTION,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 0.75,
        seed: int | Sequence[int] | None = 0,
        *,
        fast: bool = True,
        compile_step: bool = False,
    ) -> GenerationResult:
        """Answer `question` (one, or one per input) for each input; temperature 0 decodes greedily.

        fast: the throughput path (`fast_generation`: adapter values gated once per batch, no per-step
        host work, finished rows dropped from the batch); False runs the plain reference loop
        (`generation`). Both give the same tokens. compile_step: CUDA only, torch.compile the step."""
        if max_new_tokens < 0 or temperature < 0 or not 0 < top_p <= 1:
            raise UserError("Generation needs max_new_tokens >= 0, temperature >= 0 and 0 < top_p <= 1.")
        x = self._features(mert_layer_means)
        prompts, ids = self._encode_prompts(self._questions(question, x.shape[0]))
        if compile_step and self.device.type != "cuda":
            raise UserError("compile_step needs a CUDA device; this captioner runs on the CPU.")
        options = dict(
            eos_id=self.tokenizer.eos_id,
            pad_id=self._pad_id,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
        with self._precision():
            if fast:
                token_ids = fast_generate_ids(self.model, ids, self.model.adapter_values(x), compile_step=compile_step, **options)
            else:
                token_ids = generate_ids(self.model, ids, self.model.adapter_values(x), **options)
        return GenerationResult(token_ids, [self.tokenizer.decode(t).strip() for t in token_ids], prompts)

    @property
    def _pad_id(self) -> int:
        # LLaMA's tokenizer has no pad piece (pad_id -1); padding is masked, any valid id will do.
        return self.tokenizer.pad_id if self.tokenizer.pad_id >= 0 else self.tokenizer.eos_id

    # ------------------------------------------------------------------ training

    def parameter_groups(self) -> dict[str, dict[str, torch.nn.Parameter]]:
        """Parameters by MU-LLaMA name in three groups: 'adapter' (music adapter, prefix queries),
        'finetune' (LLaMA biases, norms, gates, LoRA) and 'llama' (the frozen base weights)."""
        groups: dict[str, dict[str, torch.nn.Parameter]] = {g: {} for g in GROUPS}
        for name, param in self.model.named_mullama_parameters().items():
            groups[parameter_group(name)][name] = param
        return groups

    def set_trainable(self, groups: Sequence[str] = ("adapter",)) -> list[torch.nn.Parameter]:
        """Make exactly the named groups require gradients (trainable tensors are kept in fp32, as
        MU-LLaMA keeps them); returns the trainable parameters."""
        unknown = set(groups) - set(GROUPS)
        if unknown:
            raise UserError(f"Unknown parameter group(s) {sorted(unknown)}; choose from {list(GROUPS)}.")
        trainable = []
        for group, params in self.parameter_groups().items():
            for param in params.values():
                on = group in groups
                if on and param.dtype != torch.float32:
                    param.data = param.data.float()
                param.requires_grad_(on)
                if on:
                    trainable.append(param)
        return trainable

    def training_batch(
        self, questions: Sequence[str], answers: Sequence[str], max_tokens: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Teacher-forcing rows as MU-LLaMA builds them: tokens of `bos + prompt + answer + eos`
        (prompt and answer tokenised as one string), right-padded; labels -100 on the prompt and
        padding, so the loss covers the answer and its EOS. Rows longer than max_tokens are cut."""
        if len(questions) != len(answers) or not questions:
            raise UserError("training_batch needs one answer per question and at least one of each.")
        rows, label_rows = [], []
        for q, a in zip(questions, answers):
            prompt = format_prompt(q)
            n_prompt = len(self.tokenizer.encode(prompt, bos=True, eos=False))
            ids = self.tokenizer.encode(prompt + a, bos=True, eos=True)[:max_tokens]
            rows.append(ids)
            label_rows.append([-100] * min(n_prompt, len(ids)) + ids[n_prompt:])
        width = max(len(r) for r in rows)
        tokens = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for i, (r, lab) in enumerate(zip(rows, label_rows)):
            tokens[i, : len(r)] = torch.tensor(r)
            labels[i, : len(lab)] = torch.tensor(lab)
        return {"tokens": tokens, "labels": labels}

    def forward_train(self, mert_layer_means, tokens: torch.Tensor, labels: torch.Tensor | None = None) -> TrainOutput:
        """Training forward pass without a cache: logits for every position and, given labels
        (-100 = ignore), the mean next-token cross-entropy over labelled positions."""
        x = self._features(mert_layer_means)
        tokens = tokens.to(self.device)
        with self._precision():
            logits = self.model(x, tokens)
        loss = causal_lm_loss(logits, labels.to(self.device)) if labels is not None else None
        return TrainOutput(logits, loss)

    # ------------------------------------------------------------------ saving

    def save_pretrained(self, directory, include_llama: bool = True) -> Path:
        """Write the project format: captioner.json, captioner.safetensors (adapter + finetune tensors),
        tokenizer.model and, with include_llama, llama.safetensors; without it the JSON references the
        LLaMA folder this captioner was loaded from."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        state = self.model.mullama_state_dict()
        own = {k: v for k, v in state.items() if parameter_group(k) != "llama"}
        _save_safetensors(root / WEIGHTS_FILE, own)
        if include_llama:
            _save_safetensors(root / LLAMA_WEIGHTS_FILE, {k: v for k, v in state.items() if parameter_group(k) == "llama"})
        else:
            if self.llama_source is None:
                raise UserError(
                    "This captioner's LLaMA came from a saved folder, not a LLaMA folder; save it with include_llama=True."
                )
            (root / LLAMA_WEIGHTS_FILE).unlink(missing_ok=True)
        replace_file(root / TOKENIZER_FILE, lambda tmp: tmp.write_bytes(self.tokenizer.model_bytes))
        self._model_version = _model_version(self.config, state, self.tokenizer)
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "model_version": self._model_version,
            "config": self.config.to_dict(),
            "llama_source": None if include_llama else self.llama_source,
        }
        replace_file(root / CONFIG_FILE, lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
        return root

    def export_mullama(self, out_dir, include_llama: bool = False, llama_type: str = "7B") -> Path:
        """Write `checkpoint.pth` ({'model': adapter + finetune tensors, fp32}) that MU-LLaMA's
        `llama.load` reads. With include_llama, also `LLaMA/<llama_type>/` (Meta format) and
        `LLaMA/tokenizer.model`, the layout MU-LLaMA's `llama_dir` argument expects. Returns the
        checkpoint path. MU-LLaMA's unmodified code expects 20 prefixed layers, width 4096 and
        the 25x1024 MERT-v1-330M features."""
        root = Path(out_dir)
        state = self.model.mullama_state_dict()
        own = {k: v.float() for k, v in state.items() if parameter_group(k) != "llama"}
        write_mullama_checkpoint(root / "checkpoint.pth", own)
        if include_llama:
            # Meta's files hold the norms too; MU-LLaMA's checkpoint overrides them with the same values.
            base = {k: state[k] for k in llama_shapes(self.config.llama)}
            write_meta_llama(root / "LLaMA" / llama_type, self.config.llama, base)
            replace_file(root / "LLaMA" / TOKENIZER_FILE, lambda tmp: tmp.write_bytes(self.tokenizer.model_bytes))
        return root / "checkpoint.pth"


# ---------------------------------------------------------------------- assembly helpers


def _save_safetensors(path: Path, state: dict[str, torch.Tensor]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    replace_file(path, lambda tmp: save_file(tensors, tmp))


def _model_version(cfg: MuLlamaConfig, state: dict[str, torch.Tensor], tok: LlamaTokenizer) -> str:
    extra = json.dumps(cfg.to_dict(), sort_keys=True).encode() + tok.sha256().encode()
    return "mullama-" + weights_fingerprint(state, extra)[:16]


def _infer_config(weights: LlamaWeights, ckpt: dict, tok: LlamaTokenizer, ckpt_name: str, llama_name: str) -> MuLlamaConfig:
    if weights.vocab_size != tok.n_words:
        raise UserError(f"The tokenizer has {tok.n_words} tokens but the LLaMA in {llama_name} has {weights.vocab_size}.")
    missing = [k for k in _REQUIRED_ADAPTER_KEYS if k not in ckpt]
    if missing:
        raise UserError(f"{ckpt_name} lacks the music adapter tensor {missing[0]}: not a MU-LLaMA checkpoint.")
    prefix, proj, agg = ckpt["prefix_query.weight"], ckpt["mu_mert_proj.weight"], ckpt["mu_mert_agg.weight"]
    if prefix.shape[1] != weights.dim or proj.shape[0] != weights.dim:
        raise UserError(
            f"{ckpt_name} was trained for a LLaMA of width {prefix.shape[1]}, "
            f"but the LLaMA in {llama_name} has width {weights.dim}."
        )
    lora = ckpt.get("llama.layers.0.attention.lora_wq_l1.weight")
    adapter = MusicAdapterConfig(
        mert_layers=agg.shape[1],
        mert_dim=proj.shape[1],
        dim=weights.dim,
        hidden_dim=ckpt["mu_mert_f1_1.weight"].shape[0],
        legacy_bridge="mu_mert_norm_1.bias" in ckpt,
    )
    llama_cfg: LlamaConfig = weights.config(lora.shape[0] if lora is not None else DEFAULT_LORA_RANK)
    return MuLlamaConfig(llama=llama_cfg, adapter=adapter, prefix_layers=prefix.shape[0])


def _finetune_defaults(shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """Values MU-LLaMA's finetune model starts from for tensors a checkpoint may omit (e.g. one from
    its pretrain phase): zero biases, gates and LoRA up-projections, so they change nothing. LoRA
    down-projections get a fixed-seed nn.Linear-style init so that they can be trained."""
    gen = torch.Generator().manual_seed(0)
    out = {}
    for name in sorted(shapes):
        shape = shapes[name]
        if name.endswith("_l1.weight"):
            bound = 1.0 / shape[1] ** 0.5
            out[name] = (torch.rand(shape, generator=gen) * 2 - 1) * bound
        elif name.endswith("_l2.weight") or name.endswith(".bias") or name.endswith(".gate"):
            out[name] = torch.zeros(shape)
    return out


def _assemble_state(cfg: MuLlamaConfig, base: dict, ckpt: dict, ckpt_name: str) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in MuLlamaModel(cfg).mullama_state_dict().items()}
    unexpected = sorted(set(ckpt) - set(shapes))
    if unexpected:
        raise UserError(f"{ckpt_name} holds {len(unexpected)} tensors this architecture does not have, e.g. {unexpected[0]}.")
    for name, tensor in ckpt.items():
        if tensor.shape != shapes[name]:
            raise UserError(
                f"{ckpt_name}: {name} has shape {tuple(tensor.shape)}, but the LLaMA given needs {tuple(shapes[name])}."
            )
    missing_adapter = sorted(k for k in shapes if parameter_group(k) == "adapter" and k not in ckpt)
    if missing_adapter:
        raise UserError(f"{ckpt_name} lacks the music adapter tensor {missing_adapter[0]}.")
    state = {**_finetune_defaults({k: s for k, s in shapes.items() if parameter_group(k) == "finetune"}), **base, **ckpt}
    missing = sorted(set(shapes) - set(state))
    if missing:
        raise UserError(f"No weights found for {missing[0]}.")
    return state
