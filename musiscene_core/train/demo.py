"""`musiscene train-demo`: evidence, offline and in minutes, that adapter training teaches the model to listen.

1. Synthetic scene music (six scene classes whose sound differs audibly) with templated scene captions,
   split into train / validation / test pieces; the dataset rows point at the audio files.
2. A base model: the tiny preset, whose random LLaMA first learns language the way the real one
   arrives at MusiScene's fine-tuning, knowing language and how to read the adapter token: it is
   pretrained to answer the prompt with a caption sentence given that sentence's meaning (its
   sentence embedding, projected to LLaMA's width) in the adapter token's place. Text only; the music
   adapter is untouched, so this base has never heard any audio.
3. `musiscene train` on 2 Ray Train CPU workers: LLaMA frozen, only the music adapter learns.
4. Held-out test pieces captioned by the base and by the trained model: the fraction of captions
   naming the piece's scene class (chance is 1/6) and BLEU.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from musiscene_core.models import MUSISCENE_QUESTION
from musiscene_core.models.preset_file import PRESET_FILE, write_preset
from musiscene_core.models.presets import resolve_model
from musiscene_core.train import caption_scores
from musiscene_core.train.config import TrainConfig
from musiscene_core.train.dataset import load_prepared
from musiscene_core.train.schedule import build_optimizer, lr_at, set_lr


@dataclass
class DemoSettings:
    workdir: Path
    workers: int = 2
    pieces: int = 720
    seconds: float = 6.0
    epochs: int = 12
    batch_size: int = 4
    lr: float = 3e-3
    eval_limit: int | None = None  # all 108 validation pieces: a steady curve and a sound choice of epoch
    pretrain_steps: int = 150
    vocab_size: int = 800  # a larger vocabulary than the tiny preset's: shorter prompts, faster steps
    pretrain_lr: float = 3e-3
    # Pretraining perturbs each sentence code by a random vector of this fraction of its norm, so the decoder
    # answers with a sentence over a neighbourhood of its code rather than at one exact point.
    code_noise: float = 0.3
    seed: int = 0


def caption_sentences() -> list[str]:
    """Every caption template of every scene class: the text the tiny LLaMA learns its language from."""
    from musiscene_core.data.synthetic_scenes import SCENES

    return [template for scene in SCENES.values() for template in scene.templates]


def sentence_codes(captioner, sentences: list[str], generator: torch.Generator) -> torch.Tensor:
    """One vector per sentence that carries its meaning: its sentence embedding (the project's text
    embedder, all-MiniLM-L6-v2) under a fixed random projection to LLaMA's width, scaled to the norm
    of the tokens the (random) music adapter emits, so codes live where audio tokens will."""
    from musiscene_core.models.text_embedder import TextEmbedder

    model = captioner.model
    embedded = torch.as_tensor(TextEmbedder(device="cpu").embed(sentences), dtype=torch.float32)
    projection = torch.randn(embedded.shape[1], model.cfg.llama.dim, generator=generator)
    codes = embedded @ projection
    with torch.no_grad():
        adapter = captioner.config.adapter
        probe = torch.randn(64, adapter.mert_layers, adapter.mert_dim, generator=generator)
        scale = model.music_adapter(probe.to(captioner.device)).norm(dim=-1).mean().cpu()
    return (codes / codes.norm(dim=-1, keepdim=True) * scale).to(captioner.device)


def _logits_from_codes(model, codes: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Teacher-forced logits with `codes` [B, dim] in the place of the music adapter's audio token."""
    b, s = tokens.shape
    positions = torch.arange(s, device=tokens.device).expand(b, s)
    mask = torch.full((s, s), float("-inf"), device=tokens.device).triu(1)[None, None]
    first = model.cfg.llama.n_layers - model.cfg.prefix_layers
    values = [
        model.llama.layers[first + i].attention.adapter_values((codes + model.prefix_query.weight[i])[:, None, :])
        for i in range(model.cfg.prefix_layers)
    ]
    return model.llama.output(model.llama.hidden_states(tokens, positions, mask, values)).float()


