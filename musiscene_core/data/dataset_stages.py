"""The stages of `build-dataset` as plain callable classes (batch dict of numpy arrays -> batch dict).

identify (hash each video once) happens before the clip stages, so byte-identical copies and splits
are decided on the driver; then per clip: decode (soundtrack + frames) -> video caption -> music caption
(MERT + the project's captioner, the tagging job's own stages) -> fusion (instruction LLM) -> write.
A clip that fails anywhere keeps flowing as an error row with a reason, never stopping the job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from musiscene_core import tables
from musiscene_core.audio import SAMPLE_RATE
from musiscene_core.catalog.reading import open_track
from musiscene_core.catalog.storage import open_location
from musiscene_core.data.scene_dataset import CLIPS, OK, SceneDatasetStore, clips_schema
from musiscene_core.data.video_clips import ClipError, extract_clip

WINDOW_S = 30.0  # MERT windows over a clip's soundtrack, as the tagging job's default policy
MIN_LAST_WINDOW_S = 5.0


def clip_id(video_id: str, segment: str) -> str:
    return hashlib.sha256(f"{video_id}:{segment}".encode()).hexdigest()


def _mark_error(batch: dict, i: int, kind: str, reason: str) -> None:
    batch["status"][i] = "error"
    batch["error_kind"][i] = kind
    batch["error"][i] = f"{kind}: {reason}"


def _ok(batch: dict) -> list[int]:
    return [i for i, status in enumerate(batch["status"]) if status == OK]


class IdentifyStage:
    """uri -> content hash (the video's identity) and size, reading each video once."""

    def __init__(self, endpoint_url: str | None = None):
        self.endpoint_url = endpoint_url

    def __call__(self, batch: dict) -> dict:
        n = len(batch["uri"])
        out = {
            "uri": np.asarray(batch["uri"]),
            "video_id": np.full(n, "", dtype=object),
            "bytes": np.zeros(n, dtype=np.int64),
            "error_kind": np.full(n, "", dtype=object),
            "error": np.full(n, "", dtype=object),
        }
        for i, uri in enumerate(out["uri"]):
            try:
                location = open_location(str(uri), self.endpoint_url)
                with open_track(location, location.root) as opened:
                    out["video_id"][i], out["bytes"][i] = opened.track_id, opened.size
                if out["bytes"][i] == 0:
                    out["error_kind"][i], out["error"][i] = "empty", "empty: the file is 0 bytes long"
            except FileNotFoundError:
                out["error_kind"][i], out["error"][i] = (
                    "not_found",
                    "not_found: the file does not exist (or disappeared after it was listed)",
                )
            except OSError as exc:
                out["error_kind"][i], out["error"][i] = "unreadable", f"unreadable: {exc.__class__.__name__}: {exc}"
        return out


def _windows(audio: np.ndarray) -> np.ndarray:
    """Lengths of consecutive MERT windows over the clip (a short tail joins the window before it)."""
    size = int(WINDOW_S * SAMPLE_RATE)
    lengths = [size] * (audio.size // size)
    tail = audio.size - size * len(lengths)
    if tail and (not lengths or tail >= MIN_LAST_WINDOW_S * SAMPLE_RATE):
        lengths.append(tail)
    elif tail:
        lengths[-1] += tail
    return np.asarray(lengths, dtype=np.int64)


class ClipDecodeStage:
    """Clip row -> soundtrack (24 kHz mono, with MERT window lengths) and N frames ([N, H, W, 3] uint8)."""

    def __init__(
        self,
        frames: int,
        min_seconds: float = 1.0,
        max_clip_s: float | None = None,
        max_side: int = 256,
        endpoint_url: str | None = None,
    ):
        self.frames, self.min_seconds, self.max_clip_s = frames, min_seconds, max_clip_s
        self.max_side, self.endpoint_url = max_side, endpoint_url

    def __call__(self, batch: dict) -> dict:
        out = {k: np.asarray(v) for k, v in batch.items()}
        for key in ("status", "error_kind", "error"):
            out[key] = out[key].astype(object)
        n = len(out["uri"])
        out["audio"] = np.empty(n, dtype=object)
        out["window_lengths"] = np.empty(n, dtype=object)
        out["frames"] = np.empty(n, dtype=object)
        out["duration_s"] = np.full(n, np.nan)
        for i in range(n):
            out["audio"][i] = np.zeros(0, dtype=np.float32)
            out["window_lengths"][i] = np.zeros(0, dtype=np.int64)
            out["frames"][i] = np.zeros((0, 1, 1, 3), dtype=np.uint8)
        for i in _ok(out):
            start = None if np.isnan(out["start_s"][i]) else float(out["start_s"][i])
            end = None if np.isnan(out["end_s"][i]) else float(out["end_s"][i])
            try:
                location = open_location(str(out["uri"][i]), self.endpoint_url)
                with open_track(location, location.root) as opened:
                    clip = extract_clip(opened.source, start, end, self.frames, self.min_seconds, self.max_side, self.max_clip_s)
            except ClipError as exc:
                _mark_error(out, i, exc.kind, exc.reason)
                continue
            except FileNotFoundError:
                _mark_error(out, i, "not_found", "the file disappeared after it was listed")
                continue
            except OSError as exc:
                _mark_error(out, i, "unreadable", f"{exc.__class__.__name__}: {exc}")
                continue
            out["audio"][i] = clip.audio
            out["window_lengths"][i] = _windows(clip.audio)
            out["frames"][i] = clip.frames
            out["duration_s"][i] = clip.duration_s
        return out


def _first_line(exc: Exception) -> str:
    return f"{exc.__class__.__name__}: {exc}".splitlines()[0][:300]


class VideoCaptionStage:
    """Frames -> video caption (batched; a failing batch is retried clip by clip)."""

    def __init__(self, source: str, device: str | None = None, max_new_tokens: int = 40):
        from musiscene_core.models.video_captioner import VideoCaptioner

        self.captioner = VideoCaptioner.from_pretrained(source, device=device, max_new_tokens=max_new_tokens)

    def __call__(self, batch: dict) -> dict:
        out = dict(batch)
        n = len(out["uri"])
        captions = np.full(n, "", dtype=object)
        ok = _ok(out)
        try:
            texts = dict(zip(ok, self.captioner.caption([np.asarray(out["frames"][i]) for i in ok]))) if ok else {}
        except Exception:  # noqa: BLE001 - retried one by one so one bad clip fails alone
            texts = {}
            for i in ok:
                try:
                    texts[i] = self.captioner.caption([np.asarray(out["frames"][i])])[0]
                except Exception as exc:  # noqa: BLE001
                    _mark_error(out, i, "video_caption_failed", _first_line(exc))
        for i, text in texts.items():
            if text.strip():
                captions[i] = text.strip()
            else:
                _mark_error(out, i, "video_caption_empty", "the video captioner produced no text")
        out["video_caption"] = captions
        out.pop("frames")
        return out


class MusicCaptionStage:
    """Soundtrack -> MERT layer means -> music caption, with the tagging job's MERT and caption stages."""

    def __init__(
        self,
        model,
        device: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 0.75,
        seed: int = 0,
    ):
        from musiscene_core.tagging.stages import CaptionStage, MertStage

        self.mert = MertStage(model, device=device)
        self.caption = CaptionStage(
            model, device=device, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
        )

    def __call__(self, batch: dict) -> dict:
        out = self.caption(self.mert(batch))
        out["music_caption"] = out.pop("caption")
        out["music_question"] = out.pop("question")
        for i in _ok(out):
            if not str(out["music_caption"][i]).strip():
                _mark_error(out, i, "music_caption_empty", "the music captioner produced no text")
        return out


class CaptionChain:
    """Video and music captioning in one actor: on CPU-only machines they share the same cores anyway."""

    def __init__(self, video_source: str, model, device: str | None = None, **music_generation):
        self.stages = (
            VideoCaptionStage(video_source, device=device),
            MusicCaptionStage(model, device=device, **music_generation),
        )

    def __call__(self, batch: dict) -> dict:
        for stage in self.stages:
            batch = stage(batch)
        return batch


class FusionStage:
    """(video caption, music caption) -> scene caption through the fusion back end, `concurrency` requests at a time."""

    def __init__(self, settings, prompt, device: str | None = None):
        self.prompt = prompt
        self.fusion = settings.build(device=device)
        self.concurrency = settings.concurrency if settings.endpoint is not None else 1

    def __call__(self, batch: dict) -> dict:
        out = dict(batch)
        n = len(out["uri"])
        scene = np.full(n, "", dtype=object)
        usage = {key: np.zeros(n, dtype=np.int64) for key in ("llm_prompt_tokens", "llm_completion_tokens", "llm_attempts")}
        ok = _ok(out)
        messages = [self.prompt.messages(str(out["video_caption"][i]), str(out["music_caption"][i])) for i in ok]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            answers = list(pool.map(self.fusion.fuse, messages))
        for i, answer in zip(ok, answers):
            usage["llm_prompt_tokens"][i] = answer.prompt_tokens
            usage["llm_completion_tokens"][i] = answer.completion_tokens
            usage["llm_attempts"][i] = answer.attempts
            if answer.ok:
                scene[i] = answer.text
            else:
                out["status"][i], out["error_kind"][i], out["error"][i] = "error", answer.error_kind, answer.error
        out["scene_caption"] = scene
        out.update(usage)
        return out


def _text(values, i) -> str | None:
    """Text travels through Ray Data as "" when absent (one Arrow type per column); Parquet gets null."""
    value = values[i]
    return str(value) if value is not None and str(value) != "" else None


class ClipShardWriter:
    """Writes the batch as one features shard (ok clips) then one clips shard; returns a small summary batch."""

    def __init__(self, dst: str, versions: dict, endpoint_url: str | None = None):
        self.store = SceneDatasetStore(dst, endpoint_url)
        self.versions = versions  # video_captioner, music_model, llm_model, prompt_version, build_version, question

    def __call__(self, batch: dict) -> dict:
        from musiscene_core.tagging.stages import audio_embedding, policy_record

        n = len(batch["uri"])
        shard_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        status = [str(s) for s in batch["status"]]
        ok = [i for i, s in enumerate(status) if s == OK]
        if ok:
            means = np.asarray(np.stack([batch["mert_layer_means"][i] for i in ok]), dtype=np.float32)
            features = tables.features_table(
                [str(batch["clip_id"][i]) for i in ok],
                means,
                audio_embedding(means),
                self.versions["music_model"],
                policy_record("whole", WINDOW_S, WINDOW_S),
            )
            self.store.tables.write_table(tables.FEATURES, shard_id, features)
        now = dt.datetime.now(dt.timezone.utc)
        v = self.versions
        text = {
            key: [_text(batch[key], i) for i in range(n)]
            for key in (
                "clip_id",
                "video_id",
                "split",
                "video_caption",
                "music_caption",
                "scene_caption",
                "music_question",
                "error_kind",
                "error",
                "duplicate_of",
            )
        }
        rows = {
            **text,
            "uri": [str(u) for u in batch["uri"]],
            "segment": [str(s) for s in batch["segment"]],
            "start_s": [None if np.isnan(x) else float(x) for x in batch["start_s"]],
            "end_s": [None if np.isnan(x) else float(x) for x in batch["end_s"]],
            "fingerprint": [str(f) for f in batch["fingerprint"]],
            "bytes": [int(b) for b in batch["bytes"]],
            "duration_s": [None if np.isnan(d) else float(d) for d in batch["duration_s"]],
            "question": [v["question"]] * n,
            "video_captioner": [v["video_captioner"]] * n,
            "music_model": [v["music_model"]] * n,
            "llm_model": [v["llm_model"]] * n,
            "prompt_version": [v["prompt_version"]] * n,
            "build_version": [v["build_version"]] * n,
            "status": status,
            **{key: [int(x) for x in batch[key]] for key in ("llm_prompt_tokens", "llm_completion_tokens", "llm_attempts")},
            "built_at": [now] * n,
        }
        self.store.tables.write_table(CLIPS, shard_id, pa.Table.from_pydict(rows, schema=clips_schema()))
        return {
            "status": np.asarray(status, dtype=object),
            "error_kind": np.asarray([str(k) for k in batch["error_kind"]], dtype=object),
            "split": np.asarray([str(s) for s in batch["split"]], dtype=object),
            "duration_s": np.asarray(rows["duration_s"], dtype=np.float64),
            "llm_prompt_tokens": np.asarray(rows["llm_prompt_tokens"], dtype=np.int64),
            "llm_completion_tokens": np.asarray(rows["llm_completion_tokens"], dtype=np.int64),
        }
