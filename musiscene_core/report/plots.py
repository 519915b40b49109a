"""Figures of the catalog overview: each function returns a matplotlib Figure, `png` turns one into bytes.

Figures are made without pyplot, so no GUI backend is ever touched (the CLI runs headless) and a
notebook still shows a returned figure inline.
"""

from __future__ import annotations

import io

from matplotlib import colormaps
from matplotlib.figure import Figure

from musiscene_core.report.overview import CatalogOverview, EmbeddingMap


def png(figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def embedding_map(mapping: EmbeddingMap):
    """Caption and audio embeddings side by side (PCA), coloured by caption cluster, clusters labelled by their words."""
    figure = Figure(figsize=(12, 5.2))
    axes = figure.subplots(1, 2)
    colours = colormaps["tab10"]
    for ax, xy, title in ((axes[0], mapping.caption_xy, "caption embeddings"), (axes[1], mapping.audio_xy, "audio embeddings")):
        for cluster, words in enumerate(mapping.cluster_words):
            members = mapping.clusters == cluster
            label = f"{cluster + 1}: {', '.join(words) or '-'} ({int(members.sum())})"
            ax.scatter(xy[members, 0], xy[members, 1], s=36, color=colours(cluster % 10), label=label, alpha=0.85)
            if members.any() and words:
                centre = xy[members].mean(axis=0)
                ax.annotate(
                    words[0],
                    centre,
                    fontsize=9,
                    weight="bold",
                    ha="center",
                    va="center",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7, "lw": 0},
                )
        ax.set_title(f"{title} (PCA), coloured by caption cluster")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(loc="upper center", bbox_to_anchor=(1.05, -0.04), ncol=3, fontsize=8, frameon=False)
    return figure


def durations(overview: CatalogOverview):
    figure = Figure(figsize=(6, 3.4))
    ax = figure.subplots()
    if len(overview.durations_s):
        ax.hist(overview.durations_s, bins=min(30, max(5, len(overview.durations_s) // 3)), color="#4c72b0")
    ax.set_xlabel("duration (s)")
    ax.set_ylabel("tracks")
    ax.set_title(f"durations of {overview.ok} ok tracks")
    return figure


def error_kinds(overview: CatalogOverview):
    kinds = overview.error_kinds or {"(none)": 0}
    figure = Figure(figsize=(6, 0.6 + 0.45 * len(kinds)))
    ax = figure.subplots()
    names = list(kinds)[::-1]
    ax.barh(names, [kinds[k] for k in names], color="#c44e52")
    ax.set_xlabel("tracks")
    ax.set_title(f"error kinds ({overview.failed} failed of {overview.tracks})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return figure


def scene_words(overview: CatalogOverview):
    words = overview.scene_words or [("(no captions)", 0)]
    figure = Figure(figsize=(6, 0.6 + 0.32 * len(words)))
    ax = figure.subplots()
    names = [w for w, _ in words][::-1]
    ax.barh(names, [c for _, c in words][::-1], color="#55a868")
    ax.set_xlabel("captions using the word")
    ax.set_title("most common scene words")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return figure
