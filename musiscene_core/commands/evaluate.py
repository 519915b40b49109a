"""`musiscene evaluate captions|audio|listening-kit`: the paper's tables on your own data."""

from __future__ import annotations

from pathlib import Path

import typer

from musiscene_core.errors import UserError

app = typer.Typer(help="Caption metrics, background-music metrics (FAD, KL) and a listening-test kit.", no_args_is_help=True)

_LABELS = {"bleu": "BLEU", "bleu4": "BLEU-4", "meteor": "METEOR", "rouge_l": "ROUGE-L", "bertscore": "BERTScore"}


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


def _check_format(fmt: str) -> None:
    from musiscene_core.metrics.report import FORMATS

    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; use {', '.join(FORMATS)}")


@app.command("captions")
def captions(
    pred: list[str] = typer.Option(
        ...,
        "--pred",
        help="Predictions: .jsonl/.json/.csv/.parquet or a tagging run's output folder (its captions table). Repeat for one table row per file.",
    ),
    ref: str = typer.Option(
        ..., "--ref", help="References (same file types); paired by id/track_id/uri/name, else by row order."
    ),
    protocol: str = typer.Option(
        "mullama", "--protocol", help="'mullama' (MU-LLaMA's evaluate.py definitions) or 'standard' (corpus BLEU, F1 scores)."
    ),
    fmt: str = typer.Option("md", "--format", help="md, csv or json."),
    bertscore_model: str = typer.Option(
        None,
        "--bertscore-model",
        help="BERTScore model: hub id (MU-LLaMA used roberta-large) or local directory. [default: no BERTScore]",
    ),
    bertscore_layers: int = typer.Option(
        None,
        "--bertscore-layers",
        min=1,
        help="Layer whose embeddings BERTScore compares. [default: bert-score's choice for the model]",
    ),
    resamples: int = typer.Option(1000, "--resamples", min=10, help="Bootstrap resamples for the 95% intervals."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    device: str = typer.Option(None, "--device", help="Device for BERTScore (cpu, cuda). [default: CUDA when available]"),
    out: Path = typer.Option(None, "--out", help="Write the table here instead of printing it."),
) -> None:
    """Score prediction files against references: one row per prediction file, one column per metric, with bootstrap 95% intervals."""
    from musiscene_core.metrics.caption_files import PREDICTION_TEXTS, REFERENCE_TEXTS, pair_up, read_captions
    from musiscene_core.metrics.captions import PROTOCOLS, score_pairs
    from musiscene_core.metrics.report import csv_text, json_text, markdown, number

    _check_format(fmt)
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}; use {' or '.join(PROTOCOLS)}")
    references = read_captions(ref, REFERENCE_TEXTS)
    flat, cells = [], []
    for source in pred:
        predictions = read_captions(source, PREDICTION_TEXTS)
        texts, refs = pair_up(predictions, references)
        pairs = score_pairs(texts, refs, protocol, bertscore_model, bertscore_layers, device)
        point, intervals = pairs.aggregate(), pairs.bootstrap(resamples=resamples, seed=seed)
        row = {"predictions": predictions.label, "pairs": len(pairs), "protocol": protocol}
        for name, value in point.items():
            row.update({name: value, f"{name}_low": intervals[name][0], f"{name}_high": intervals[name][1]})
        row["bertscore_model"] = bertscore_model or ""
        flat.append(row)
        cells.append(
            [predictions.label, str(len(pairs))]
            + [f"{number(point[n])} ({number(intervals[n][0])}–{number(intervals[n][1])})" for n in point]
        )
    metrics = [n for n in _LABELS if n in flat[0]]
    if fmt == "md":
        text = markdown(["predictions", "pairs"] + [_LABELS[n] for n in metrics], cells)
        text += (
            f"\nProtocol `{protocol}`; 95% bootstrap intervals over pairs ({resamples} resamples, seed {seed})"
            + (f"; BERTScore model `{bertscore_model}`" if bertscore_model else "; no BERTScore (pass --bertscore-model)")
            + ".\n"
        )
    else:
        text = csv_text(flat) if fmt == "csv" else json_text(flat)
    _emit(text, out)


