"""`musiscene evaluate listening-kit` / `listening-results`: a static, anonymised, shuffled kit and its ratings."""

import csv
import json
import re
import shutil
import subprocess

import pytest
from cli_runner import main_exit as cli


@pytest.fixture
def systems(tmp_path):
    folders = []
    for system in ("original", "musiscene", "mullama"):
        folder = tmp_path / "systems" / system
        folder.mkdir(parents=True)
        for clip in ("beach", "city", "forest", "party"):
            (folder / f"{clip}.mp4").write_bytes(f"{system}:{clip}".encode())
        folders.append(folder)
    (folders[0] / "extra.mp4").write_bytes(b"only in one folder")
    return folders


def _kit_data(page: str) -> dict:
    return json.loads(re.search(r'<script id="kit-data" type="application/json">(.*?)</script>', page, re.S).group(1))


def test_kit_is_static_anonymous_and_shuffled(capsys, systems, tmp_path):
    kit = tmp_path / "kit"
    code, out, err = cli(capsys, "evaluate", "listening-kit", *systems, "--out", kit, "--seed", "3")
    assert code == 0, err
    assert "extra" in err  # left out, said so
    page = (kit / "index.html").read_text()
    assert not re.search(r"(src|href)=\"https?://", page) and "http" not in (kit / "kit.js").read_text()
    data = _kit_data(page)
    assert len(data["trials"]) == 4 and all(len(t["versions"]) == 3 for t in data["trials"])
    key = list(csv.DictReader((tmp_path / "kit-key.csv").open()))
    assert not (kit / "kit-key.csv").exists() and len(key) == 12
    by_version = {row["version"]: row for row in key}
    for trial in data["trials"]:
        for version in trial["versions"]:
            media = kit / version["src"]
            row = by_version[version["id"]]
            # The file is the right system's version, under a name that says nothing about it.
            assert media.read_bytes() == f"{row['system']}:{row['clip']}".encode()
            assert row["system"] not in version["src"] and row["clip"] not in version["src"] and version["kind"] == "video"
        assert [v["label"] for v in trial["versions"]] == ["A", "B", "C"]
    orders = {tuple(by_version[v["id"]]["system"] for v in t["versions"]) for t in data["trials"]}
    assert len(orders) > 1  # not the same system order for every clip
    assert [t["id"] for t in data["trials"]] != sorted(t["id"] for t in data["trials"])


def test_ratings_csv_from_the_page_script_and_results(capsys, systems, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the page script's CSV writer is checked with node")
    kit = tmp_path / "kit"
    assert cli(capsys, "evaluate", "listening-kit", *systems, "--out", kit, "--seed", "1")[0] == 0
    data = _kit_data((kit / "index.html").read_text())
    key = {row["version"]: row["system"] for row in csv.DictReader((tmp_path / "kit-key.csv").open())}
    wanted = {"original": 5, "musiscene": 4, "mullama": 2}
    ratings = {f"{t['id']}/{v['id']}": wanted[key[v["id"]]] for t in data["trials"] for v in t["versions"]}
    script = (
        f"const {{ ratingsCsv }} = require({json.dumps(str(kit / 'kit.js'))});"
        f"process.stdout.write(ratingsCsv({json.dumps(data)}, 'rater, \"one\"', {json.dumps(ratings)}));"
    )
    csv_text = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True, timeout=60).stdout
    rows = list(csv.DictReader(csv_text.splitlines()))
    assert len(rows) == 12 and rows[0]["rater"] == 'rater, "one"' and rows[0]["scale_max"] == "5"
    ratings_file = tmp_path / "ratings.csv"
    ratings_file.write_text(csv_text)
    code, out, err = cli(capsys, "evaluate", "listening-results", tmp_path / "kit-key.csv", ratings_file, "--format", "json")
    assert code == 0, err
    assert {r["system"]: r["mean_rating"] for r in json.loads(out)} == wanted


def test_bad_kits_are_one_sentence(capsys, systems, tmp_path):
    for args, message in [
        ([systems[0]], "at least two"),
        ([systems[0], tmp_path / "none"], "not a folder"),
        ([*systems, "--key", tmp_path / "kit" / "key.csv"], "outside the kit"),
    ]:
        code, _, err = cli(capsys, "evaluate", "listening-kit", *args, "--out", tmp_path / "kit")
        assert code == 2 and err.startswith("error: ") and message in err, err
        shutil.rmtree(tmp_path / "kit", ignore_errors=True)
