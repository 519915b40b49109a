"""The training loop, framework-free: one process's share of data-parallel training of the captioner.

Runs the same with one process or with a torch.distributed process group (DDP; whoever starts the
processes, e.g. Ray Train, sets the group up). What it needs from outside is one `report(metrics,
write_checkpoint)` callable, called by every process at the same points: after every
`checkpoint_every` optimizer steps and at every epoch end. `write_checkpoint(dir)` is given on rank 0
only and writes the full training state there.

Loss: causal-LM cross-entropy on the answer tokens (and EOS), averaged over all answer tokens of the
optimizer step across micro-batches and workers, so 2 workers x batch B follow exactly the path of
1 worker x batch 2B whatever the answers' lengths.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from musiscene_core.errors import UserError
from musiscene_core.models.devices import default_dtype
from musiscene_core.train import caption_scores
from musiscene_core.train.config import SELECT_METRICS, TrainConfig
from musiscene_core.train.dataset import ExampleSet, epoch_order, micro_batches, shard, steps_per_epoch
from musiscene_core.train.schedule import build_optimizer, lr_at, set_lr
from musiscene_core.train.trainable import configure, load_trainable, save_trainable

TRAINABLE_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "state.json"
EVAL_BATCH = 16
SELECTION_SCORE = "selection_score"
UNSCORED = -1e30

Report = Callable[[dict, "Callable[[str], None] | None"], None]


def all_reduce_sum(values: np.ndarray, device: torch.device) -> np.ndarray:
    """Element-wise sum over the process group (identity without one), in float64."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return np.asarray(values, dtype=np.float64)
    tensor = torch.as_tensor(np.asarray(values, dtype=np.float64), device=device)
    dist.all_reduce(tensor)
    return tensor.cpu().numpy()


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over labelled positions (labels -100 are ignored), and their count."""
    targets = labels[:, 1:].reshape(-1)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), targets, ignore_index=-100, reduction="sum")
    return loss, int((targets != -100).sum())


@torch.no_grad()
def center_adapter(captioner, examples: ExampleSet, batch: int = 256) -> None:
    """Fold a standardisation of the training features into the music adapter's projection.

    The adapter L2-normalises the mixed MERT layer means before projecting them. Layer means share a
    large common component, so after normalisation pieces differ by a few thousandths per dimension
    (a random tiny MERT: per-dimension standard deviation about 0.005 around entries of about 0.09).
    Adam moves every weight and bias by about the learning rate per step whatever the gradient's
    scale, so with inputs that small one step of the projection is as large as the whole difference
    between pieces, and training wipes out what tells them apart (validation accuracy collapsed to
    chance after a good first epoch). Dividing the projection's input columns by the features'
    standard deviation and centring its bias on their mean makes the projection see unit-scale
    differences from the first step, and Adam's steps become small against them. Same function class
    as the adapter had; a data-dependent start for randomly initialised adapters (every worker
    computes the same values from the same data); a resumed run overwrites it with the checkpoint's."""
    adapter = captioner.model.music_adapter
    projection = adapter.mu_mert_proj
    mixed: list[torch.Tensor] = []
    # The projection's inputs exactly as the adapter computes them (layer mix, normalisation, modality weight).
    hook = projection.register_forward_hook(
        lambda module, inputs, output: mixed.append(inputs[0].reshape(-1, inputs[0].shape[-1]))
    )
    try:
        for start in range(0, len(examples), batch):
            adapter(torch.as_tensor(examples.features[start : start + batch].astype(np.float32), device=projection.weight.device))
    finally:
        hook.remove()
    mixed = torch.cat(mixed).double()
    mean = mixed.mean(0)
    # A dimension that never varies keeps its scale instead of being blown up by 1 / ~0.
    std = mixed.std(0) if len(mixed) > 1 else torch.ones_like(mean)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    weight = projection.weight.double() / std
    projection.weight.copy_(weight)
    projection.bias.copy_(-(weight @ mean))


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    resume_key: str = ""
    history: list[dict] = field(default_factory=list)  # one row per optimizer step or evaluation
    best: dict | None = None  # {"epoch", "step", metric: value} of the best evaluation so far

    def to_json(self) -> str:
        return json.dumps({"step": self.step, "resume_key": self.resume_key, "history": self.history, "best": self.best})

    @classmethod
    def from_json(cls, text: str) -> TrainState:
        data = json.loads(text)
        return cls(step=data["step"], resume_key=data["resume_key"], history=data["history"], best=data["best"])


