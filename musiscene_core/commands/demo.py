"""`musiscene demo`: the whole product offline on this machine, end to end, in a few minutes."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from musiscene_core.tagging.config import TagConfig

DEMO_QUERIES = ("a chase through neon-lit city streets at night", "a calm night by the sea")
# The tiny-scenes preset trained on the pieces of seed 0: the demo catalog is other pieces, never heard.
DEMO_CATALOG_SEED = 1
MANIFEST = "manifest.csv"
TOP_K = 5


def demo(
    workdir: Path = typer.Option(Path("musiscene-demo"), "--workdir", help="Where the demo catalog and outputs go."),
    catalog: Path = typer.Option(None, "--catalog", help="Tag this folder instead of a generated catalog."),
    model: str = typer.Option(
        "tiny-scenes",
        "--model",
        "-m",
        help="Preset or model directory (tiny-scenes: tiny models trained offline on synthetic scene music).",
    ),
    tracks: int = typer.Option(72, "--tracks", min=1, help="Pieces in the generated catalog (six scene classes in turn)."),
    seconds: float = typer.Option(6.0, "--seconds", min=1.0, help="Length of each generated piece."),
) -> None:
    """Generate a small catalog of scene music, tag it on local Ray, index it and search it by scene."""
    from musiscene_core.commands.tag import print_tag_summary, run_tag

    console = Console()
    started = time.time()
    if catalog is None:
        catalog = workdir / "catalog"
        if not catalog.exists():
            console.print(f"generating {tracks} synthetic pieces in {catalog} ...")
            _generate_catalog(catalog, tracks, seconds)
    out = workdir / "output"
    from musiscene_core.models.presets import resolve_model

    spec = resolve_model(model)  # a preset built on first use is built here, before the tagging run's clock starts
    console.print(f"tagging {catalog} -> {out} with model {model!r} on local Ray ...")
    summary = run_tag(TagConfig(src=str(catalog), dst=str(out), model=model).validate())
    print_tag_summary(console, summary)

    from musiscene_core.commands.search import print_hits
    from musiscene_core.data.synthetic_scenes import classify_caption
    from musiscene_core.index import SceneIndex

    scenes = catalog_scenes(catalog)
    index = SceneIndex.load(str(out))
    for query in DEMO_QUERIES:
        hits = index.search(query, k=TOP_K)
        print_hits(console, f"musiscene search {query!r} --index {out} -k {TOP_K}", hits)
        if scenes:
            wanted = classify_caption(query)
            matching = sum(scenes.get(Path(hit.uri).name) == wanted for hit in hits)
            console.print(
                f"{matching} of the top {len(hits)} are {wanted} pieces "
                f"({sum(s == wanted for s in scenes.values())} in the catalog)"
            )
    console.print(
        f"\ncatalog: {catalog}\noutputs: {out}/tracks, {out}/captions, {out}/features (Parquet)\n"
        f"indexes: {out}/index\nrun records: {out}/runs\ntook {time.time() - started:.0f} s"
    )
    if spec.name == "tiny-scenes":
        console.print(
            "\n[yellow]tiny-scenes is a toy model trained on this machine on synthetic music of six scene classes; "
            "it knows those classes only. For real music download the MusiScene weights (README, 'Real weights') "
            "and run `musiscene demo --model musiscene --catalog DIR`.[/yellow]"
        )
    if summary.get("random_weights"):
        console.print(
            "\n[yellow]These captions come from the tiny preset's random weights, so they are not meaningful. "
            "For real scene captions download the MusiScene weights (README, 'Real weights') and run "
            "`musiscene demo --model musiscene` or `--model DIR`.[/yellow]"
        )


def catalog_scenes(catalog: Path) -> dict[str, str]:
    """File name -> scene class of a generated catalog (from its manifest); empty for other folders."""
    from musiscene_core.data.synthetic import read_catalog_manifest

    manifest = catalog / MANIFEST
    if not manifest.is_file():
        return {}
    table = read_catalog_manifest(manifest)
    if not {"uri", "scene"} <= set(table.column_names):
        return {}
    return {Path(uri).name: scene for uri, scene in zip(table.column("uri").to_pylist(), table.column("scene").to_pylist())}


def _generate_catalog(directory: Path, tracks: int, seconds: float) -> None:
    from musiscene_core.audio import write_audio
    from musiscene_core.data.synthetic import make_catalog

    make_catalog(
        directory,
        n=tracks,
        seed=DEMO_CATALOG_SEED,
        duration_s=seconds,
        formats=("wav", "flac", "mp3", "ogg"),
        writer=write_audio,
        manifest_name=MANIFEST,
    )
    # Two broken files show how failures are reported without stopping the run.
    (directory / "broken").mkdir(parents=True, exist_ok=True)
    (directory / "broken" / "empty.wav").write_bytes(b"")
    (directory / "broken" / "notes renamed.mp3").write_text("these are liner notes, not audio\n")
