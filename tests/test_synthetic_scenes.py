import re

import pytest

from musiscene_core.data.synthetic import SCENE_NAMES, SCENES, classify_caption, get_scene, scene_caption


def test_every_template_classifies_back_to_its_scene():
    for name, scene in SCENES.items():
        assert len(scene.templates) >= 4
        for template in scene.templates:
            assert classify_caption(template) == name, template


def test_keywords_are_disjoint_and_templates_name_no_other_scene():
    for name, scene in SCENES.items():
        for other_name, other in SCENES.items():
            if other_name == name:
                continue
            assert not scene.keywords & other.keywords
            for template in scene.templates:
                words = set(re.findall(r"[a-z]+", template.lower()))
                assert not words & other.keywords, (template, other_name)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A CHASE through NEON-lit streets!!!", "neon_chase"),
        ("Calm night by the sea.", "calm_sea"),
        ("the haunted... corridor", "horror_corridor"),
        ("a picnic", "sunny_picnic"),
        ("Snow, snow, snow", "snowy_morning"),
        ("warriors: BATTLE", "epic_battle"),
        ("the sea, the sea, then a battle", "calm_sea"),  # most keyword occurrences wins
    ],
)
def test_classify_caption_ignores_case_and_punctuation(text, expected):
    assert classify_caption(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a quiet afternoon in an office, typing on a keyboard",
        "warm toward the seam",  # keyword substrings (war, sea) are not keywords
        "a battle by the sea",  # one keyword each: ambiguous
    ],
)
def test_classify_caption_gives_none_for_unrelated_or_ambiguous_text(text):
    assert classify_caption(text) is None


def test_scene_caption_is_deterministic_varied_and_from_the_templates():
    for name in SCENE_NAMES:
        captions = [scene_caption(name, seed) for seed in range(40)]
        assert captions == [scene_caption(name, seed) for seed in range(40)]
        assert set(captions) <= set(SCENES[name].templates)
        assert len(set(captions)) >= 4


def test_scenes_have_clearly_different_characters():
    tempos = {name: sum(scene.tempo_bpm) / 2 for name, scene in SCENES.items()}
    assert tempos["neon_chase"] > tempos["epic_battle"] > tempos["sunny_picnic"] > tempos["calm_sea"] > tempos["horror_corridor"]
    assert SCENES["epic_battle"].loudness_dbfs > SCENES["calm_sea"].loudness_dbfs + 10
    assert {SCENES[name].mode for name in SCENE_NAMES} == {"major", "minor", "chromatic"}


def test_get_scene_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown scene 'disco'.*calm_sea"):
        get_scene("disco")
    assert get_scene(SCENES["calm_sea"]) is SCENES["calm_sea"]


def test_demo_queries_rank_every_caption_of_their_scene_above_all_others():
    # The demo searches captions by text: a piece captioned with any sentence of the queried scene
    # must outrank pieces captioned with any other scene's sentence, whichever sentence the model picks.
    from musiscene_core.commands.demo import DEMO_QUERIES
    from musiscene_core.models.text_embedder import TextEmbedder

    embedder = TextEmbedder(device="cpu")
    templates = [(name, template) for name, scene in SCENES.items() for template in scene.templates]
    vectors = embedder.embed([template for _, template in templates])
    for query in DEMO_QUERIES:
        wanted = classify_caption(query)
        scores = vectors @ embedder.embed([query])[0]
        own = min(score for score, (name, _) in zip(scores, templates) if name == wanted)
        other = max(score for score, (name, _) in zip(scores, templates) if name != wanted)
        assert own > other + 0.05, (query, own, other)