def pretrain_language_model(
    captioner, sentences: list[str], question: str, steps: int, lr: float, seed: int = 0, code_noise: float = 0.0
) -> list[float]:
    """Pretrain the captioner's LLaMA as a caption decoder: answer `question` with the sentence whose
    summary vector (`sentence_codes`) arrives through the adapter pathway (gates, adapter values).

    A real LLaMA knows language and MU-LLaMA's pretraining taught it to read the adapter token; a
    random tiny LLaMA knows neither. All LLaMA tensors learn; the music adapter and the prefix
    queries stay as they are, and no audio is involved, so nothing about any piece of music is
    learned here. With `code_noise` > 0 every code is moved by a random vector of that fraction of its
    norm at every step: a real LLaMA reads a continuum of adapter tokens, and a decoder taught only the
    exact codes of a few dozen sentences leaves the space between them undefined, where the audio
    tokens of pieces it has not heard land. Returns the loss per step."""
    from musiscene_core.train.loop import token_loss_sum

    generator = torch.Generator().manual_seed(seed)
    codes = sentence_codes(captioner, sentences, generator)
    params = captioner.set_trainable(("finetune", "llama"))
    named = [(n, p) for n, p in captioner.model.named_parameters() if p.requires_grad]
    optimizer = build_optimizer(named, weight_decay=0.0)
    batch = captioner.training_batch([question] * len(sentences), sentences)
    losses = []
    captioner.model.train()
    for step in range(steps):
        set_lr(optimizer, lr_at(step / steps, lr, lr * 0.05, 0.05, 1.0))
        rows = torch.randperm(len(sentences), generator=generator)[:32]
        chosen = codes[rows]
        if code_noise > 0:
            noise = torch.randn(chosen.shape, generator=generator).to(chosen.device)
            chosen = chosen + noise / noise.norm(dim=-1, keepdim=True) * chosen.norm(dim=-1, keepdim=True) * code_noise
        logits = _logits_from_codes(captioner.model, chosen, batch["tokens"][rows].to(captioner.device))
        loss_sum, tokens = token_loss_sum(logits, batch["labels"][rows].to(captioner.device))
        (loss_sum / tokens).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss_sum.detach()) / tokens)
    captioner.model.eval()
    for p in params:
        p.requires_grad_(False)
    return losses


