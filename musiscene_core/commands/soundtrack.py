"""`musiscene soundtrack`: background music for a video from its scene caption, muxed back into the video.

`musiscene soundtrack VIDEO --out OUT.mp4` makes one; `musiscene soundtrack FOLDER_OR_MANIFEST --out DIR` makes one per
video as a Ray job, skipping videos whose soundtrack is already complete (rerun to resume). Exit status: 0 when all
were made, 1 when some video of a batch failed (the others are made), 2 for a bad option, model or video.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from musiscene_core.errors import UserError
from musiscene_core.soundtrack.make import SoundtrackSettings

_D = SoundtrackSettings()
_MODEL_HELP = "Captioner for musiscene/music prompts: preset (tiny, musiscene, mu-llama) or model directory."
_MUSICGEN_HELP = "MusicGen: 'tiny' (random weights, built offline), a local directory or a hub id."
_PROMPT_HELP = (
    "musiscene (scene caption of the video's own audio, the paper's setting), music (a music caption of it) or text:\"…\"."
)


def _settings(model, musicgen, prompt_source, mix, lufs, under_lu, window, stride, seed, device) -> SoundtrackSettings:
    return SoundtrackSettings(
        model=model,
        musicgen=musicgen,
        prompt_source=prompt_source,
        mix=mix,
        target_lufs=lufs,
        under_lu=under_lu,
        window_s=window,
        stride_s=stride,
        seed=seed,
        device=device,
    )


def soundtrack(
    video: Path = typer.Argument(
        ..., help="Input video (MP4, MKV, MOV, WebM, ...), or a folder / CSV or Parquet manifest (video column) for a batch."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output MP4: the video stream copied untouched + the new sound (a folder for a batch)."
    ),
    model: str = typer.Option(_D.model, "--model", "-m", help=_MODEL_HELP),
    musicgen: str = typer.Option(_D.musicgen, "--musicgen", help=_MUSICGEN_HELP),
    prompt_source: str = typer.Option(_D.prompt_source, "--prompt-source", help=_PROMPT_HELP),
    mix: str = typer.Option(_D.mix, "--mix", help="replace: the music replaces the original sound; under: it plays under it."),
    lufs: float = typer.Option(_D.target_lufs, "--lufs", help="Integrated loudness of the music (replace), in LUFS."),
    under_lu: float = typer.Option(
        _D.under_lu, "--under-lu", min=0.0, help="With --mix under: the music this many LU below the original sound."
    ),
    window: float = typer.Option(_D.window_s, "--window", min=1.0, help="MusicGen window in seconds (its training length)."),
    stride: float = typer.Option(
        _D.stride_s, "--stride", min=0.5, help="New seconds per continuation window (audiocraft's extend_stride)."
    ),
    seed: int = typer.Option(_D.seed, "--seed", help="Sampling seed."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1, ... [default: CUDA when available]"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object (one per video for a batch)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Batch: Ray actors, each with its own models."),
    ray_address: str = typer.Option(None, "--ray-address", help="Batch: existing Ray cluster (e.g. auto); default: local Ray."),
) -> None:
    """Generate music for the whole video with MusicGen, loudness-normalise it and mux it in."""
    from musiscene_core.soundtrack import probe_video
    from musiscene_core.soundtrack.batch import is_batch_source
    from musiscene_core.soundtrack.make import SoundtrackMaker
    from musiscene_core.soundtrack.video import check_muxable

    settings = _settings(model, musicgen, prompt_source, mix, lufs, under_lu, window, stride, seed, device)
    if is_batch_source(video):
        _batch(video, out, settings, workers, ray_address, as_json)
        return
    if out.suffix.lower() != ".mp4":
        raise UserError(f"the output must be an .mp4 file, got {out.name!r}")
    if out.resolve() == video.resolve():
        raise UserError("the output would overwrite the input video; choose another --out")
    info = probe_video(video)  # a bad video fails before any model loads
    check_muxable(str(video))
    if not info.has_audio and not prompt_source.startswith("text:"):
        raise UserError(f'{video} has no audio to caption; give the prompt yourself with --prompt-source text:"..."')
    maker = SoundtrackMaker(settings)
    if maker.musicgen.random_weights:
        typer.echo(
            f"note: MusicGen '{maker.musicgen.name}' is the tiny model with random weights, built offline: its music is noise-like",
            err=True,
        )
    result = maker(video, out, on_window=lambda done, total: typer.echo(f"MusicGen window {done}/{total}", err=True))
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        typer.echo(f"{result.out}\t{result.duration_s:.2f} s\tprompt ({result.prompt_source}): {result.prompt}")
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(
        f"made in {result.seconds:.1f} s with MusicGen {result.musicgen}"
        + (f" and captioner {result.captioner}" if result.captioner else ""),
        err=True,
    )


def _batch(src: Path, out_dir: Path, settings: SoundtrackSettings, workers: int, ray_address: str | None, as_json: bool) -> None:
    import csv

    from musiscene_core.soundtrack.batch import plan_batch

    plan = plan_batch(src, out_dir)
    typer.echo(
        f"{len(plan.todo) + len(plan.done)} videos: {len(plan.done)} already have a complete soundtrack, {len(plan.todo)} to make",
        err=True,
    )
    rows = [
        {"video": v, "out": o, "status": "skipped", "error": "", "prompt": "", "duration_s": "", "seconds": ""}
        for v, o in plan.done
    ]
    if plan.todo:
        from musiscene_core.pipelines.soundtrack import run

        def show(row):
            if as_json:
                typer.echo(json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}))
            elif row["status"] == "ok":
                typer.echo(f"{row['out']}\t{row['prompt']}")
            else:
                typer.echo(f"error: {row['video']}: {row['error']}", err=True)

        rows += run(plan.todo, settings, workers=workers, ray_address=ray_address, on_result=show)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "soundtracks.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    failed = sum(row["status"] == "error" for row in rows)
    made = sum(row["status"] == "ok" for row in rows)
    typer.echo(f"{made} made, {len(plan.done)} skipped, {failed} failed; report {out_dir / 'soundtracks.csv'}", err=True)
    if failed:
        raise typer.Exit(1)
