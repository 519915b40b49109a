"""Reading caption files for evaluation: JSON Lines, JSON arrays, CSV, Parquet, or a tagging run's output folder.

A file is a table with a key column and a text column. Keys, in order of preference: `id`, `track_id`,
`uri`, `name` (also `audio_name`, or the file name of a `uri`/`path` value). Texts: predictions take `caption`,
`prediction`, `text` or `answer`; references take `reference`, `caption`, `text` or `answer`.
Predictions and references pair up by the first key both tables have; with no shared key, by row order.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from musiscene_core.errors import UserError

KEYS = ("id", "track_id", "uri", "name")
PREDICTION_TEXTS = ("caption", "prediction", "text", "answer")
REFERENCE_TEXTS = ("reference", "caption", "text", "answer")


@dataclass
class CaptionSet:
    label: str
    table: pd.DataFrame  # key columns that exist + "text"


def read_captions(source: str, texts: tuple[str, ...]) -> CaptionSet:
    path = Path(source)
    if path.is_dir() and (path / "captions").is_dir():
        return CaptionSet(path.name, _tagging_run(source))
    if not path.is_file():
        raise UserError(f"{source!r} is neither a caption file nor a tagging output folder")
    frame = _read_table(path)
    text = next((c for c in texts if c in frame.columns), None)
    if text is None:
        raise UserError(
            f"{source} has no text column (one of {', '.join(texts)}); its columns are {', '.join(map(str, frame.columns))}"
        )
    table = _keys(frame)
    table["text"] = frame[text].fillna("").astype(str)
    return CaptionSet(path.stem, table)


def pair_up(predictions: CaptionSet, references: CaptionSet) -> tuple[list[str], list[str]]:
    """(prediction texts, reference texts) in pair order; every prediction needs a reference."""
    pred, ref = predictions.table, references.table
    key = next((k for k in KEYS if k in pred.columns and k in ref.columns), None)
    if key is None:
        if len(pred) != len(ref):
            raise UserError(
                f"{predictions.label} and {references.label} share no key column ({', '.join(KEYS)}) "
                f"and have different lengths ({len(pred)} vs {len(ref)}), so they cannot be paired"
            )
        return pred["text"].tolist(), ref["text"].tolist()
    duplicated = ref[key][ref[key].duplicated()]
    if len(duplicated):
        raise UserError(
            f"{references.label} has {len(duplicated)} repeated {key} values (e.g. {duplicated.iloc[0]!r}); give one reference per {key}"
        )
    lookup = dict(zip(ref[key], ref["text"]))
    missing = [k for k in pred[key] if k not in lookup]
    if missing:
        raise UserError(
            f"{len(missing)} predictions of {predictions.label} have no reference with the same {key} (e.g. {missing[0]!r})"
        )
    return pred["text"].tolist(), [lookup[k] for k in pred[key]]


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path, keep_default_na=False)
        if suffix in (".jsonl", ".ndjson"):
            return pd.DataFrame([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()])
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):  # {key: text}
                return pd.DataFrame({"id": list(data), "text": list(data.values())})
            return pd.DataFrame(data)
    except (ValueError, OSError) as exc:
        raise UserError(f"{path} could not be read as {suffix[1:]} ({str(exc).splitlines()[0]})") from None
    raise UserError(f"{path}: unsupported caption file type {suffix!r}; use .jsonl, .json, .csv or .parquet")


def _keys(frame: pd.DataFrame) -> pd.DataFrame:
    table = pd.DataFrame(index=frame.index)
    for key in ("id", "track_id", "uri"):
        if key in frame.columns:
            table[key] = frame[key].astype(str)
    for name in ("name", "audio_name"):
        if name in frame.columns:
            table["name"] = frame[name].astype(str).map(posixpath.basename)
            break
    else:
        for column in ("uri", "path"):
            if column in frame.columns:
                table["name"] = frame[column].astype(str).map(posixpath.basename)
                break
    return table.reset_index(drop=True)


def _tagging_run(folder: str) -> pd.DataFrame:
    """The current caption of every ok track of a tagging run (its newest row and that row's model version)."""
    from musiscene_core.tables import CAPTIONS
    from musiscene_core.tagging.store import OutputStore

    store = OutputStore.open(folder)
    tracks = store.require_tracks().to_pandas()
    tracks = tracks[tracks["status"] == "ok"][["track_id", "uri", "model_version"]]
    captions = store.read_table(CAPTIONS, columns=["track_id", "caption", "model_version"])
    if captions is None:
        raise UserError(f"{folder} has no captions table")
    merged = tracks.merge(
        captions.to_pandas().drop_duplicates(["track_id", "model_version"], keep="last"),
        on=["track_id", "model_version"],
        how="inner",
    )
    return _keys(merged).assign(text=merged["caption"].fillna("").astype(str).values)
