"""`musiscene caption`: scene captions for a few files or folders, printed as they are made.

It runs the tagging job's stage graph up to the caption stage with the sequential runner (in this
process, batch by batch), so a track gets the caption `musiscene tag` stores for it with the same
model, policy and generation settings. Exit status: 0 when every track was captioned, 1 when any input
or track failed (the others are still captioned and printed), 2 for a bad option or model.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import typer

from musiscene_core.devices import check_device
from musiscene_core.errors import UserError
from musiscene_core.tagging.config import TagConfig

_DEFAULTS = TagConfig(src="", dst="")  # the same defaults as `musiscene tag`
POLICIES = ("whole", "mu-llama")


def caption(
    inputs: list[str] = typer.Argument(
        ..., help="Audio files and folders (walked for audio files); s3:// prefixes and CSV/Parquet manifests as for `tag`."
    ),
    model: str = typer.Option(_DEFAULTS.model, "--model", "-m", help="Preset (tiny, musiscene, mu-llama) or model directory."),
    question: str = typer.Option(None, "--question", help="Question asked of the captioner. [default: the model's]"),
    policy: str = typer.Option(
        _DEFAULTS.policy,
        "--policy",
        help="'whole' (30 s windows over the whole track, averaged) or 'mu-llama' (the first 60 s, as the reference).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per track (JSON Lines), errors included."),
    max_new_tokens: int = typer.Option(
        _DEFAULTS.max_new_tokens, "--max-new-tokens", min=1, help="Caption length limit in tokens."
    ),
    temperature: float = typer.Option(
        _DEFAULTS.temperature, "--temperature", min=0.0, help="0 decodes greedily (deterministic); above 0 samples with top-p."
    ),
    top_p: float = typer.Option(
        _DEFAULTS.top_p, "--top-p", min=0.0, max=1.0, help="Nucleus sampling mass (with --temperature > 0)."
    ),
    seed: int = typer.Option(_DEFAULTS.seed, "--seed", help="Sampling seed (each track's sample does not depend on its batch)."),
    batch_size: int = typer.Option(_DEFAULTS.model_batch_size, "--batch-size", min=1, help="Tracks per model batch."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1, ... [default: CUDA when available]"),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint for s3:// inputs."),
) -> None:
    """Print one scene caption per track (`path<TAB>caption` lines, or JSON Lines with --json); errors go to stderr."""
    from musiscene_core.models import resolve_model
    from musiscene_core.pipelines.sequential import SequentialRunner
    from musiscene_core.tagging.graph import CAPTION, build_stages, model_version

    if policy not in POLICIES:
        raise UserError(f"unknown window policy {policy!r}; use 'whole' or 'mu-llama'")
    if top_p <= 0:
        raise UserError("--top-p must be above 0")
    device = check_device(device)
    started = time.time()
    tracks, failures = _list_inputs(inputs, endpoint_url)
    if not tracks:
        raise UserError("nothing to caption: " + "; ".join(f"{row['uri']}: {row['reason']}" for row in failures))
    spec = resolve_model(model, question=question)
    config = TagConfig(
        src="",
        dst="",
        model=model,
        policy=policy,
        question=question,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        model_batch_size=batch_size,
        endpoint_url=endpoint_url,
    )
    # The version `tag` records for these settings (its default text embedder), so outputs can be matched.
    emit = _Printer(as_json, model_version(config, spec))
    for row in failures:
        emit(row)
    runner = SequentialRunner(build_stages(config, spec, None, device=device, last=CAPTION))
    rows = [{"uri": t.uri, "fingerprint": t.fingerprint} for t in tracks]
    for out in runner.batches(rows, batch_rows=batch_size):
        for i in range(len(out["uri"])):
            emit(
                {
                    key: out[key][i]
                    for key in ("uri", "track_id", "status", "caption", "question", "error_kind", "error", "duration_s")
                }
            )
    emit.summary(time.time() - started, spec.random_weights)
    if emit.failed:
        raise typer.Exit(1)


def _list_inputs(inputs: list[str], endpoint_url: str | None):
    """Tracks named or found under the inputs (deduplicated, in order) and error rows for inputs that gave none."""
    from musiscene_core.catalog.listing import list_tracks
    from musiscene_core.catalog.storage import scheme_of

    tracks, seen, failures = [], set(), []
    for item in inputs:
        if scheme_of(item) == "file" and not Path(item).exists():
            failures.append(_error_row(item, "not_found", "the path does not exist"))
            continue
        listing = list_tracks(item, endpoint_url)
        if not listing.tracks:
            failures.append(_error_row(item, "no_audio", "no audio files there"))
        for track in listing.tracks:
            if track.uri not in seen:
                seen.add(track.uri)
                tracks.append(track)
    return tracks, failures


def _error_row(uri: str, kind: str, reason: str) -> dict:
    return {
        "uri": uri,
        "track_id": "",
        "status": "error",
        "caption": "",
        "question": "",
        "error_kind": kind,
        "reason": reason,
        "error": f"{kind}: {reason}",
        "duration_s": math.nan,
    }


class _Printer:
    """Prints each result as it comes (stdout: captions or JSON Lines; stderr: error lines) and counts them."""

    def __init__(self, as_json: bool, model_version: str):
        self.as_json = as_json
        self.model_version = model_version
        self.ok = 0
        self.errors: Counter[str] = Counter()

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def __call__(self, row: dict) -> None:
        ok = row["status"] == "ok"
        if ok:
            self.ok += 1
        else:
            self.errors[str(row["error_kind"])] += 1
        if self.as_json:
            duration = float(row["duration_s"])
            record = {
                "uri": str(row["uri"]),
                "status": str(row["status"]),
                "caption": str(row["caption"]) if ok else None,
                "question": str(row["question"]) if ok else None,
                "track_id": str(row["track_id"]) or None,
                "duration_s": duration if math.isfinite(duration) else None,
                "error": None if ok else str(row["error"]),
                "model_version": self.model_version,
            }
            typer.echo(json.dumps(record))
        elif ok:
            # One line per track: a caption's own tabs and line breaks (random weights make them) become spaces.
            typer.echo(f"{row['uri']}\t{' '.join(str(row['caption']).split())}")
        else:
            typer.echo(f"error: {row['uri']}: {row['error']}", err=True)
        sys.stdout.flush()

    def summary(self, seconds: float, random_weights: bool) -> None:
        failed = f"{self.failed} failed" + (
            f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.errors.items()))})" if self.errors else ""
        )
        typer.echo(f"{self.ok} captioned, {failed} in {seconds:.1f} s; model version {self.model_version}", err=True)
        if random_weights:
            typer.echo("note: this model has random weights (e.g. the tiny preset), so its captions are not meaningful", err=True)
