import hashlib
import os
import shutil

import numpy as np
import pytest
from index_tables import Shard, random_shard, track_id_of, write_shard

from musiscene_core.errors import UserError
from musiscene_core.index import SceneIndex, build_index
from musiscene_core.models.text_embedder import TextEmbedder

SCENES = [
    "a car chase through neon-lit city streets at night",
    "a couple walking slowly along a rainy beach at sunset",
    "a medieval army marching into battle across a muddy field",
    "children laughing at a sunny birthday party in a garden",
    "an astronaut floating alone in the silence of deep space",
    "a tense detective interrogation in a dim smoky room",
    "a cowboy riding across a dusty desert at dawn",
    "a crowded nightclub with dancers under strobe lights",
]


@pytest.fixture(scope="module")
def minilm():
    return TextEmbedder()


@pytest.fixture
def captioned_run(tmp_path, rng, minilm):
    """300 random tracks plus eight with real scene captions embedded by MiniLM."""
    dst = tmp_path / "run"
    write_shard(dst, random_shard(rng, [f"t{i}" for i in range(300)]), "part-0")
    names = [f"scene{i}" for i in range(len(SCENES))]
    scenes = Shard(
        track_ids=[track_id_of(name) for name in names],
        uris=[f"file:///catalog/{name}.wav" for name in names],
        durations=[30.0 * (i + 1) for i in range(len(SCENES))],
        captions=list(SCENES),
        caption_vectors=minilm.embed(SCENES),
        audio_vectors=random_shard(rng, names).audio_vectors,
        embed_model=minilm.name,
    )
    write_shard(dst, scenes, "part-1")
    build_index(dst)
    return dst


def test_text_search_finds_the_matching_scene_caption(captioned_run, minilm):
    index = SceneIndex.load(captioned_run, embedder=minilm)
    hits = index.search("a car chase through neon-lit streets", k=3)

    assert [hit.rank for hit in hits] == [1, 2, 3]
    assert hits[0].caption == SCENES[0]
    assert hits[0].track_id == track_id_of("scene0")
    assert hits[0].uri == "file:///catalog/scene0.wav" and hits[0].duration_s == 30.0
    assert hits[0].score > 0.6 and hits[0].score > hits[1].score >= hits[2].score

    assert index.search("someone drifting weightless among the stars", k=1)[0].caption == SCENES[4]


def test_the_embedder_named_in_the_index_is_loaded_when_none_is_given(captioned_run):
    hit = SceneIndex.load(captioned_run).search("cowboy on horseback in the desert", k=1)[0]
    assert hit.caption == SCENES[6]


def test_duration_filters_keep_k_results_within_bounds(captioned_run, minilm):
    index = SceneIndex.load(captioned_run, embedder=minilm)
    hits = index.search("a car chase through neon-lit streets", k=5, min_duration=60, max_duration=120)

    assert len(hits) == 5
    assert all(60 <= hit.duration_s <= 120 for hit in hits)
    assert SCENES[0] not in [hit.caption for hit in hits]  # 30 s long: filtered out


def test_selective_filters_on_an_ivf_index_still_return_every_match(tmp_path, rng):
    # IVF probes only a few lists; a filter matching a handful of tracks must widen the search.
    shard = random_shard(rng, [f"t{i}" for i in range(3000)])
    shard.durations = [100.0] * 3000
    for row in (5, 900, 1700, 2999):
        shard.durations[row] = 7.0
    write_shard(tmp_path, shard, "part-0")
    info = build_index(tmp_path, flat_threshold=1000)
    assert info.audio.search_params["nprobe"] < 64

    index = SceneIndex.load(tmp_path)
    hits = index.similar(track_id_of("t1"), k=10, max_duration=10)
    assert sorted(hit.track_id for hit in hits) == sorted(track_id_of(f"t{row}") for row in (5, 900, 1700, 2999))
    assert index.similar(track_id_of("t1"), k=10, min_duration=500) == []


def test_similar_by_track_id_excludes_the_track_and_ranks_by_audio(captioned_run):
    index = SceneIndex.load(captioned_run)
    hits = index.similar(track_id_of("t10"), k=10)

    assert len(hits) == 10
    assert track_id_of("t10") not in [hit.track_id for hit in hits]
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)


def test_similar_accepts_the_indexed_uri(captioned_run):
    index = SceneIndex.load(captioned_run)
    assert index.similar("file:///catalog/t10.mp3", k=4) == index.similar(track_id_of("t10"), k=4)


def test_similar_hashes_a_local_file_to_find_its_track(tmp_path, rng):
    audio_file = tmp_path / "song.wav"
    audio_file.write_bytes(b"RIFF....WAVEfmt some bytes of a tagged song")
    shard = random_shard(rng, [f"t{i}" for i in range(20)])
    shard.track_ids[0] = hashlib.sha256(audio_file.read_bytes()).hexdigest()
    write_shard(tmp_path / "run", shard, "part-0")
    build_index(tmp_path / "run")
    index = SceneIndex.load(tmp_path / "run")

    assert index.similar(str(audio_file), k=3) == index.similar(shard.track_ids[0], k=3)

    untagged = tmp_path / "new.wav"
    untagged.write_bytes(b"never tagged")
    with pytest.raises(UserError, match="is not in the index; tag it first"):
        index.similar(str(untagged))
    with pytest.raises(UserError, match="neither a track id in the index nor a readable file; tag it first"):
        index.similar("0" * 64)


def test_a_different_query_embedder_is_refused_in_one_sentence(captioned_run):
    class OtherEmbedder:
        name = "sentence-transformers/all-mpnet-base-v2"
        dim = 768

    with pytest.raises(UserError, match="built from captions embedded with sentence-transformers/all-MiniLM-L6-v2"):
        SceneIndex.load(captioned_run, embedder=OtherEmbedder())


def test_bad_requests_are_user_errors(captioned_run):
    index = SceneIndex.load(captioned_run)
    with pytest.raises(UserError, match="search text is empty"):
        index.search("   ")
    with pytest.raises(UserError, match="k must be at least 1"):
        index.similar(track_id_of("t1"), k=0)
    with pytest.raises(UserError, match="minimum duration"):
        index.similar(track_id_of("t1"), min_duration=100, max_duration=10)


def test_missing_or_unbuilt_index_is_a_clear_error(tmp_path, tagged_run):
    with pytest.raises(UserError, match="does not exist"):
        SceneIndex.load(tmp_path / "nowhere")
    with pytest.raises(UserError, match="no index under .*musiscene index build"):
        SceneIndex.load(tagged_run)


def test_damaged_index_files_are_detected(tagged_run):
    build_index(tagged_run)
    path = os.path.join(tagged_run, "index", "audio.faiss")
    with open(path, "r+b") as handle:
        handle.seek(200)
        byte = handle.read(1)
        handle.seek(200)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(UserError, match="audio.faiss does not match its index.json"):
        SceneIndex.load(tagged_run)

    os.remove(path)
    with pytest.raises(UserError, match="audio.faiss is missing"):
        SceneIndex.load(tagged_run)


def test_an_index_folder_copied_elsewhere_still_loads(tagged_run, tmp_path):
    build_index(tagged_run)
    copy = tmp_path / "copy"
    shutil.copytree(tagged_run / "index", copy / "index")
    index = SceneIndex.load(copy)
    assert len(index) == 300
    assert np.isfinite([hit.score for hit in index.similar(track_id_of("t3"), k=5)]).all()
