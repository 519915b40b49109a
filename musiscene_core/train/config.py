"""The typed configuration of a training run: defaults follow MU-LLaMA's fine-tuning recipe.

MU-LLaMA fine-tunes with AdamW (betas 0.9/0.95, weight decay 0.05, none on biases and 1-d tensors),
base learning rate 1e-3 scaled by the effective batch / 256, one warmup epoch, then a half-cycle
cosine down to `min_lr`, updated every optimizer step. Those are the defaults here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from musiscene_core.config_files import check_known_options, check_types, read_config_file
from musiscene_core.errors import UserError

TRAIN_GROUPS = ("adapter", "adapter+finetune")
SELECT_METRICS = {"val_loss": "min", "bleu": "max", "scene_accuracy": "max"}


# Upper bounds far above any useful value: a typo is refused instead of exhausting memory.
_LIMITS = {
    "workers": 10_000,
    "epochs": 100_000,
    "batch_size": 4096,
    "grad_accum": 100_000,
    "max_tokens": 32_768,
    "eval_max_new_tokens": 4096,
    "lora_rank": 4096,
}


@dataclass
class TrainConfig:
    data: str  # Parquet file or folder of {track_id | uri, question?, answer, split} rows
    base: str  # preset name or model directory to start from
    out: str  # output folder: checkpoints, report, exported model
    features: str | None = None  # a tagging output folder or a features folder; None: extract into OUT/features
    # The window policy of the features: the one the adapter will be run with when tagging
    # ("whole" with window_s/hop_s, or "mu-llama"); features made otherwise are refused or recomputed.
    policy: str = "whole"
    window_s: float = 30.0
    hop_s: float = 30.0
    storage: str | None = None  # Ray Train storage_path for checkpoints (local or s3://); None: OUT
    name: str = "run"  # run name under the storage path; rerunning with the same name resumes
    endpoint_url: str | None = None  # S3-compatible endpoint for s3:// paths
    ray_address: str | None = None
    workers: int = 1
    use_gpu: bool | None = None  # None: GPUs when the cluster has them
    epochs: int = 4
    batch_size: int = 4  # examples per worker per micro-batch
    grad_accum: int = 1
    lr: float | None = None  # absolute learning rate; None: blr * effective batch / 256
    blr: float = 1e-3
    min_lr: float = 0.0
    warmup_epochs: float = 1.0
    weight_decay: float = 0.05
    max_tokens: int = 512  # prompt + answer tokens per example (MU-LLaMA's max_words)
    train: str = "adapter"  # which parameters learn: "adapter" or "adapter+finetune"
    lora_rank: int = 0  # > 0: add LoRA (peft) of this rank on LLaMA's attention projections
    lora_alpha: float = 16.0
    center_adapter: bool = False  # start: shift the adapter projection's bias so the mean training feature maps to 0
    question: str | None = None  # questions missing from the data default to the base model's question
    checkpoint_every: int = 50  # optimizer steps between checkpoints (and at every epoch end)
    keep_checkpoints: int = 2
    eval_max_new_tokens: int = 48
    eval_limit: int | None = None  # validation examples captioned per epoch; None: all
    select_by: str = "val_loss"
    seed: int = 0
    log_every: int = 1

    def validate(self) -> TrainConfig:
        for name in (
            "workers",
            "epochs",
            "batch_size",
            "grad_accum",
            "checkpoint_every",
            "keep_checkpoints",
            "eval_max_new_tokens",
            "log_every",
            "max_tokens",
        ):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1")
        if self.policy not in ("whole", "mu-llama"):
            raise UserError(f"unknown window policy {self.policy!r}; use 'whole' or 'mu-llama'")
        if self.window_s <= 0 or self.hop_s <= 0:
            raise UserError("window and hop lengths must be positive")
        for name, most in _LIMITS.items():
            if getattr(self, name) > most:
                raise UserError(f"{name.replace('_', '-')} must be at most {most:,}, not {getattr(self, name):,}")
        if self.train not in TRAIN_GROUPS:
            raise UserError(f"--train must be one of {', '.join(TRAIN_GROUPS)}, not {self.train!r}")
        if self.select_by not in SELECT_METRICS:
            raise UserError(f"--select-by must be one of {', '.join(SELECT_METRICS)}, not {self.select_by!r}")
        if self.lora_rank < 0:
            raise UserError("lora-rank cannot be negative")
        if (self.lr is not None and self.lr <= 0) or self.blr <= 0 or self.min_lr < 0:
            raise UserError("learning rates must be positive")
        if self.warmup_epochs < 0 or self.warmup_epochs >= self.epochs:
            raise UserError("warmup-epochs must be at least 0 and below the number of epochs")
        if self.eval_limit is not None and self.eval_limit < 0:
            raise UserError("eval-limit cannot be negative")
        return self

    @property
    def global_batch(self) -> int:
        """Examples per optimizer step over all workers and accumulation steps."""
        return self.batch_size * self.workers * self.grad_accum

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else self.blr * self.global_batch / 256

    def storage_path(self) -> str:
        return self.storage or self.out

    def resume_key(self) -> str:
        """What a checkpoint must agree on to be resumed: everything that shapes the optimisation path.

        The number of workers is left out on purpose: the data order depends on the global batch only,
        so a run may resume on a different number of workers with the same global batch."""
        fields = (
            "data",
            "base",
            "features",
            "policy",
            "window_s",
            "hop_s",
            "epochs",
            "lr",
            "blr",
            "min_lr",
            "warmup_epochs",
            "weight_decay",
            "max_tokens",
            "train",
            "lora_rank",
            "lora_alpha",
            "center_adapter",
            "question",
            "seed",
        )
        payload = {name: getattr(self, name) for name in fields}
        payload["global_batch"] = self.global_batch
        payload["micro_batch"] = self.batch_size
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> TrainConfig:
        data = read_config_file(path, cls)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_options(data, source=f"config file {str(path)!r}")

    @classmethod
    def from_options(cls, data: dict, source: str = "the options") -> TrainConfig:
        check_known_options(data, cls, source)
        data = check_types(cls, data, source)
        missing = [name for name in ("data", "base", "out") if not data.get(name)]
        if missing:
            raise UserError(f"training needs {', '.join('--' + m for m in missing)}")
        return cls(**data).validate()

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
