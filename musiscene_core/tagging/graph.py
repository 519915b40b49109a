"""The tagging job's stage graph, defined once: which stages run, in which order, with what placement.

`build_stages` returns the ordered stages; a runner decides only how to execute them. The Ray Data
runner (`musiscene_core.pipelines.tag`) maps each stage onto CPU tasks or an actor pool with the
resources named here; the sequential runner (`musiscene_core.pipelines.sequential`) builds each stage
once and calls it in this process. Nothing here imports Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from musiscene_core.tagging.config import TagConfig
from musiscene_core.tagging.stages import (
    CaptionStage,
    DecodeStage,
    EmbedStage,
    MertStage,
    ModelChain,
    ShardWriter,
    policy_record,
)

DECODE, MERT, CAPTION, EMBED, WRITE = "decode", "mert", "caption", "embed", "write"
MODELS = "models"  # MERT, caption and embed fused in one actor
ORDER = (DECODE, MERT, CAPTION, EMBED, WRITE)


@dataclass(frozen=True)
class Stage:
    """One stage of the graph: the callable class to build, and where it runs.

    actors None: stateless CPU tasks (the stage is cheap to build, so each task builds its own);
    actors n: a pool of n long-lived actors, each building the stage (loading its model) once."""

    name: str
    cls: type
    kwargs: dict = field(default_factory=dict)
    batch_size: int = 1
    actors: int | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0

    def build(self):
        return self.cls(**self.kwargs)


def model_version(config: TagConfig, model) -> str:
    """The version recorded on every output row: the weights plus every setting that changes the outputs."""
    return model.version(
        policy=config.policy,
        window_s=config.window_s,
        hop_s=config.hop_s,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        seed=config.seed,
        embedder=config.embedder,
    )


def fuse_models(config: TagConfig, gpus_per_actor: float) -> bool:
    """One actor pool for MERT + caption + embed, or a pool per model stage.

    Without GPUs the three model stages would compete for the same cores anyway, and one process
    loads torch and the models once instead of three times; with GPUs each gets its own pool unless
    `fuse_models` is set."""
    return gpus_per_actor <= 0 or config.fuse_models


def build_stages(
    config: TagConfig,
    model,
    model_version: str | None,
    device: str | None,
    gpus_per_actor: float = 0.0,
    last: str = WRITE,
    run_id: str | None = None,
) -> list[Stage]:
    """The stages of a tagging run from decoding up to and including `last` (one of ORDER).

    `model` is the run's ModelSpec, `device` the device the model stages load onto (None: CUDA when
    available), `gpus_per_actor` what each model actor asks of the cluster (0: CPU only)."""
    if last not in ORDER:
        raise ValueError(f"unknown stage {last!r}; the stages are {', '.join(ORDER)}")
    wanted = ORDER[: ORDER.index(last) + 1]
    cpus = config.cpus_per_actor
    generation = dict(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p, seed=config.seed)
    model_actor = dict(batch_size=config.model_batch_size, num_cpus=cpus, num_gpus=gpus_per_actor)
    # MERT reads long tracks again itself, as a stream of window groups, with the decode stage's settings.
    decode = config.decode_settings()
    stages = [Stage(DECODE, DecodeStage, decode, batch_size=config.decode_batch_size, num_cpus=config.decode_cpus or cpus)]
    if EMBED in wanted and fuse_models(config, gpus_per_actor):
        stages.append(
            Stage(
                MODELS,
                ModelChain,
                dict(model=model, device=device, embedder_name=config.embedder, decode=decode, **generation),
                actors=config.mert_actors,
                **model_actor,
            )
        )
    else:
        if MERT in wanted:
            stages.append(
                Stage(MERT, MertStage, dict(model=model, device=device, decode=decode), actors=config.mert_actors, **model_actor)
            )
        if CAPTION in wanted:
            stages.append(
                Stage(
                    CAPTION,
                    CaptionStage,
                    dict(model=model, device=device, **generation),
                    actors=config.caption_actors,
                    **model_actor,
                )
            )
        if EMBED in wanted:
            # The text embedder is small: CPU actors, next to the GPU stages.
            stages.append(
                Stage(
                    EMBED,
                    EmbedStage,
                    dict(embedder_name=config.embedder),
                    batch_size=config.model_batch_size,
                    actors=config.embed_actors,
                    num_cpus=cpus,
                )
            )
    if WRITE in wanted:
        if model_version is None:
            raise ValueError("the write stage needs the model version it records")
        window_policy = policy_record(config.policy, config.window_s, config.hop_s)
        stages.append(
            Stage(
                WRITE,
                ShardWriter,
                dict(
                    dst=config.dst,
                    model_version=model_version,
                    endpoint_url=config.endpoint_url,
                    window_policy=window_policy,
                    run_id=run_id,
                ),
                batch_size=config.shard_rows,
                num_cpus=cpus,
            )
        )
    return stages
