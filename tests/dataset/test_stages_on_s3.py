"""The build-dataset stages chained in one process, videos and output on a moto S3 server: what the Ray job runs, minus Ray."""

import numpy as np
import pytest

from musiscene_core.data.build_plan import build_version, clip_rows, plan_build
from musiscene_core.data.dataset_stages import (
    CaptionChain,
    ClipDecodeStage,
    ClipShardWriter,
    FusionStage,
    IdentifyStage,
)
from musiscene_core.data.fusion import EndpointSettings, FusionSettings
from musiscene_core.data.fusion_prompt import load_prompt
from musiscene_core.data.scene_dataset import SceneDatasetStore, is_scene_dataset
from musiscene_core.models.presets import resolve_model
from musiscene_core.train.dataset import read_rows

pytestmark = pytest.mark.integration


def test_stages_write_a_training_ready_dataset_on_s3(s3_bucket, video_dir, tiny_model, tiny_video_captioner, llm_server):
    endpoint, bucket, fs = s3_bucket
    for name in ("beach.mp4", "snow.webm", "silent.mp4"):
        fs.put(str(video_dir / name), f"{bucket}/videos/{name}")
    dst = f"s3://{bucket}/scenes"
    store = SceneDatasetStore(dst, endpoint)
    store.claim({"split_fractions": [1.0, 0.0, 0.0], "split_seed": 0})
    versions = {
        "video_captioner": "git-tiny",
        "music_model": "tiny",
        "llm_model": "normal",
        "prompt_version": "p",
        "question": "What type of scene the music is suitable for?",
    }
    versions["build_version"] = build_version(versions, 3, (1.0, 0.0, 0.0), 0)
    plan = plan_build(f"s3://{bucket}/videos", store.current_clips(), versions["build_version"], endpoint_url=endpoint)
    identified = IdentifyStage(endpoint)({"uri": np.array([c.uri for c in plan.todo], dtype=object)})
    identities = {u: {k: identified[k][i] for k in identified} for i, u in enumerate(identified["uri"])}
    batch = clip_rows(plan, identities, (1.0, 0.0, 0.0), 0)

    batch = ClipDecodeStage(frames=3, endpoint_url=endpoint)(batch)
    batch = CaptionChain(
        str(tiny_video_captioner),
        resolve_model(str(tiny_model), question="Describe the music in detail."),
        device="cpu",
        max_new_tokens=8,
    )(batch)
    fusion = FusionSettings(endpoint=EndpointSettings(url=llm_server.url, model="normal", retries=0), concurrency=2)
    batch = FusionStage(fusion, load_prompt())(batch)
    summary = ClipShardWriter(dst, versions, endpoint)(batch)

    assert list(summary["status"]) == ["ok", "error", "ok"]  # beach, silent, snow (sorted by uri)
    assert is_scene_dataset(dst, endpoint)
    rows = read_rows(dst, endpoint)  # the training reader, straight from S3
    assert rows.num_rows == 2 and set(rows.column("split").to_pylist()) == {"train"}
    assert all(a.startswith("A slow-motion shot") for a in rows.column("answer").to_pylist())
    features = store.tables.read_table("features")
    assert sorted(features.column("track_id").to_pylist()) == sorted(rows.column("track_id").to_pylist())
    # What a rerun would do: nothing.
    assert plan_build(f"s3://{bucket}/videos", store.current_clips(), versions["build_version"], endpoint_url=endpoint).todo == []
