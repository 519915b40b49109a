"""`musiscene soundtrack`: background music for a video from its scene caption, muxed back into the video.

`musiscene soundtrack VIDEO --out OUT.mp4` makes one; `musiscene soundtrack-batch SRC --out DIR` makes one per video of a
folder or manifest as a Ray job, skipping videos whose soundtrack is already complete (rerun to resume).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from musiscene_core.errors import UserError
from musiscene_core.soundtrack.make import MIXES, SoundtrackSettings

_D = SoundtrackSettings()
_MODEL_HELP = "Captioner for musiscene/music prompts: preset (tiny, musiscene, mu-llama) or model directory."
_MUSICGEN_HELP = "MusicGen: 'tiny' (random weights, built offline), a local directory or a hub id."
_PROMPT_HELP = "musiscene (scene caption of the video's own audio, the paper's setting), music (a music caption of it) or text:\"…\"."


def _settings(model, musicgen, prompt_source, mix, lufs, under_lu, window, stride, seed, device) -> SoundtrackSettings:
    return SoundtrackSettings(model=model, musicgen=musicgen, prompt_source=prompt_source, mix=mix, target_lufs=lufs,
                              under_lu=under_lu, window_s=window, stride_s=stride, seed=seed, device=device)


def soundtrack(
    video: Path = typer.Argument(..., help="Input video (MP4, MKV, MOV, WebM, ...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output MP4: the video stream copied untouched + the new sound."),
    model: str = typer.Option(_D.model, "--model", "-m", help=_MODEL_HELP),
    musicgen: str = typer.Option(_D.musicgen, "--musicgen", help=_MUSICGEN_HELP),
    prompt_source: str = typer.Option(_D.prompt_source, "--prompt-source", help=_PROMPT_HELP),
    mix: str = typer.Option(_D.mix, "--mix", help="replace: the music replaces the original sound; under: it plays under it."),
    lufs: float = typer.Option(_D.target_lufs, "--lufs", help="Integrated loudness of the music (replace), in LUFS."),
    under_lu: float = typer.Option(_D.under_lu, "--under-lu", min=0.0, help="With --mix under: the music this many LU below the original sound."),
    window: float = typer.Option(_D.window_s, "--window", min=1.0, help="MusicGen window in seconds (its training length)."),
    stride: float = typer.Option(_D.stride_s, "--stride", min=0.5, help="New seconds per continuation window (audiocraft's extend_stride)."),
    seed: int = typer.Option(_D.seed, "--seed", help="Sampling seed."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1, ... [default: CPU]"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Generate music for the whole video with MusicGen, loudness-normalise it and mux it in."""
    from musiscene_core.soundtrack import probe_video
    from musiscene_core.soundtrack.make import SoundtrackMaker

    settings = _settings(model, musicgen, prompt_source, mix, lufs, under_lu, window, stride, seed, device)
    if out.suffix.lower() != ".mp4":
        raise UserError(f"the output must be an .mp4 file, got {out.name!r}")
    if out.resolve() == video.resolve():
        raise UserError("the output would overwrite the input video; choose another --out")
    info = probe_video(video)  # a bad video fails before any model loads
    if not info.has_audio and not prompt_source.startswith("text:"):
        raise UserError(f"{video} has no audio to caption; give the prompt yourself with --prompt-source text:\"...\"")
    maker = SoundtrackMaker(settings)
    if maker.musicgen.random_weights:
        typer.echo(f"note: MusicGen '{maker.musicgen.name}' is the tiny model with random weights, built offline: its music is noise-like", err=True)
    result = maker(video, out, on_window=lambda done, total: typer.echo(f"MusicGen window {done}/{total}", err=True))
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        typer.echo(f"{result.out}\t{result.duration_s:.2f} s\tprompt ({result.prompt_source}): {result.prompt}")
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"made in {result.seconds:.1f} s with MusicGen {result.musicgen}" + (f" and captioner {result.captioner}" if result.captioner else ""), err=True)
