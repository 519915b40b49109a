"""The tagging planner: sampling, and the projection arithmetic with its assumptions."""

import pytest

from musiscene_core.errors import UserError
from musiscene_core.tagging.planner import ClusterShape, Profile, project, sample_evenly


def profile(**overrides) -> Profile:
    values = dict(
        device="cuda",
        tracks=100,
        ok=98,
        decode_s=0.3,
        write_s=0.1,
        mert_s=0.05,
        caption_s=0.12,
        embed_s=0.03,
        load_s=60.0,
        audio_s=200.0,
        bytes=8e6,
        model_batch_size=8,
    )
    values.update(overrides)
    return Profile(**values)


def test_sample_spreads_over_the_whole_listing():
    items = list(range(1000))
    sample = sample_evenly(items, 100)
    assert len(sample) == 100 and sample[0] == 0 and sample[-1] >= 990 and len(set(sample)) == 100
    assert sample_evenly(items[:7], 100) == items[:7]


def test_cluster_projection_scales_per_track_costs():
    p = profile()
    plan = project(p, listed=1_200_000, todo=1_000_000, shape=ClusterShape(gpus=16, gpu_type="L40S", price_per_gpu_hour=1.5))
    gpu_seconds = 1_000_000 * 0.2
    assert plan.seconds_per_track == pytest.approx(0.2 / 16)
    assert plan.wall_hours == pytest.approx((60 + gpu_seconds / 16) / 3600)
    assert plan.gpu_hours == pytest.approx(16 * plan.wall_hours)
    assert plan.cost == pytest.approx(plan.gpu_hours * 1.5)
    assert plan.cost_per_million == pytest.approx(0.2 / 3600 * 1.5 * 1e6)
    assert plan.gpus_for_one_night == 7  # 200,000 GPU-seconds in an 8-hour night
    assert plan.decode_cores_per_gpu == pytest.approx(2.0)
    text = " ".join(plan.assumptions)
    assert "200000 of 1200000" in text and "2.0 CPU core(s) per GPU" in text and "1.5 per GPU-hour" in text


def test_a_cpu_profile_for_a_gpu_cluster_says_so():
    plan = project(profile(device="cpu"), listed=10, todo=10, shape=ClusterShape(gpus=2, gpu_type="A10G"))
    assert plan.cost is None and any("profiled on CPU" in a for a in plan.assumptions)


def test_this_machine_overlaps_decode_with_the_model():
    plan = project(
        profile(device="cpu", decode_s=0.4, write_s=0.1, mert_s=0.1, caption_s=0.1, embed_s=0.0),
        listed=10,
        todo=10,
        shape=ClusterShape(cpus=2),
    )
    assert plan.seconds_per_track == pytest.approx(0.5)  # decode + write on the one spare core are the bottleneck
    assert plan.gpu_hours is None and plan.cost is None


def test_bad_shapes_are_one_sentence():
    with pytest.raises(UserError):
        project(profile(), 10, 10, ClusterShape(gpus=0))
    with pytest.raises(UserError):
        project(profile(), 10, 10, ClusterShape(gpus=1, price_per_gpu_hour=-1))
