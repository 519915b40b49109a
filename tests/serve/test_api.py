import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from index_tables import MODEL_VERSION, random_shard, write_shard
from serve_catalog import SCENES, SECONDS, TOKEN, make_registry, write_catalog

from musiscene_core.index import build_index
from musiscene_core.serve import create_app

HIT_FIELDS = {"rank", "score", "track_id", "uri", "duration_s", "caption", "model_version"}


def test_search_returns_hits_in_the_cli_json_shape(client, served_run):
    _, shard = served_run
    body = client.get("/search", params={"q": "a chase through neon-lit streets", "k": 3}).json()

    assert body["query"] == "a chase through neon-lit streets" and body["k"] == 3 and body["catalog"] == "main"
    assert [hit["rank"] for hit in body["hits"]] == [1, 2, 3]
    best = body["hits"][0]
    assert set(best) == HIT_FIELDS
    assert best["track_id"] == shard.track_ids[0] and best["caption"] == SCENES[0]
    assert best["uri"] == shard.uris[0] and best["duration_s"] == SECONDS[0]
    assert best["model_version"] == MODEL_VERSION
    assert best["score"] > body["hits"][1]["score"] >= body["hits"][2]["score"]


def test_duration_filters_bound_the_hits(client):
    body = client.get("/search", params={"q": "a chase through neon-lit streets", "min_duration": 7, "max_duration": 12}).json()
    assert sorted(hit["duration_s"] for hit in body["hits"]) == [8.0, 10.0, 12.0]


def test_similar_is_more_like_a_track_by_audio_and_excludes_it(client, served_run):
    _, shard = served_run
    body = client.get(f"/similar/{shard.track_ids[2]}", params={"k": 20}).json()

    assert body["track_id"] == shard.track_ids[2] and body["k"] == 20
    assert len(body["hits"]) == len(SCENES) - 1
    assert shard.track_ids[2] not in [hit["track_id"] for hit in body["hits"]]
    audio = np.asarray(shard.audio_vectors)
    expected = np.argsort(-(audio @ audio[2]))[1:]
    assert [hit["track_id"] for hit in body["hits"]] == [shard.track_ids[i] for i in expected]


def test_track_row_and_caption(client, served_run):
    _, shard = served_run
    body = client.get(f"/tracks/{shard.track_ids[4]}").json()
    assert body == {
        "track_id": shard.track_ids[4],
        "catalog": "main",
        "uri": shard.uris[4],
        "duration_s": SECONDS[4],
        "caption": SCENES[4],
        "model_version": MODEL_VERSION,
        "audio_url": f"tracks/{shard.track_ids[4]}/audio?catalog=main",
    }


@pytest.mark.parametrize("path", ["/tracks/{}", "/tracks/{}/audio", "/similar/{}"])
def test_unknown_track_ids_are_404(client, path):
    response = client.get(path.format(hashlib.sha256(b"never tagged").hexdigest()))
    assert response.status_code == 404
    assert response.json() == {"error": "no track with this id is in the catalog's index."}


def test_audio_streams_the_whole_file_with_range_support(client, served_run):
    _, shard = served_run
    data = Path(shard.uris[1]).read_bytes()
    response = client.get(f"/tracks/{shard.track_ids[1]}/audio")

    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["accept-ranges"] == "bytes"
    assert int(response.headers["content-length"]) == len(data)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=1000-", 1000, None), ("bytes=-500", -500, None), ("bytes=10-999999999", 10, None)],
)
def test_audio_range_requests_get_206_and_exactly_those_bytes(client, served_run, header, start, end):
    _, shard = served_run
    data = Path(shard.uris[1]).read_bytes()
    response = client.get(f"/tracks/{shard.track_ids[1]}/audio", headers={"Range": header})

    expected = data[start:] if end is None else data[start : end + 1]
    first = start % len(data)
    assert response.status_code == 206 and response.content == expected
    assert response.headers["content-range"] == f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    assert int(response.headers["content-length"]) == len(expected)


def test_a_range_past_the_end_is_416_and_a_malformed_one_is_ignored(client, served_run):
    _, shard = served_run
    size = Path(shard.uris[1]).stat().st_size
    url = f"/tracks/{shard.track_ids[1]}/audio"

    beyond = client.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert set(beyond.json()) == {"error"}
    for header in ("bytes=5-2", "lines=0-10", "bytes=0-1,4-5", "bytes=abc"):
        whole = client.get(url, headers={"Range": header})
        assert whole.status_code == 200 and len(whole.content) == size


def test_audio_whose_file_is_gone_is_404(tmp_path, minilm):
    shard = write_catalog(tmp_path, minilm, np.random.default_rng(1))
    write_shard(tmp_path / "run", shard, "part-0")
    build_index(tmp_path / "run")
    Path(shard.uris[0]).unlink()
    app = create_app(make_registry(minilm, ("c", tmp_path / "run")), reload_interval=None)
    with TestClient(app) as client:
        response = client.get(f"/tracks/{shard.track_ids[0]}/audio")
    assert response.status_code == 404 and "no longer readable" in response.json()["error"]