def build_base(directory: Path, settings: DemoSettings, say) -> Path:
    """The demo's base model directory: tiny preset + LLaMA pretrained on the caption sentences."""
    from musiscene_core.models.tiny_preset import make_tiny

    if (directory / PRESET_FILE).is_file():
        return directory
    with tempfile.TemporaryDirectory() as scratch:
        random_dir = make_tiny(Path(scratch) / "tiny", seed=settings.seed, vocab_size=settings.vocab_size)
        spec = resolve_model(str(random_dir))
        captioner = spec.load_captioner(device="cpu")
        say(
            f"pretraining the tiny LLaMA as a decoder of {len(caption_sentences())} caption sentences ({settings.pretrain_steps} steps) ..."
        )
        losses = pretrain_language_model(
            captioner,
            caption_sentences(),
            MUSISCENE_QUESTION,
            settings.pretrain_steps,
            settings.pretrain_lr,
            settings.seed,
            settings.code_noise,
        )
        say(f"  language-model loss {losses[0]:.2f} -> {losses[-1]:.3f}")
        partial = directory.with_name(directory.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(random_dir / "mert", partial / "mert")
        captioner.save_pretrained(partial / "captioner", include_llama=True)
        write_preset(
            partial,
            name="tiny-lm",
            question=MUSISCENE_QUESTION,
            mert="mert",
            captioner="captioner",
            random_weights=True,
            note="tiny preset; LLaMA pretrained to decode caption sentences from sentence embeddings; adapter random",
        )
        partial.rename(directory)
    return directory


def write_dataset(workdir: Path, settings: DemoSettings) -> Path:
    """Synthetic catalog + dataset rows {uri, question, answer, split}; written once."""
    from musiscene_core.data.synthetic import make_catalog

    data = workdir / "data.parquet"
    if data.is_file():
        return data
    pieces = make_catalog(
        workdir / "catalog", n=settings.pieces, seed=settings.seed, formats=("wav",), duration_s=settings.seconds
    )
    table = pa.table(
        {
            "uri": [str(p.path) for p in pieces],
            "question": [MUSISCENE_QUESTION] * len(pieces),
            "answer": [p.caption for p in pieces],
            "split": [p.split for p in pieces],
        }
    )
    pq.write_table(table, data)
    return data


def score_test(model_dir: str, out: Path, max_new_tokens: int = 64, examples: int = 4) -> dict:
    """Greedy captions of the test split by a model directory: scene accuracy, BLEU and the first `examples` captions."""
    test = load_prepared(str(out), "test")
    captioner = resolve_model(model_dir).load_captioner(device="cpu")
    texts = []
    for start in range(0, len(test), 16):
        part = test.take(np.arange(start, min(start + 16, len(test))))
        texts += captioner.generate(part.features.astype(np.float32), part.questions, max_new_tokens=max_new_tokens).texts
    summary = caption_scores.summarize(caption_scores.caption_counts(texts, test.answers))
    summary["examples"] = [{"reference": r, "caption": t} for r, t in list(zip(test.answers, texts))[:examples]]
    summary["pieces"] = len(test)
    return summary


def train_config(settings: DemoSettings, data: Path, base: Path) -> TrainConfig:
    """The adapter training of the demonstration: only the music adapter learns, started standardised
    on the training features (`--center-adapter`), the exported epoch picked by validation scene accuracy."""
    return TrainConfig(
        data=str(data),
        base=str(base),
        out=str(Path(settings.workdir) / "train"),
        workers=settings.workers,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        warmup_epochs=1.0,
        checkpoint_every=1000,
        center_adapter=True,
        eval_max_new_tokens=64,
        eval_limit=settings.eval_limit,
        select_by="scene_accuracy",
        seed=settings.seed,
    ).validate()


def run_demo(settings: DemoSettings, run_training, say=print) -> dict:
    """The whole demonstration; `run_training(config, on_event)` is the training job (musiscene_core.pipelines.train.run)."""
    started = time.time()
    # The tiny model's matrices are too small for threads to pay: one thread is faster, and far faster
    # when other work competes for the cores.
    torch.set_num_threads(1)
    workdir = Path(settings.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"generating {settings.pieces} synthetic pieces of {settings.seconds:g} s ...")
    data = write_dataset(workdir, settings)
    base = build_base(workdir / "base", settings, say)
    summary = run_training(train_config(settings, data, base), on_event=say)
    say("captioning the held-out test pieces with the untrained and the trained model ...")
    untrained = score_test(str(base), workdir / "train")
    trained = score_test(summary["exported"]["model"], workdir / "train")
    result = {
        "settings": {k: str(v) for k, v in asdict(settings).items()},
        "untrained": untrained,
        "trained": trained,
        "training": {k: summary[k] for k in ("steps", "samples_per_s", "best_epoch", "wall_seconds")},
        "seconds": round(time.time() - started, 1),
    }
    result["markdown"] = _markdown(result)
    (workdir / "demo.json").write_text(json.dumps(result, indent=2))
    (workdir / "demo.md").write_text(result["markdown"])
    return result


def _markdown(result: dict) -> str:
    u, t = result["untrained"], result["trained"]
    lines = [
        f"# Training demo: {t['pieces']} held-out test pieces, 6 scene classes (chance 0.17)",
        "",
        "| model | scene accuracy | BLEU-4 | BLEU-1 |",
        "|---|---|---|---|",
        f"| untrained adapter | {u['scene_accuracy']:.3f} | {u['bleu']:.3f} | {u['bleu1']:.3f} |",
        f"| trained adapter | {t['scene_accuracy']:.3f} | {t['bleu']:.3f} | {t['bleu1']:.3f} |",
        "",
        f"{result['training']['steps']} optimizer steps, {result['seconds']:.0f} s in all.",
        "",
        "Trained captions (reference -> caption):",
    ]
    lines += [f"- {e['reference']} -> {e['caption']}" for e in t["examples"]]
    return "\n".join(lines) + "\n"
