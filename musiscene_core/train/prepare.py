"""Preparation of a training run, done once by the driver: rows + cached MERT features -> per-split files.

Features are looked up by track id in the features stores given (a tagging run's output folder, read
through the output tables' reading rule) and in the training output folder itself, and only features
made under the run's window policy are used; rows that name an audio `uri` whose features are nowhere are
decoded and run through MERT once, by the tagging job's stage graph (up to MERT) on the sequential
runner, and the
result is appended to OUT/features in the tagging `features` format, so a rerun finds them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from musiscene_core import tables
from musiscene_core.catalog.reading import open_track
from musiscene_core.catalog.storage import open_location
from musiscene_core.data.scene_dataset import is_scene_dataset
from musiscene_core.errors import UserError
from musiscene_core.train.dataset import SPLITS, ExampleSet, feature_rows, read_rows, write_prepared


@dataclass
class PreparedData:
    counts: dict[str, int]  # examples per split
    extracted: int = 0  # tracks run through MERT by this preparation
    reused: int = 0  # tracks whose features were already cached
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> examples dropped


def read_store_features(
    store_uri: str, endpoint_url: str | None, layers: int, hidden: int, policy: dict
) -> dict[str, np.ndarray]:
    """track_id -> MERT layer means made under the window `policy` (a `policy_record`), from a features store.

    A tagging output (it has a tracks table) is read through the output tables' rule: the current
    rows only, which must all have been made under `policy`, else training is refused rather than
    fed a mix of views of the music. A features cache without tracks (a training output folder)
    contributes its rows made under `policy` and ignores the others."""
    from musiscene_core.tagging.current import current_ok_tracks, current_rows
    from musiscene_core.tagging.store import OutputStore

    store = OutputStore.open(store_uri, endpoint_url)
    table = store.read_table(tables.FEATURES)
    if table is None or len(table) == 0:
        return {}
    table = _with_policy_columns(table)
    wanted = (policy["window_policy"], policy["window_s"], policy["hop_s"])
    tracks = store.read_table(tables.TRACKS)
    if tracks is not None:
        table = current_rows(table, current_ok_tracks(tracks))
        found = sorted(set(_policies(table)), key=str)
        if found and found != [wanted]:
            raise UserError(
                f"features in {store.uri} were made with window policy {', '.join(_describe_policy(p) for p in found)}, "
                f"but training was told {_describe_policy(wanted)}; pass the policy they were tagged with "
                "(--policy, --window-s, --hop-s) or drop --features to compute features of the told policy"
            )
    else:
        table = table.take(pa.array([i for i, p in enumerate(_policies(table)) if p == wanted], type=pa.int64()))
    return feature_rows(table, layers, hidden, store.uri)


def _with_policy_columns(table: pa.Table) -> pa.Table:
    """Features written before they recorded their window policy get nulls: they match no policy."""
    for name, kind in (("window_policy", pa.string()), ("window_s", pa.float64()), ("hop_s", pa.float64())):
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(len(table), kind))
    return table


def _policies(table: pa.Table) -> list[tuple]:
    return list(zip(*(table.column(name).to_pylist() for name in ("window_policy", "window_s", "hop_s"))))


def _describe_policy(policy: tuple) -> str:
    name, window_s, hop_s = policy
    if name is None:
        return "unknown (written before features recorded it; re-tag with --force)"
    return f"'{name}' (window {window_s:g} s, hop {hop_s:g} s)"


def _track_ids(uris: list[str], endpoint_url: str | None) -> dict[str, str | None]:
    """uri -> content hash (the track id the tagging job gives the file); None when it can't be read."""
    found: dict[str, str | None] = {}
    for uri in uris:
        try:
            location = open_location(uri, endpoint_url)
            with open_track(location, location.root) as opened:
                found[uri] = opened.track_id
        except (FileNotFoundError, OSError):
            found[uri] = None
    return found