TRAVERSALS = [
    "/tracks/..%2F..%2Fetc%2Fpasswd/audio",
    "/tracks/../../etc/passwd/audio",
    "/tracks/%2e%2e%2f%2e%2e%2fetc%2fpasswd/audio",
    "/tracks/..%252F..%252Fetc%252Fpasswd/audio",
    "/tracks/%2Fetc%2Fpasswd/audio",
    "/tracks/..%5C..%5Cwindows%5Cwin.ini/audio",
    "/tracks/file%3A%2F%2F%2Fetc%2Fpasswd/audio",
    "/tracks/%2e%2e/audio",
    "/static/..%2F..%2F..%2Fetc%2Fpasswd",
    "/static/..%2Fapi.py",
    "/static/%2e%2e%2fcatalogs.py",
    "/similar/..%2F..%2Fetc%2Fpasswd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_attempts_are_refused(client, path):
    response = client.get(path)
    assert 400 <= response.status_code < 500
    assert "root:" not in response.text and "import" not in response.text
    assert set(response.json()) == {"error"}


def test_a_file_path_or_uri_of_an_indexed_track_is_not_a_track_id(client, served_run):
    # SceneIndex.row_of accepts paths; the server must accept only exact ids.
    _, shard = served_run
    for reference in (shard.uris[0], "file://" + shard.uris[0]):
        response = client.get("/tracks/x/audio".replace("x", reference.replace("/", "%2F")))
        assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 1001},
        {"q": ""},
        {"q": "rain", "k": 0},
        {"q": "rain", "k": 1001},
        {"q": "rain", "k": -3},
        {"q": "rain", "k": "ten"},
        {"q": "rain", "min_duration": -1},
        {"q": "rain", "max_duration": -0.5},
        {"q": "rain", "min_duration": "nan"},
        {"q": "rain", "max_duration": "inf"},
        {"q": "rain", "catalog": "c" * 65},
        {"k": 5},
    ],
)
def test_invalid_parameters_get_422_and_one_sentence(client, params):
    response = client.get("/search", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error.startswith("invalid parameter ") and error.endswith(".") and "\n" not in error


def test_requests_the_index_cannot_answer_get_400_with_its_sentence(client):
    blank = client.get("/search", params={"q": "   "})
    assert blank.status_code == 400 and blank.json()["error"].startswith("the search text is empty")
    crossed = client.get("/search", params={"q": "rain", "min_duration": 50, "max_duration": 10})
    assert crossed.status_code == 400 and "exceeds the maximum" in crossed.json()["error"]


def test_k_at_the_bounds_is_accepted(client):
    assert len(client.get("/search", params={"q": "rain", "k": 1}).json()["hits"]) == 1
    assert len(client.get("/search", params={"q": "rain", "k": 1000}).json()["hits"]) == len(SCENES)


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/search?q=rain", "/catalogs", "/openapi.json", "/metrics", "/nowhere"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-wrong-token"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"bearer  {TOKEN}"},
    ],
)
def test_every_route_but_healthz_needs_the_token(app, path, headers):
    with TestClient(app) as anonymous:
        response = anonymous.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "error" in response.json()


def test_healthz_needs_no_token(app):
    with TestClient(app) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok", "catalogs": 1}


def test_without_a_token_configured_no_header_is_needed(served_run, minilm):
    app = create_app(make_registry(minilm, ("main", served_run[0])), reload_interval=None)
    with TestClient(app) as client:
        assert client.get("/search", params={"q": "rain"}).status_code == 200
        assert "security" not in client.get("/openapi.json").json()


def test_unexpected_failures_answer_500_without_internals(served_run, minilm, monkeypatch):
    registry = make_registry(minilm, ("main", served_run[0]))

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail at /srv/secret/path")

    monkeypatch.setattr(registry.get().index, "search", broken)
    app = create_app(registry, reload_interval=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/search", params={"q": "rain"})
    assert response.status_code == 500
    assert response.json() == {"error": "the server failed to answer this request; the error is in its log."}
    assert "secret" not in response.text and "Traceback" not in response.text


def test_several_catalogs_are_served_at_once(tmp_path, served_run, minilm):
    other = tmp_path / "other"
    write_shard(other, random_shard(np.random.default_rng(5), [f"o{i}" for i in range(30)]), "part-0")
    build_index(other)
    app = create_app(make_registry(minilm, ("main", served_run[0]), ("archive", other)), reload_interval=None)
    with TestClient(app) as client:
        listed = client.get("/catalogs").json()
        assert [(entry["name"], entry["tracks"]) for entry in listed] == [("main", 8), ("archive", 30)]
        assert listed[0]["model_versions"] == [MODEL_VERSION]
        archive = client.get("/search", params={"q": "rain", "catalog": "archive", "k": 30}).json()
        assert archive["catalog"] == "archive" and len(archive["hits"]) == 30
        assert all(hit["uri"].startswith("file:///catalog/o") for hit in archive["hits"])
        assert client.get("/search", params={"q": "rain"}).json()["catalog"] == "main"
        missing = client.get("/search", params={"q": "rain", "catalog": "nope"})
        assert missing.status_code == 404 and "GET /catalogs" in missing.json()["error"]


def test_a_rebuilt_index_is_swapped_in_while_requests_on_the_old_one_finish(tmp_path, served_run, minilm):
    dst = tmp_path / "run"
    shutil.copytree(served_run[0], dst)
    registry = make_registry(minilm, ("main", dst))
    app = create_app(registry, reload_interval=None)
    with TestClient(app) as client:
        in_flight = registry.get("main")  # what a request holds from its start
        assert registry.reload_changed() == []

        newcomer = random_shard(np.random.default_rng(9), ["newcomer"])
        newcomer.captions = ["a lighthouse keeper watching a storm roll in over the sea"]
        newcomer.caption_vectors = minilm.embed(newcomer.captions)
        write_shard(dst, newcomer, "part-1")
        build_index(dst)
        assert client.get(f"/tracks/{newcomer.track_ids[0]}").status_code == 404  # not picked up yet

        assert registry.reload_changed() == ["main"]
        found = client.get("/search", params={"q": "lighthouse in a storm", "k": 1}).json()["hits"][0]
        assert found["track_id"] == newcomer.track_ids[0]
        assert client.get(f"/tracks/{newcomer.track_ids[0]}").status_code == 200
        # The request that started before the swap still answers from the index it took.
        assert (
            len(in_flight.index) == 8
            and in_flight.index.search("lighthouse in a storm", k=1)[0].track_id != newcomer.track_ids[0]
        )
        metrics = client.get("/metrics").text
    assert 'musiscene_index_rows{catalog="main"} 9.0' in metrics
    assert 'musiscene_index_reloads_total{catalog="main",outcome="swapped"} 1.0' in metrics


def test_a_damaged_rebuild_is_not_swapped_in(tmp_path, served_run, minilm):
    dst = tmp_path / "run"
    shutil.copytree(served_run[0], dst)
    registry = make_registry(minilm, ("main", dst))
    before = registry.get("main")
    write_shard(dst, random_shard(np.random.default_rng(2), ["late"]), "part-1")
    build_index(dst)
    (dst / "index" / "captions.faiss").write_bytes(b"half written")  # as if a build were still under way

    assert registry.reload_changed() == []
    assert registry.get("main") is before and registry.reloads == {("main", "failed"): 1}


def test_metrics_count_requests_by_route_and_describe_the_index(client, served_run):
    client.get("/search", params={"q": "rain"})
    client.get("/search", params={"q": "rain", "k": 0})
    client.get(f"/tracks/{served_run[1].track_ids[0]}")
    text = client.get("/metrics").text

    assert 'musiscene_http_requests_total{method="GET",route="/search",status="200"}' in text
    assert 'musiscene_http_requests_total{method="GET",route="/search",status="422"}' in text
    assert 'musiscene_http_requests_total{method="GET",route="/tracks/{track_id}",status="200"}' in text
    assert 'musiscene_http_request_duration_seconds_bucket{le="0.5",route="/search"}' in text
    assert 'musiscene_index_rows{catalog="main"} 8.0' in text
    assert f'musiscene_index_model_version_info{{catalog="main",model_version="{MODEL_VERSION}"}} 1.0' in text


def test_the_page_is_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200
        assert "http://" not in asset.text and "https://" not in asset.text and "@import" not in asset.text
    assert "http://" not in page.text and "https://" not in page.text
    assert client.get("/static/index.html").status_code == 404


def test_openapi_document_lists_the_api(client):
    document = client.get("/openapi.json").json()
    assert {"/search", "/similar/{track_id}", "/tracks/{track_id}", "/tracks/{track_id}/audio", "/healthz", "/metrics"} <= set(
        document["paths"]
    )
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert document["paths"]["/healthz"]["get"]["security"] == []


def test_every_file_of_the_page_is_package_data():
    # A non-editable install ships only what pyproject's package-data names.
    import fnmatch

    import tomllib

    import musiscene_core.serve

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["musiscene_core.serve"]
    static = Path(musiscene_core.serve.__file__).parent / "static"
    shipped = sorted(path.name for path in static.iterdir())
    assert shipped == ["app.js", "index.html", "style.css"]
    for name in shipped:
        assert any(fnmatch.fnmatch(f"static/{name}", pattern) for pattern in patterns), name


def test_the_running_app_polls_for_rebuilt_indexes(tmp_path, served_run, minilm):
    import time

    dst = tmp_path / "run"
    shutil.copytree(served_run[0], dst)
    app = create_app(make_registry(minilm, ("main", dst)), reload_interval=0.1)
    late = random_shard(np.random.default_rng(11), ["late"])
    with TestClient(app) as client:
        write_shard(dst, late, "part-1")
        build_index(dst)
        deadline = time.monotonic() + 120  # a bound on waiting, not an assertion on speed
        while client.get(f"/tracks/{late.track_ids[0]}").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get(f"/tracks/{late.track_ids[0]}").status_code == 200
