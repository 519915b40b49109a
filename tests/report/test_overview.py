import numpy as np
from report_scenes import SCENE_CLASSES

from musiscene_core.report.overview import catalog_overview, pca_2d, scene_words


def test_overview_counts_errors_hours_versions_and_runs(scene_run):
    o = catalog_overview(str(scene_run), clusters=3)
    assert (o.tracks, o.ok, o.failed) == (32, 30, 2)
    assert o.error_kinds == {"decode": 2}
    assert abs(o.audio_hours - sum(60.0 + i for i in range(30)) / 3600) < 1e-9
    assert o.model_versions == {"musiscene-test/1": 30}
    assert [r["run_id"] for r in o.runs] == ["20260101T000000-a", "20260102T000000-b"]
    assert o.runs[1]["realtime_factor"] == (12 * 60 / 3600) * 3600 / 4.0


def test_clusters_follow_the_scenes_and_are_named_by_their_words(scene_run):
    m = catalog_overview(str(scene_run), clusters=3).embedding_map
    # Rows come in track-id order; the scene class is in each uri.
    truth = np.array([SCENE_CLASSES.index(uri.rsplit("/", 1)[1].rsplit("-", 1)[0]) for uri in m.uris])
    # Each cluster holds exactly one scene class's tracks.
    assert sorted(len(set(truth[m.clusters == c])) for c in range(3)) == [1, 1, 1]
    assert sorted(np.bincount(m.clusters).tolist()) == [10, 10, 10]
    captions = np.array(m.captions, dtype=object)
    for cluster, words in enumerate(m.cluster_words):
        assert len(words) == 3
        inside, outside = captions[m.clusters == cluster], captions[m.clusters != cluster]
        for word in words:
            share_in = np.mean([word in c.lower().split() for c in inside])
            share_out = np.mean([word in c.lower().split() for c in outside])
            assert share_in > share_out, (word, share_in, share_out)
    assert len({w for words in m.cluster_words for w in words}) == 9  # no word names two clusters
    assert m.caption_xy.shape == m.audio_xy.shape == (30, 2)


def test_scene_words_leave_function_words_out():
    words = dict(scene_words(["a calm night by the sea", "the sea at dawn", "a chase in the night"]))
    assert words == {"sea": 2, "night": 2, "calm": 1, "dawn": 1, "chase": 1}


def test_pca_keeps_the_direction_of_largest_spread():
    rng = np.random.default_rng(0)
    x = np.outer(rng.standard_normal(50), [3.0, 0, 0, 0]) + 0.01 * rng.standard_normal((50, 4))
    xy = pca_2d(x)
    assert np.corrcoef(xy[:, 0], x[:, 0])[0, 1] ** 2 > 0.99
    assert pca_2d(x[:1]).tolist() == [[0.0, 0.0]]
