"""The catalog overview as one standalone HTML page: plots embedded as data URIs, no script, nothing fetched."""

from __future__ import annotations

import base64
import datetime as dt
from html import escape

from musiscene_core.report import plots
from musiscene_core.report.overview import CatalogOverview

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 1rem; min-width: 9rem; }
.card b { display: block; font-size: 1.4rem; }
.row { display: flex; gap: 1.5rem; flex-wrap: wrap; align-items: flex-start; }
img { max-width: 100%; } .note { color: #777; }
"""


def _img(figure, alt: str) -> str:
    data = base64.b64encode(plots.png(figure)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def _table(header: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if i in numeric else ''}>{escape(_text(v))}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def render(overview: CatalogOverview) -> str:
    """The whole page as a string."""
    o = overview
    cards = "".join(
        f'<div class="card">{escape(label)}<b>{escape(value)}</b></div>'
        for label, value in (
            ("tracks", f"{o.tracks:,}"),
            ("ok", f"{o.ok:,}"),
            ("failed", f"{o.failed:,}"),
            ("audio hours", f"{o.audio_hours:,.2f}"),
            ("runs", f"{len(o.runs):,}"),
        )
    )
    parts = [
        f"<h1>Catalog overview: {escape(o.dst)}</h1>",
        f'<p class="note">generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by musiscene report</p>',
        f'<div class="cards">{cards}</div>',
        "<h2>Model versions</h2>",
        _table(["model version", "tracks"], [[v, n] for v, n in o.model_versions.items()] or [["(no ok track)", 0]], {1}),
        "<h2>Runs</h2>",
        _table(
            [
                "run",
                "model",
                "processed",
                "ok",
                "failed",
                "skipped",
                "audio hours",
                "seconds",
                "tracks / hour",
                "audio hours / hour",
            ],
            [
                [
                    r["run_id"],
                    r["model"],
                    r["processed"],
                    r["ok"],
                    r["failed"],
                    r["skipped"],
                    r["audio_hours"],
                    r["seconds"],
                    r["tracks_per_hour"],
                    r["realtime_factor"],
                ]
                for r in o.runs
            ]
            or [["(no run record)"] + [None] * 9],
            set(range(2, 10)),
        ),
        "<h2>Embedding map</h2>",
    ]
    if o.embedding_map is not None:
        m = o.embedding_map
        parts.append(
            f"<p>{len(m.uris)} tracks with captions and features, {len(m.cluster_words)} clusters of caption "
            "embeddings (k-means), each labelled with the words its captions use more than the rest.</p>"
        )
        parts.append(_img(plots.embedding_map(m), "embedding map"))
        parts.append(
            _table(
                ["cluster", "tracks", "typical words", "most central caption"],
                [
                    [i + 1, int((m.clusters == i).sum()), ", ".join(words), m.cluster_examples[i]]
                    for i, words in enumerate(m.cluster_words)
                ],
                {1},
            )
        )
    parts += [f'<p class="note">{escape(note)}</p>' for note in o.notes]
    parts += [
        "<h2>Scene words, durations and errors</h2>",
        '<div class="row">',
        _img(plots.scene_words(o), "most common scene words"),
        _img(plots.durations(o), "durations"),
        _img(plots.error_kinds(o), "error kinds"),
        "</div>",
        _table(["error kind", "tracks"], [[k, n] for k, n in o.error_kinds.items()] or [["(none)", 0]], {1}),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>MusiScene catalog overview: {escape(o.dst)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )
