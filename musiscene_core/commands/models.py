"""`musiscene models make-tiny | convert | info`: build, convert and inspect model files."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from musiscene_core.errors import UserError

app = typer.Typer(help="Build the tiny preset, convert captioner formats, inspect model files.", no_args_is_help=True)


@app.command("make-tiny")
def make_tiny(
    directory: Path = typer.Argument(
        ..., help="Folder to write the model directory into (new, empty, or an earlier tiny build)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights."),
) -> None:
    """Build the tiny preset (random MERT + random captioner, real architectures) offline in seconds."""
    from musiscene_core.models.presets import PRESET_FILE
    from musiscene_core.models.tiny_preset import make_tiny as build

    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory} exists and is not a folder")
    if directory.is_dir() and any(directory.iterdir()) and not _is_random_build(directory / PRESET_FILE):
        raise UserError(f"{directory} is not empty and is not an earlier tiny build; choose a new folder")
    root = build(directory, seed=seed)
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        typer.echo(f"{file}  ({_size(file.stat().st_size)})")
    typer.echo(
        f"wrote the tiny preset to {root}: random weights (seed {seed}), so its captions are not meaningful; "
        f"use it with --model {root}"
    )


def _is_random_build(preset: Path) -> bool:
    try:
        return bool(json.loads(preset.read_text()).get("random_weights"))
    except (OSError, json.JSONDecodeError):
        return False


@app.command("convert")
def convert(
    src: str = typer.Argument(
        ..., help="Captioner: MU-LLaMA checkpoint.pth (or its folder), a project-format folder, or a model directory."
    ),
    dst: Path = typer.Argument(..., help="New folder to write."),
    to: str = typer.Option(
        None,
        "--to",
        help="Target format: 'musiscene' (safetensors + captioner.json) or 'mullama' (checkpoint.pth). [default: the other format]",
    ),
    llama_dir: str = typer.Option(
        None,
        "--llama-dir",
        help="LLaMA folder (Meta or Hugging Face layout) for a MU-LLaMA checkpoint. [default: found next to it]",
    ),
    tokenizer: str = typer.Option(None, "--tokenizer", help="LLaMA's tokenizer.model. [default: found next to the LLaMA]"),
    copy_llama: bool = typer.Option(
        True,
        "--copy-llama/--no-copy-llama",
        help="Write the LLaMA base weights too (self-contained), or only the adapter and finetune tensors.",
    ),
    dtype: str = typer.Option(
        "float32", "--dtype", help="Tensor type of a 'musiscene' output: float32 (lossless), float16 or bfloat16."
    ),
    llama_type: str = typer.Option(
        "7B", "--llama-type", help="Sub-folder name of the LLaMA in a 'mullama' output (MU-LLaMA's llama_type)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Convert a captioner between MU-LLaMA's format and the project's; the weights, and so the outputs, stay the same."""
    from musiscene_core.models.conversion import FORMATS, find_captioner
    from musiscene_core.models.conversion import convert as run

    if to is not None and to not in FORMATS:
        raise UserError(f"unknown target format {to!r}; use {' or '.join(FORMATS)}")
    if dtype not in ("float32", "float16", "bfloat16"):
        raise UserError(f"unknown dtype {dtype!r}; use float32, float16 or bfloat16")
    source = find_captioner(src, llama_dir, tokenizer)
    try:  # before the (possibly long) load: a destination that cannot be written fails now
        dst.expanduser().mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the folder {dst}: {(exc.strerror or str(exc)).lower()}") from exc
    target = to or ("musiscene" if source.format == "mullama" else "mullama")
    result = run(source, dst, target, copy_llama=copy_llama, dtype=dtype, llama_type=llama_type)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    typer.echo(f"converted {src} ({source.format}) -> {result.destination} ({target}); model version {result.model_version}")
    for file in result.files:
        typer.echo(f"  {file}")
    if not copy_llama:
        where = source.llama_dir or "the LLaMA folder the source references"
        typer.echo(f"the LLaMA base weights were not copied: keep {where} available")


@app.command("info")
def info(
    target: str = typer.Argument(
        ..., help="Model directory, preset name, captioner folder, MU-LLaMA checkpoint.pth, MERT or LLaMA folder."
    ),
    llama_dir: str = typer.Option(
        None, "--llama-dir", help="LLaMA folder for a MU-LLaMA checkpoint. [default: found next to it]"
    ),
    tokenizer: str = typer.Option(
        None, "--tokenizer", help="tokenizer.model for a MU-LLaMA checkpoint. [default: found next to the LLaMA]"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Show what TARGET holds: format, dimensions read from its files, parameters per group, version, question."""
    from musiscene_core.models.describe import describe

    description = describe(target, llama_dir, tokenizer)
    if as_json:
        typer.echo(json.dumps(description, indent=2))
    else:
        for line in _lines(description):
            typer.echo(line)


def _lines(value: dict, indent: int = 0) -> list[str]:
    """A nested description as indented `key: value` lines; counts get thousands separators, files sizes."""
    lines = []
    pad = "  " * indent
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:")
            if key == "files":
                lines += [f"{pad}  {name}  ({_size(size)})" for name, size in item.items()]
            else:
                lines += _lines(item, indent + 1)
        elif isinstance(item, int) and not isinstance(item, bool):
            lines.append(f"{pad}{key}: {item:,}")
        else:
            lines.append(f"{pad}{key}: {item}")
    return lines


def _size(size: float) -> str:
    units = ("B", "KiB", "MiB", "GiB")
    power = 0
    while size >= 1024 and power < len(units) - 1:
        size /= 1024
        power += 1
    return f"{size:.0f} B" if power == 0 else f"{size:.1f} {units[power]}"
