"""The training report in the output folder: per-step metrics (CSV), curves (PNG), a summary (JSON, markdown)."""

from __future__ import annotations

import csv
import io
import json
import posixpath

from musiscene_core.catalog.storage import open_location

REPORT_DIR = "report"
CSV_COLUMNS = (
    "kind",
    "step",
    "epoch",
    "lr",
    "train_loss",
    "tokens",
    "seconds",
    "samples_per_s",
    "val_loss",
    "bleu",
    "bleu1",
    "scene_accuracy",
    "scene_total",
)


def summarize(history: list[dict], config, workers: int, best: dict | None, wall_seconds: float | None = None) -> dict:
    """Steps, throughput, the untrained and best evaluations, and the last one."""
    train = [r for r in history if r["kind"] == "train"]
    evals = [r for r in history if r["kind"] == "eval"]
    step_seconds = sum(r["seconds"] for r in train)
    samples = len(train) * config.global_batch
    best_row = next((r for r in evals if best and r["step"] == best["step"]), None)
    return {
        "steps": train[-1]["step"] if train else 0,
        "epochs": config.epochs,
        "workers": workers,
        "global_batch": config.global_batch,
        "trained": config.train + (f"+lora{config.lora_rank}" if config.lora_rank else ""),
        "samples_per_s": samples / step_seconds if step_seconds else None,
        "samples_per_s_per_worker": samples / step_seconds / workers if step_seconds else None,
        "final_train_loss": train[-1]["train_loss"] if train else None,
        "untrained": next((r for r in evals if r["step"] == 0), None),
        "best": best_row,
        "best_epoch": best_row["epoch"] if best_row else None,
        "selected_by": config.select_by,
        "last": evals[-1] if evals else None,
        "wall_seconds": wall_seconds,
    }


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown(summary: dict) -> str:
    lines = [
        "# Training summary",
        "",
        f"- steps: {summary['steps']} ({summary['epochs']} epochs, global batch {summary['global_batch']}, "
        f"{summary['workers']} worker(s), trained: {summary['trained']})",
        f"- throughput: {_fmt(summary['samples_per_s'])} samples/s ({_fmt(summary['samples_per_s_per_worker'])} per worker)",
        f"- final training loss: {_fmt(summary['final_train_loss'])}",
        f"- best epoch: {_fmt(summary['best_epoch'])} (selected by {summary['selected_by']})",
    ]
    if summary.get("wall_seconds"):
        lines.append(f"- wall time: {summary['wall_seconds']:.0f} s")
    lines += ["", "| evaluation | step | val loss | BLEU-4 | BLEU-1 | scene accuracy |", "|---|---|---|---|---|---|"]
    for label in ("untrained", "best", "last"):
        row = summary.get(label)
        if row:
            lines.append(
                f"| {label} | {row['step']} | {_fmt(row.get('val_loss'))} | {_fmt(row.get('bleu'))} | "
                f"{_fmt(row.get('bleu1'))} | {_fmt(row.get('scene_accuracy'))} |"
            )
    return "\n".join(lines) + "\n"


def _plot_png(history: list[dict]) -> tuple[bytes, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in history if r["kind"] == "train"]
    evals = [r for r in history if r["kind"] == "eval"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in train], [r["train_loss"] for r in train], label="train loss", lw=1)
    val = [r for r in evals if r.get("val_loss") is not None]
    ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy per answer token")
    ax.legend()
    ax.grid(alpha=0.3)
    loss_png = io.BytesIO()
    fig.tight_layout()
    fig.savefig(loss_png, format="png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("bleu", "BLEU-4"), ("bleu1", "BLEU-1"), ("scene_accuracy", "scene accuracy")):
        points = [(r["step"], r[key]) for r in evals if r.get(key) is not None]
        if points:
            ax.plot(*zip(*points), "o-", label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylim(0, 1)
    ax.set_title("validation captions (greedy)")
    ax.legend()
    ax.grid(alpha=0.3)
    val_png = io.BytesIO()
    fig.tight_layout()
    fig.savefig(val_png, format="png", dpi=110)
    plt.close(fig)
    return loss_png.getvalue(), val_png.getvalue()


def write_report(out_uri: str, history: list[dict], summary: dict, endpoint_url: str | None = None) -> str:
    """Write metrics.csv, loss.png, validation.png, summary.json and summary.md under OUT/report/."""
    location = open_location(out_uri, endpoint_url)
    root = posixpath.join(location.root, REPORT_DIR)
    location.fs.makedirs(root, exist_ok=True)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    loss_png, val_png = _plot_png(history)
    files = {
        "metrics.csv": table.getvalue().encode(),
        "loss.png": loss_png,
        "validation.png": val_png,
        "summary.json": json.dumps(summary, indent=2).encode(),
        "summary.md": markdown(summary).encode(),
    }
    for name, data in files.items():
        location.fs.pipe_file(posixpath.join(root, name), data)
    return location.uri(root)
