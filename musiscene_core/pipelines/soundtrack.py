"""Ray Data wiring of batch soundtracks: each actor loads MusicGen (and the captioner) once and serves many videos.

A video that fails becomes an error row; the others go on. Results come back as rows for the report.
"""

from __future__ import annotations

import numpy as np

from musiscene_core.errors import UserError
from musiscene_core.soundtrack.make import SoundtrackMaker, SoundtrackSettings

RESULT_FIELDS = ("video", "out", "status", "error", "prompt", "duration_s", "seconds")


class SoundtrackActor:
    def __init__(self, settings: SoundtrackSettings):
        self.maker = SoundtrackMaker(settings)

    def __call__(self, batch: dict) -> dict:
        rows = []
        for video, out in zip(batch["video"], batch["out"]):
            row = {
                "video": str(video),
                "out": str(out),
                "status": "ok",
                "error": "",
                "prompt": "",
                "duration_s": np.nan,
                "seconds": np.nan,
            }
            try:
                result = self.maker(str(video), str(out))
                row.update(prompt=result.prompt, duration_s=result.duration_s, seconds=result.seconds)
            except UserError as exc:
                row.update(status="error", error=str(exc))
            except Exception as exc:  # noqa: BLE001 - one video's failure must not stop the batch
                row.update(status="error", error=f"{exc.__class__.__name__}: {exc}".splitlines()[0][:300])
            rows.append(row)
        return {key: np.array([r[key] for r in rows], dtype=object) for key in RESULT_FIELDS}


def run(
    todo: list[tuple[str, str]], settings: SoundtrackSettings, workers: int = 1, ray_address: str | None = None, on_result=None
) -> list[dict]:
    import ray.data
    from ray.data import ActorPoolStrategy

    from musiscene_core.pipelines.ray_init import init_ray

    init_ray(ray_address)
    ray.data.DataContext.get_current().enable_progress_bars = False
    ds = ray.data.from_items([{"video": v, "out": o} for v, o in todo], override_num_blocks=max(1, len(todo)))
    ds = ds.map_batches(
        SoundtrackActor,
        batch_size=1,
        compute=ActorPoolStrategy(size=max(1, min(workers, len(todo)))),
        num_cpus=1,
        fn_constructor_kwargs={"settings": settings},
    )
    results = []
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for i in range(len(batch["video"])):
            row = {key: batch[key][i] for key in RESULT_FIELDS}
            results.append(row)
            if on_result:
                on_result(row)
    return results