def extract_features(
    uris: list[str],
    model,
    out_uri: str,
    endpoint_url: str | None = None,
    batch_size: int = 8,
    on_progress=None,
    policy: str = "whole",
    window_s: float = 30.0,
    hop_s: float = 30.0,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Decode (under the window policy given) and run MERT on `uris` once; append their features to OUT/features.

    Returns (track_id -> layer means, uri -> error reason for files that could not be used)."""
    from musiscene_core.pipelines.sequential import SequentialRunner
    from musiscene_core.tagging.config import TagConfig
    from musiscene_core.tagging.graph import MERT, build_stages
    from musiscene_core.tagging.stages import OK, audio_embedding, policy_record
    from musiscene_core.tagging.store import OutputStore

    store = OutputStore.open(out_uri, endpoint_url)
    # The tagging defaults (minimum length, long-track streaming), so these features equal the ones `tag` stores.
    graph = TagConfig(
        src="", dst=out_uri, endpoint_url=endpoint_url, model_batch_size=batch_size, policy=policy, window_s=window_s, hop_s=hop_s
    )
    runner = SequentialRunner(build_stages(graph, model, None, device=None, last=MERT))
    record = policy_record(policy, window_s, hop_s)
    version = f"mert:{runner.built[MERT].encoder.model_version}"
    features: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    done = 0
    for batch in runner.batches(({"uri": uri, "fingerprint": ""} for uri in uris), batch_rows=batch_size):
        ok = [i for i, status in enumerate(batch["status"]) if status == OK]
        for i, status in enumerate(batch["status"]):
            if status != OK:
                errors[str(batch["uri"][i])] = str(batch["error"][i])
        if ok:
            means = np.asarray(batch["mert_layer_means"])[ok]
            ids = [str(batch["track_id"][i]) for i in ok]
            shard_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
            store.write_table(
                tables.FEATURES, shard_id, tables.features_table(ids, means, audio_embedding(means), version, record)
            )
            features.update(zip(ids, means.astype(np.float16)))
        done += len(batch["uri"])
        if on_progress:
            on_progress(done, len(uris))
    return features, errors


def prepare(config, model, layers: int, hidden: int, on_progress=None) -> PreparedData:
    """Resolve every row's features (extracting what is missing) and write OUT/dataset/<split>.parquet.

    `model` is the base ModelSpec (its MERT extracts missing features; its question fills empty ones);
    `layers`/`hidden` are the MERT shape the captioner's adapter expects."""
    rows = read_rows(config.data, config.endpoint_url)
    from musiscene_core.tagging.stages import policy_record

    policy = policy_record(config.policy, config.window_s, config.hop_s)
    features: dict[str, np.ndarray] = {}
    # A build-dataset output carries its clips' features beside its rows.
    own = [config.data] if is_scene_dataset(config.data, config.endpoint_url) else []
    for source in ([config.features] if config.features else []) + own + [config.out]:
        found = read_store_features(source, config.endpoint_url, layers, hidden, policy)
        features.update({k: v for k, v in found.items() if k not in features})

    track_ids = rows.column("track_id").to_pylist()
    uris = rows.column("uri").to_pylist()
    need_hash = sorted({u for t, u in zip(track_ids, uris) if t is None and u is not None})
    hashed = _track_ids(need_hash, config.endpoint_url)
    resolved = [t if t is not None else hashed.get(u) for t, u in zip(track_ids, uris)]
    missing_uris = sorted(
        {
            u
            for t, u in zip(resolved, uris)
            if u is not None and (t is None or t not in features) and not (t is None and hashed.get(u) is None)
        }
    )
    result = PreparedData(counts={})
    result.reused = len({t for t in resolved if t is not None and t in features})
    errors: dict[str, str] = {}
    if missing_uris:
        if on_progress:
            on_progress(0, len(missing_uris))
        extracted, errors = extract_features(
            missing_uris,
            model,
            config.out,
            config.endpoint_url,
            on_progress=on_progress,
            policy=config.policy,
            window_s=config.window_s,
            hop_s=config.hop_s,
        )
        features.update(extracted)
        result.extracted = len(extracted)

    dropped: dict[str, int] = {}
    questions = rows.column("question").to_pylist()
    answers = rows.column("answer").to_pylist()
    split_of = rows.column("split").to_pylist()
    by_split: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, (track, uri) in enumerate(zip(resolved, uris)):
        if track is None and uri is not None and hashed.get(uri) is None:
            dropped["unreadable audio file"] = dropped.get("unreadable audio file", 0) + 1
        elif uri is not None and uri in errors:
            reason = errors[uri].split(":", 1)[0]
            dropped[f"audio failed ({reason})"] = dropped.get(f"audio failed ({reason})", 0) + 1
        elif track not in features:
            dropped["track_id without cached features"] = dropped.get("track_id without cached features", 0) + 1
        else:
            by_split[split_of[i]].append(i)
    result.dropped = dropped
    if not by_split["train"]:
        detail = f" ({', '.join(f'{n} {why}' for why, n in dropped.items())})" if dropped else ""
        raise UserError(f"the dataset has no usable training examples{detail}")
    for split, indices in by_split.items():
        examples = ExampleSet(
            [resolved[i] for i in indices],
            [questions[i] if questions[i] else model.question for i in indices],
            [answers[i] for i in indices],
            np.stack([features[resolved[i]] for i in indices]) if indices else np.zeros((0, layers, hidden), np.float16),
        )
        write_prepared(config.out, split, examples, config.endpoint_url)
        result.counts[split] = len(indices)
    return result


RUN_RECORD = "train_run.json"


def claim_output(config) -> None:
    """Record this run's settings in OUT, or check that a run already there may be resumed with them.

    Rerunning the same command resumes; a different command on the same OUT and run name would mix two
    runs' checkpoints, so it is refused."""
    import json
    import posixpath

    location = open_location(config.out, config.endpoint_url)
    path = posixpath.join(location.root, RUN_RECORD)
    record = {"name": config.name, "storage": config.storage_path(), "resume_key": config.resume_key()}
    if location.fs.exists(path):
        previous = json.loads(location.fs.cat_file(path))
        if (previous.get("name"), previous.get("storage")) == (record["name"], record["storage"]) and previous.get(
            "resume_key"
        ) != record["resume_key"]:
            raise UserError(
                f"{config.out} holds run {config.name!r} trained with other settings; rerun it with the same "
                "options to resume, or pass another --out or --name"
            )
    location.fs.makedirs(location.root, exist_ok=True)
    location.fs.pipe_file(path, json.dumps(record, indent=2).encode())