def is_better(metric: str, value, best) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value < best if SELECT_METRICS[metric] == "min" else value > best


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        captioner,
        train_set: ExampleSet,
        val_set: ExampleSet,
        device: torch.device | str = "cpu",
        world: int = 1,
        rank: int = 0,
    ):
        self.config = config
        self.captioner = captioner
        self.train_set, self.val_set = train_set, val_set
        self.device = torch.device(device)
        self.world, self.rank = world, rank
        if world != config.workers:
            raise UserError(f"the run is configured for {config.workers} workers but runs on {world}")
        self.trainable = configure(captioner, config.train, config.lora_rank, config.lora_alpha, config.seed)
        if config.center_adapter:
            center_adapter(captioner, train_set)
        self.optimizer = build_optimizer(list(self.trainable.items()), config.weight_decay)
        self.steps_per_epoch = steps_per_epoch(len(train_set), config.global_batch)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.state = TrainState(resume_key=config.resume_key())
        self.module = self._wrap(captioner.model)

    def _autocast(self):
        """Autocast to the device's training type on GPU (trainable tensors stay fp32); full fp32 on CPU."""
        return (
            torch.autocast("cuda", dtype=default_dtype(self.device, training=True))
            if self.device.type == "cuda"
            else nullcontext()
        )

    def _wrap(self, model):
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            # Only the prefixed blocks use their gate, so with finetune tensors some get no gradient.
            return DistributedDataParallel(
                model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=self.config.train != "adapter",
            )
        return model

    # ------------------------------------------------------------------ checkpoints

    def write_checkpoint(self, directory: str) -> None:
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        save_trainable(root / TRAINABLE_FILE, self.trainable)
        torch.save(self.optimizer.state_dict(), root / OPTIMIZER_FILE)
        (root / STATE_FILE).write_text(self.state.to_json())

    def restore(self, directory: str) -> None:
        root = Path(directory)
        state = TrainState.from_json((root / STATE_FILE).read_text())
        if state.resume_key != self.state.resume_key:
            raise UserError(
                "the checkpoint found was written with other training settings; use another --out/--name to start a new run"
            )
        load_trainable(root / TRAINABLE_FILE, self.trainable)
        self.optimizer.load_state_dict(torch.load(root / OPTIMIZER_FILE, map_location=self.device, weights_only=True))
        self.state = state

    # ------------------------------------------------------------------ one step

    def _features(self, examples: ExampleSet) -> torch.Tensor:
        return torch.as_tensor(examples.features.astype(np.float32), device=self.device)

    def train_step(self) -> dict:
        """One optimizer step over this worker's micro-batches; returns the step's metrics (global)."""
        cfg = self.config
        epoch, in_epoch = divmod(self.state.step, self.steps_per_epoch)
        lr = lr_at(self.state.step / self.steps_per_epoch, cfg.learning_rate(), cfg.min_lr, cfg.warmup_epochs, cfg.epochs)
        set_lr(self.optimizer, lr)
        order = epoch_order(len(self.train_set), epoch, cfg.seed)
        parts = [
            self.train_set.take(i) for i in micro_batches(order, in_epoch, cfg.batch_size, self.world, self.rank, cfg.grad_accum)
        ]
        batches = [self.captioner.training_batch(p.questions, p.answers, cfg.max_tokens) for p in parts]
        local_tokens = sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches)
        total_tokens = float(all_reduce_sum(np.array([local_tokens]), self.device)[0])
        if total_tokens == 0:
            raise UserError("a training batch has no answer tokens (answers empty, or cut off by --max-tokens)")
        started = time.perf_counter()
        local_loss = 0.0
        self.module.train()
        for k, (part, batch) in enumerate(zip(parts, batches)):
            sync = self.world == 1 or k == len(parts) - 1
            with nullcontext() if sync else self.module.no_sync(), self._autocast():
                logits = self.module(self._features(part), batch["tokens"].to(self.device))
                loss_sum, _ = token_loss_sum(logits, batch["labels"].to(self.device))
            # DDP averages gradients over workers; scaling by world turns that average into the global token mean.
            (loss_sum * (self.world / total_tokens)).backward()
            local_loss += float(loss_sum.detach())
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss = float(all_reduce_sum(np.array([local_loss]), self.device)[0]) / total_tokens
        if not math.isfinite(loss):
            raise UserError(f"the training loss became {loss} at step {self.state.step + 1}; lower the learning rate")
        seconds = time.perf_counter() - started
        self.state.step += 1
        return {
            "kind": "train",
            "step": self.state.step,
            "epoch": self.state.step / self.steps_per_epoch,
            "lr": lr,
            "train_loss": loss,
            "tokens": int(total_tokens),
            "seconds": seconds,
            "samples_per_s": cfg.global_batch / seconds if seconds > 0 else None,
        }

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Validation loss (token mean) and caption scores of greedy captions, summed over workers."""
        cfg = self.config
        val = self.val_set
        if len(val) == 0:
            return {}
        model = self.captioner.model
        model.eval()
        mine = shard(len(val), self.world, self.rank)
        loss_sum, tokens = 0.0, 0
        for start in range(0, len(mine), EVAL_BATCH):
            part = val.take(mine[start : start + EVAL_BATCH])
            batch = self.captioner.training_batch(part.questions, part.answers, cfg.max_tokens)
            with self._autocast():
                logits = model(self._features(part), batch["tokens"].to(self.device))
            s, n = token_loss_sum(logits, batch["labels"].to(self.device))
            loss_sum, tokens = loss_sum + float(s), tokens + n
        limit = len(val) if cfg.eval_limit is None else min(cfg.eval_limit, len(val))
        counts = np.zeros(caption_scores.N_COUNTS)
        captioned = shard(limit, self.world, self.rank)
        for start in range(0, len(captioned), EVAL_BATCH):
            part = val.take(captioned[start : start + EVAL_BATCH])
            texts = self.captioner.generate(
                part.features.astype(np.float32), part.questions, max_new_tokens=cfg.eval_max_new_tokens, temperature=0.0
            ).texts
            counts += caption_scores.caption_counts(texts, part.answers)
        totals = all_reduce_sum(np.concatenate([[loss_sum, tokens], counts]), self.device)
        metrics = {"val_loss": float(totals[0] / totals[1]) if totals[1] else None}
        if limit:
            metrics.update(caption_scores.summarize(totals[2:]))
        return metrics

    def _evaluation_row(self, metrics: dict) -> dict:
        row = {"kind": "eval", "step": self.state.step, "epoch": self.state.step / self.steps_per_epoch, **metrics}
        if self.state.step > 0 and is_better(
            self.config.select_by,
            metrics.get(self.config.select_by),
            None if self.state.best is None else self.state.best[self.config.select_by],
        ):
            self.state.best = {k: row[k] for k in ("step", "epoch")} | {self.config.select_by: metrics[self.config.select_by]}
        return row

    # ------------------------------------------------------------------ the run

    def run(self, report: Report, on_step: Callable[[dict], None] | None = None) -> TrainState:
        """Train until the configured number of steps, resuming from `self.state.step`."""
        cfg = self.config
        if self.state.step == 0 and not any(r["kind"] == "eval" for r in self.state.history):
            # The untrained model's scores: the baseline the curves start from.
            self.state.history.append(self._evaluation_row(self.evaluate()))
        while self.state.step < self.total_steps:
            row = self.train_step()
            if self.rank == 0 and (self.state.step % cfg.log_every == 0 or self.state.step == self.total_steps):
                self.state.history.append(row)
            if on_step:
                on_step(row)
            epoch_end = self.state.step % self.steps_per_epoch == 0
            if epoch_end:
                self.state.history.append(self._evaluation_row(self.evaluate()))
            if epoch_end or self.state.step % cfg.checkpoint_every == 0:
                self._report(row, epoch_end, report)
        return self.state

    def _report(self, row: dict, evaluated: bool, report: Report) -> None:
        metric = self.config.select_by
        value = self.state.history[-1].get(metric) if evaluated else None
        unscored = value is None or (isinstance(value, float) and math.isnan(value))
        metrics = {
            "step": self.state.step,
            "epoch": row["epoch"],
            "train_loss": row["train_loss"],
            # Higher is better; mid-epoch checkpoints exist for resuming and are never selected.
            # (A finite sentinel: Ray's run snapshot stores NaN and infinities as null.)
            SELECTION_SCORE: UNSCORED if unscored else (-value if SELECT_METRICS[metric] == "min" else value),
        }
        if evaluated and not unscored:
            metrics[metric] = value
        report(metrics, self.write_checkpoint if self.rank == 0 else None)