@app.command("audio")
def audio(
    generated: str = typer.Option(
        ..., "--generated", help="Folder of generated music (audio files or videos with a sound track)."
    ),
    reference: str = typer.Option(
        ..., "--reference", help="Folder of reference music; clips pair with generated ones by file name (for KL)."
    ),
    embedding: str = typer.Option(
        "mert",
        "--embedding",
        help="FAD embedding: mert (the project's MERT, from --model) or hf:<hub id or local dir> (a transformers audio model).",
    ),
    model: str = typer.Option("musiscene", "--model", "-m", help="Preset or model directory whose MERT --embedding mert uses."),
    mert_layer: int = typer.Option(-1, "--mert-layer", help="MERT layer whose frames are embedded (-1: the last)."),
    classifier: str = typer.Option(
        None,
        "--classifier",
        help="AudioSet classifier for KL (hub id or local dir of a transformers audio-classification model), or 'none'. [default: MIT/ast-finetuned-audioset-10-10-0.4593]",
    ),
    per_clip: Path = typer.Option(None, "--per-clip", help="Write per-clip rows (frames, KL, errors) to this CSV."),
    fmt: str = typer.Option("md", "--format", help="Summary as md, csv or json."),
    fad_inf_steps: int = typer.Option(25, "--fad-inf-steps", min=3, help="Sample sizes in the FAD-inf fit (fadtk: 25)."),
    fad_inf_min_n: int = typer.Option(
        500, "--fad-inf-min-n", min=2, help="Smallest sample in the FAD-inf fit (fadtk: 500 frames)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the FAD-inf draws."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, ... for the embedder and classifier."),
    out: Path = typer.Option(None, "--out", help="Write the summary here instead of printing it."),
) -> None:
    """FAD, FAD-inf and paired KL between generated and reference music; names the embedding model and classifier used."""
    from musiscene_core.metrics.audio_eval import evaluate_audio
    from musiscene_core.metrics.audio_models import DEFAULT_CLASSIFIER, AudioSetClassifier, audio_files, load_embedder
    from musiscene_core.metrics.report import csv_text, json_text, markdown, number

    _check_format(fmt)
    generated_files, reference_files = audio_files(generated), audio_files(reference)
    for name, files in (("--generated", generated_files), ("--reference", reference_files)):
        if not files:
            raise UserError(f"{name} holds no audio files")
    embedder = load_embedder(embedding, model, mert_layer, device)
    chosen = classifier or DEFAULT_CLASSIFIER
    labeller = None if chosen.lower() == "none" else AudioSetClassifier(chosen, device)
    report = evaluate_audio(generated_files, reference_files, embedder, labeller, fad_inf_steps, fad_inf_min_n, seed)
    if per_clip is not None:
        per_clip.parent.mkdir(parents=True, exist_ok=True)
        fields = list(dict.fromkeys(key for row in report.clips for key in row))
        per_clip.write_text(csv_text([{key: row.get(key, "") for key in fields} for row in report.clips]), encoding="utf-8")
    s = report.summary
    if fmt == "md":
        header = ["generated", "reference", "FAD", "FAD∞ (R²)"] + (["KL", "KL reverse", "pairs"] if "kl" in s else [])
        cells = [
            str(s["generated_clips"]),
            str(s["reference_clips"]),
            number(s["fad"], 4),
            f"{number(s['fad_inf'], 4)} ({number(s['fad_inf_r2'], 3)})",
        ]
        if "kl" in s:
            cells += [number(s["kl"], 4), number(s["kl_reverse"], 4), str(s["kl_pairs"])]
        text = markdown(header, [cells]) + f"\nEmbedding `{s['embedding']}`; classifier `{s['classifier'] or 'none'}`.\n"
    else:
        text = csv_text([s]) if fmt == "csv" else json_text([s])
    _emit(text, out)
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    failed = [row for row in report.clips if row["status"] != "ok"]
    for row in failed:
        typer.echo(f"error: {row['file']}: {row['error']}", err=True)


@app.command("listening-kit")
def listening_kit(
    folders: list[Path] = typer.Argument(
        ..., help="One folder per system (e.g. original/, musiscene/, mu-llama/); versions of a clip share a file name."
    ),
    out: Path = typer.Option(..., "--out", help="New folder for the kit: index.html, kit.js and the anonymised media."),
    key: Path = typer.Option(
        None, "--key", help="Where the key (random names -> systems) goes; outside the kit. [default: OUT-key.csv beside OUT]"
    ),
    question: str = typer.Option(None, "--question", help="What raters judge. [default: how well the music suits the scene]"),
    scale: int = typer.Option(5, "--scale", help="Rating points (1..N)."),
    seed: int = typer.Option(None, "--seed", help="Shuffle seed (and kit id) for a reproducible kit. [default: random]"),
) -> None:
    """Write a static listening-test page: anonymised versions in random order, ratings downloadable as CSV."""
    from musiscene_core.metrics.listening_kit import DEFAULT_QUESTION, build_kit

    result = build_kit(folders, out, key, question or DEFAULT_QUESTION, scale, seed)
    typer.echo(f"{result.page}: {result.trials} clips, {result.versions} versions; key (keep it from raters): {result.key}")
    if result.skipped:
        typer.echo(
            f"note: {len(result.skipped)} clips are missing from some folder and were left out (e.g. {result.skipped[0]})",
            err=True,
        )


@app.command("listening-results")
def listening_results(
    key: Path = typer.Argument(..., help="The kit's key CSV."),
    ratings: list[Path] = typer.Argument(..., help="Ratings CSVs downloaded by the raters."),
    fmt: str = typer.Option("md", "--format", help="md, csv or json."),
) -> None:
    """Mean rating per system from the raters' CSVs."""
    from musiscene_core.metrics.listening_kit import summarise_ratings
    from musiscene_core.metrics.report import csv_text, json_text, markdown, number

    _check_format(fmt)
    for path in [key, *ratings]:
        if not path.is_file():
            raise UserError(f"{path} does not exist")
    rows = summarise_ratings(key, ratings)
    if not rows:
        raise UserError("the ratings files hold no ratings")
    if fmt == "md":
        text = markdown(
            ["system", "mean rating", "ratings", "raters"],
            [[r["system"], number(r["mean_rating"], 2), str(r["ratings"]), str(r["raters"])] for r in rows],
        )
    else:
        text = csv_text(rows) if fmt == "csv" else json_text(rows)
    _emit(text, None)
