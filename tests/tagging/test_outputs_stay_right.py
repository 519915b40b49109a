"""Outputs that stay right across reruns: a model upgrade, changed and deleted files, transient errors.

Every step goes through the `musiscene` command line (in this process, so one local Ray serves the
whole module). A storage failure is injected into Ray's workers by a `sitecustomize` that makes
`open()` refuse the paths listed in a file: CI runs as root, where chmod 000 stops nothing.
"""

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from musiscene_core.audio import write_audio
from musiscene_core.cli import main
from musiscene_core.data.synthetic import generate_piece
from musiscene_core.tagging.stages import policy_record
from musiscene_core.train.prepare import read_store_features

pytestmark = pytest.mark.integration

RATE = 24000
FAST = ("--batch-size", "2", "--max-new-tokens", "6")

_REFUSE_OPEN = """
import builtins, os

_listed = os.environ.get("MUSISCENE_TEST_UNREADABLE")
if _listed:
    _open = builtins.open

    def _open_unless_listed(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) != _listed:
            with _open(_listed) as handle:
                if os.fspath(file) in handle.read().splitlines():
                    raise PermissionError(13, "Permission denied", os.fspath(file))
        return _open(file, *args, **kwargs)

    builtins.open = _open_unless_listed
"""


@pytest.fixture(scope="module")
def refused_paths(tmp_path_factory):
    """Start local Ray whose workers refuse to open the paths written to the returned file."""
    import ray

    inject = tmp_path_factory.mktemp("inject")
    (inject / "sitecustomize.py").write_text(_REFUSE_OPEN)
    listed = inject / "unreadable.txt"
    listed.write_text("")
    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", "MUSISCENE_TEST_UNREADABLE")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(inject), *filter(None, [saved["PYTHONPATH"]])])
    os.environ["MUSISCENE_TEST_UNREADABLE"] = str(listed)
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield listed
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def musiscene(capsys, *args) -> dict | str:
    """Run one command; its stdout, parsed when it is JSON."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err[-3000:]
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in args else out


def piece(path, scene, seed, seconds=2.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_audio(path, generate_piece(scene, seed=seed, duration_s=seconds, sample_rate=RATE), RATE, path.suffix[1:])


def table(dst, name):
    return pq.read_table(dst / name).to_pandas()


def test_after_a_model_upgrade_every_reader_serves_only_the_new_model(tmp_path, capsys, refused_paths):
    models = {}
    for name, seed in (("A", 1), ("B", 2)):
        models[name] = tmp_path / name
        musiscene(capsys, "models", "make-tiny", models[name], "--seed", seed)
    catalog, dst = tmp_path / "catalog", tmp_path / "out"
    kept, changed, deleted = (
        piece(catalog / "kept.wav", "calm_sea", 1),
        piece(catalog / "changed.flac", "neon_chase", 2),
        piece(catalog / "deleted.wav", "sunny_picnic", 3),
    )
    piece(catalog / "other.wav", "snowy_morning", 4)
    first = musiscene(capsys, "tag", catalog, "--out", dst, "--model", models["A"], "--json", *FAST)
    assert first["ok"] == 4
    version_a = first["model_version"]

    piece(changed, "neon_chase", 20)  # new bytes under the same URI
    deleted.unlink()
    second = musiscene(capsys, "tag", catalog, "--out", dst, "--model", models["B"], "--json", *FAST)
    version_b = second["model_version"]
    assert version_b != version_a and second["processed"] == 3 and second["deleted"] == 1
    assert second["index"]["rows"] == 3

    tracks, captions = table(dst, "tracks"), table(dst, "captions")
    current = tracks.sort_values("tagged_at").drop_duplicates("uri", keep="last").set_index("uri")
    assert current.loc[str(deleted), "status"] == "deleted"
    served = current[current.status == "ok"]
    assert set(served.index) == {str(kept), str(changed), str(catalog / "other.wav")}
    assert set(served.model_version) == {version_b}
    caption_of = {(row.track_id, row.model_version): row.caption for row in captions.itertuples()}
    b_captions = {served.loc[uri, "track_id"]: caption_of[(served.loc[uri, "track_id"], version_b)] for uri in served.index}
    old_changed_id = tracks[(tracks.uri == str(changed)) & (tracks.model_version == version_a)].track_id.iloc[0]
    assert old_changed_id != served.loc[str(changed), "track_id"]
    assert caption_of[(served.loc[str(kept), "track_id"], version_a)] != b_captions[served.loc[str(kept), "track_id"]]

    def check_hits(hits):
        assert all(hit["model_version"] == version_b for hit in hits)
        assert {hit["track_id"]: hit["caption"] for hit in hits} == {hit["track_id"]: b_captions[hit["track_id"]] for hit in hits}
        assert [hit["uri"] for hit in hits].count(str(changed)) <= 1 and str(deleted) not in [hit["uri"] for hit in hits]

    found = musiscene(capsys, "search", "a calm night by the sea", "--index", dst, "-k", "10", "--json")["hits"]
    check_hits(found)
    assert sorted(hit["uri"] for hit in found) == sorted(served.index)  # every current track once, nothing else
    similar = musiscene(capsys, "similar", kept, "--index", dst, "-k", "10", "--json")["hits"]
    check_hits(similar)
    assert len(similar) == 2

    manifest = json.loads((dst / "index" / "index.json").read_text())
    assert manifest["model_versions"] == [version_b] and manifest["rows"] == 3
    rebuilt = musiscene(capsys, "index", "build", dst, "--rebuild", "--json")
    assert rebuilt["model_versions"] == [version_b] and rebuilt["rows"] == 3
    assert musiscene(capsys, "search", "a calm night by the sea", "--index", dst, "-k", "10", "--json")["hits"] == found

    # The training data reader takes the same current rows: B's features of the three tracks.
    features = table(dst, "features")
    layers, hidden = int(features.mert_layers.iloc[0]), int(features.mert_hidden.iloc[0])
    training = read_store_features(str(dst), None, layers, hidden, policy_record("whole", 30.0, 30.0))
    assert set(training) == set(b_captions)
    for track_id, means in training.items():
        rows = features[features.track_id == track_id].set_index("model_version")
        expected = np.asarray(rows.loc[version_b, "mert_layer_means"], dtype=np.float16).reshape(layers, hidden)
        np.testing.assert_array_equal(means, expected)
        if version_a in rows.index:
            assert not np.array_equal(
                means, np.asarray(rows.loc[version_a, "mert_layer_means"], np.float16).reshape(layers, hidden)
            )


def test_a_transient_error_is_retried_by_a_plain_rerun_and_a_broken_file_is_not(tmp_path, capsys, tiny_model, refused_paths):
    catalog, dst = tmp_path / "catalog", tmp_path / "out"
    piece(catalog / "fine.wav", "calm_sea", 1)
    blip = piece(catalog / "blip.wav", "neon_chase", 2)
    broken = catalog / "broken.flac"  # a FLAC header with no frames behind it: decode_failed
    header = piece(tmp_path / "source.flac", "sunny_picnic", 3).read_bytes()[:42]
    broken.write_bytes(header[:4] + bytes([header[4] | 0x80]) + header[5:] + bytes(20_000))
    tag = ("tag", catalog, "--out", dst, "--model", tiny_model, "--json", *FAST)

    refused_paths.write_text(f"{blip}\n")
    first = musiscene(capsys, *tag)
    assert first["ok"] == 1 and first["errors"] == {"decode_failed": 1, "unreadable": 1}

    refused_paths.write_text("")  # readable again, unchanged bytes and mtime
    second = musiscene(capsys, *tag)
    assert second["processed"] == 1 and second["retried"] == 1 and second["ok"] == 1 and second["skipped"] == 2
    tracks = table(dst, "tracks")
    current = tracks.sort_values("tagged_at").drop_duplicates("uri", keep="last").set_index("uri")
    assert current.loc[str(blip), "status"] == "ok" and current.loc[str(broken), "error_kind"] == "decode_failed"
    assert (tracks.uri == str(broken)).sum() == 1  # not retried
    hits = musiscene(capsys, "search", "a chase", "--index", dst, "-k", "10", "--json")["hits"]
    assert sorted(hit["uri"] for hit in hits) == sorted([str(blip), str(catalog / "fine.wav")])

    forced = musiscene(capsys, *tag, "--retry-errors")
    assert forced["processed"] == 1 and forced["retried"] == 1 and forced["errors"] == {"decode_failed": 1}
