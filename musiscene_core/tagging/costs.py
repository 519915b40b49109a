"""Per-track costs of the tagging stages, as measured by `benchmarks.gpu_bench`, for planning a cluster run.

A stage-costs file (JSON, written by the benchmark into benchmarks/results/stage_costs_<device>.json)
holds what one device and one CPU core spend per unit of work:

    decode_cpu_s_per_audio_s   CPU seconds of one core to read, decode and resample one second of audio
                               (DecodeStage; depends on the codec, measured on FLAC at 44.1 kHz stereo)
    mert_s_per_audio_s         device seconds of MERT per second of audio, windows of many tracks batched
    caption_s_per_track        device seconds per caption (fast path at `caption_batch_size`, at most
                               `caption_max_new_tokens` tokens; random weights run to the limit, so this
                               is an upper bound for real captions, which stop earlier)

plus where they were measured (`device`, `models`, `dtype`, `measured_at`, `command`) and the settings
that matter (`mert_window_s`, `caption_batch_size`, `caption_max_new_tokens`). `estimate` turns
them into the wall time of a catalog on given CPU cores and devices. This module needs neither Ray
nor torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from musiscene_core.errors import UserError

FORMAT = "musiscene-stage-costs"
FORMAT_VERSION = 1
_RATES = ("decode_cpu_s_per_audio_s", "mert_s_per_audio_s", "caption_s_per_track")


@dataclass(frozen=True)
class StageCosts:
    device: str  # where MERT and the captioner ran, as torch names it ("NVIDIA H200", "cpu: <model>")
    models: str  # which architectures ("tiny preset", "real-size: MERT-v1-330M + LLaMA-2-7B + adapter")
    dtype: str
    measured_at: str  # ISO time
    command: str  # the command line that measured them
    decode_cpu_s_per_audio_s: float
    mert_s_per_audio_s: float
    caption_s_per_track: float
    mert_window_s: float
    caption_batch_size: int
    caption_max_new_tokens: int

    def to_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}


@dataclass(frozen=True)
class Estimate:
    cpu_s: float  # decode work, CPU-core seconds
    device_s: float  # MERT + caption work, device seconds
    wall_s: float  # the larger of the two spread over the given cores / devices
    bound: str  # "cpu" or "device": which side sets the wall time


def estimate(costs: StageCosts, tracks: int, audio_s: float, cpus: int, devices: int) -> Estimate:
    """Wall time of tagging `tracks` tracks holding `audio_s` seconds of audio in all, on `cpus` decode
    cores and `devices` model devices, with decoding overlapped with the model stages (Ray Data
    streams them) and no other overhead counted."""
    if tracks < 0 or audio_s < 0 or cpus < 1 or devices < 1:
        raise UserError("A cost estimate needs tracks >= 0, audio seconds >= 0, and at least one CPU and one device.")
    cpu_s = costs.decode_cpu_s_per_audio_s * audio_s
    device_s = costs.mert_s_per_audio_s * audio_s + costs.caption_s_per_track * tracks
    cpu_wall, device_wall = cpu_s / cpus, device_s / devices
    return Estimate(cpu_s, device_s, max(cpu_wall, device_wall), "cpu" if cpu_wall > device_wall else "device")


def write_stage_costs(costs: StageCosts, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(costs.to_dict(), indent=2) + "\n")
    return path


def load_stage_costs(path: str | Path) -> StageCosts:
    """Read a stage-costs file; any problem is one UserError sentence."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"No stage-costs file at {path} (benchmarks.gpu_bench writes one).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a readable stage-costs file ({exc.__class__.__name__}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path} is not a {FORMAT} v{FORMAT_VERSION} file.")
    names = [f.name for f in fields(StageCosts)]
    missing = [n for n in names if n not in data]
    if missing:
        raise UserError(f"{path} lacks the field(s) {', '.join(missing)}.")
    for name in _RATES:
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
            raise UserError(f"{path}: {name} must be a finite number >= 0, got {value!r}.")
    return StageCosts(**{n: data[n] for n in names})
