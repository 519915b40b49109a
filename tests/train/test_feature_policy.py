"""Training sees the music the way tagging does: features carry their window policy, and a mix is refused."""

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from musiscene_core import tables
from musiscene_core.audio import write_audio
from musiscene_core.data.synthetic import generate_piece
from musiscene_core.errors import UserError
from musiscene_core.models.presets import resolve_model
from musiscene_core.tagging.stages import policy_record
from musiscene_core.tagging.store import OutputStore
from musiscene_core.train.prepare import extract_features, read_store_features

LAYERS, HIDDEN = 2, 3
WHOLE = policy_record("whole", 30.0, 30.0)
PARITY = policy_record("mu-llama", 30.0, 30.0)


def _features(ids, value, record, version="v1"):
    n = len(ids)
    means = np.full((n, LAYERS * HIDDEN), value, dtype=np.float16)
    return pa.Table.from_arrays(
        [
            pa.array(ids, pa.string()),
            pa.FixedSizeListArray.from_arrays(pa.array(means.reshape(-1)), LAYERS * HIDDEN),
            pa.array([LAYERS] * n, pa.int32()),
            pa.array([HIDDEN] * n, pa.int32()),
            pa.FixedSizeListArray.from_arrays(pa.array(np.ones(n * HIDDEN, np.float32)), HIDDEN),
            pa.array([version] * n, pa.string()),
            *tables.policy_columns(record, n),
        ],
        schema=tables.features_schema(LAYERS, HIDDEN, HIDDEN),
    )


def _tracks(ids, version="v1"):
    now = dt.datetime.now(dt.timezone.utc)
    rows = [
        {
            **{k: None for k in tables.tracks_schema().names},
            "track_id": t,
            "uri": f"/c/{t}",
            "status": "ok",
            "model_version": version,
            "tagged_at": now,
        }
        for t in ids
    ]
    return pa.Table.from_pylist(rows, schema=tables.tracks_schema())


def test_a_tagging_output_must_match_the_policy_training_is_told(tmp_path):
    store = OutputStore.open(str(tmp_path))
    store.write_table(tables.FEATURES, "1", _features(["a"], 1.0, WHOLE))
    store.write_table(tables.TRACKS, "1", _tracks(["a"]))
    assert set(read_store_features(str(tmp_path), None, LAYERS, HIDDEN, WHOLE)) == {"a"}
    with pytest.raises(UserError, match="made with window policy 'whole' .* told 'mu-llama'"):
        read_store_features(str(tmp_path), None, LAYERS, HIDDEN, PARITY)
    store.write_table(tables.FEATURES, "2", _features(["b"], 2.0, PARITY))
    store.write_table(tables.TRACKS, "2", _tracks(["b"]))
    with pytest.raises(UserError, match="'mu-llama' .*, 'whole'"):  # a mix is refused whatever the told policy
        read_store_features(str(tmp_path), None, LAYERS, HIDDEN, WHOLE)


def test_a_features_cache_serves_only_rows_of_the_told_policy(tmp_path):
    store = OutputStore.open(str(tmp_path))
    store.write_table(tables.FEATURES, "1", _features(["a", "b"], 1.0, WHOLE))
    store.write_table(tables.FEATURES, "2", _features(["a"], 2.0, PARITY))
    parity = read_store_features(str(tmp_path), None, LAYERS, HIDDEN, PARITY)
    assert set(parity) == {"a"} and float(parity["a"][0, 0]) == 2.0
    assert set(read_store_features(str(tmp_path), None, LAYERS, HIDDEN, policy_record("whole", 10.0, 5.0))) == set()


def test_extracted_features_record_the_policy_they_were_made_with(tmp_path, tiny_model):
    audio = tmp_path / "piece.wav"
    write_audio(audio, generate_piece("calm_sea", seed=1, duration_s=3.0, sample_rate=24000), 24000, "wav")
    spec = resolve_model(str(tiny_model))
    features, errors = extract_features([str(audio)], spec, str(tmp_path / "out"), policy="mu-llama")
    assert len(features) == 1 and not errors
    written = OutputStore.open(str(tmp_path / "out")).read_table(tables.FEATURES).to_pylist()[0]
    assert (written["window_policy"], written["window_s"], written["hop_s"]) == ("mu-llama", 60.0, 60.0)
