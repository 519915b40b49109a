"""Training with its output folder and checkpoints on S3 (a moto server on 127.0.0.1)."""

import pytest

from musiscene_core.models.mullama.captioner import MusiSceneCaptioner
from musiscene_core.train.config import TrainConfig

pytestmark = pytest.mark.integration


def test_training_writes_checkpoints_model_and_report_to_s3(s3_bucket, tiny_model, synthetic_catalog, tmp_path):
    import ray

    from musiscene_core.pipelines.train import run

    endpoint, bucket, fs = s3_bucket
    ray.shutdown()  # workers must start with the S3 credentials the fixture put in the environment
    try:
        summary = run(
            TrainConfig(
                data=str(synthetic_catalog),
                base=str(tiny_model),
                out=f"s3://{bucket}/train",
                endpoint_url=endpoint,
                workers=2,
                epochs=1,
                batch_size=2,
                lr=5e-3,
                warmup_epochs=0.5,
                checkpoint_every=2,
                eval_limit=2,
                eval_max_new_tokens=4,
            )
        )
    finally:
        ray.shutdown()
    files = set(fs.find(bucket))
    assert f"{bucket}/train/run/checkpoint_manager_snapshot.json" in files
    assert {
        f"{bucket}/train/run/checkpoint-0000004/{name}" for name in ("trainable.safetensors", "optimizer.pt", "state.json")
    } <= files
    for path in (
        "report/metrics.csv",
        "report/loss.png",
        "report/summary.json",
        "mullama/checkpoint.pth",
        "model/preset.json",
        "model/captioner/captioner.safetensors",
        "dataset/train.parquet",
    ):
        assert f"{bucket}/train/{path}" in files
    assert summary["best_checkpoint"].startswith(f"s3://{bucket}/train/run/checkpoint-")
    fs.get(f"{bucket}/train/mullama/", str(tmp_path / "mullama"), recursive=True)
    reloaded = MusiSceneCaptioner.from_mullama(
        tmp_path / "mullama" / "checkpoint.pth",
        tmp_path / "mullama" / "LLaMA" / "7B",
        tmp_path / "mullama" / "LLaMA" / "tokenizer.model",
        device="cpu",
    )
    assert reloaded.config.adapter.mert_layers == 3
