"""The stages of the tagging pipeline as plain callable classes.

Each `__init__` loads what it needs once; each `__call__` maps a batch (a dict of numpy arrays, one
entry per track) to a batch. The same classes run in unit tests, in the sequential runner and as Ray
Data actor pools; `musiscene_core.tagging.graph` orders and places them. A track that fails anywhere
keeps flowing as an error row with a reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from musiscene_core import tables
from musiscene_core.audio import AudioError, MuLlamaParity, WholeTrack, probe
from musiscene_core.audio.windows import MU_LLAMA_SECONDS
from musiscene_core.catalog.reading import open_track
from musiscene_core.catalog.storage import open_location
from musiscene_core.s3_errors import is_remote_store_failure, s3_reason

OK, ERROR = "ok", "error"


def window_policy(name: str, window_s: float, hop_s: float, min_seconds: float):
    """The policy as tagging reads tracks: a file that ends well before its header's declared duration
    (a truncated copy) is decode_failed, not tagged from the part that is there."""
    if name == "mu-llama":
        return MuLlamaParity(min_seconds=min_seconds, require_complete=True)
    if name == "whole":
        return WholeTrack(
            window_s=window_s, hop_s=hop_s, min_window_s=min(5.0, window_s), min_seconds=min_seconds, require_complete=True
        )
    raise ValueError(f"unknown window policy {name!r}; use 'whole' or 'mu-llama'")


def policy_record(name: str, window_s: float, hop_s: float) -> dict:
    """The window policy as features rows record it: MU-LLaMA's view is one 60 s window whatever the settings."""
    if name == "mu-llama":
        return {"window_policy": name, "window_s": MU_LLAMA_SECONDS, "hop_s": MU_LLAMA_SECONDS}
    return {"window_policy": name, "window_s": float(window_s), "hop_s": float(hop_s)}


def _ok_indices(batch: dict) -> list[int]:
    return [i for i, status in enumerate(batch["status"]) if status == OK]


def _mark_error(batch: dict, index: int, kind: str, reason: str) -> None:
    batch["status"][index] = ERROR
    batch["error_kind"][index] = kind
    batch["error"][index] = f"{kind}: {reason}"


# Longest audio a track ships inline from the decode stage to MERT (sum of its windows' lengths):
# 6 minutes of 24 kHz float32 is 34.6 MB. A longer track ships no samples; MERT reads it again as a
# stream of window groups, so no process ever holds a long track whole.
MAX_INLINE_SECONDS = 360.0


class TrackWindows:
    """Reads a track's windows under one window policy: the same view in the decode and MERT stages."""

    def __init__(
        self,
        policy: str = "whole",
        window_s: float = 30.0,
        hop_s: float = 30.0,
        min_seconds: float = 1.0,
        endpoint_url: str | None = None,
    ):
        self.policy = window_policy(policy, window_s, hop_s, min_seconds)
        self.endpoint_url = endpoint_url

    @contextmanager
    def open(self, uri: str):
        """Yields (opened track, its window iterator); hashing happens on open."""
        location = open_location(uri, self.endpoint_url)
        with open_track(location, location.root) as opened:
            yield opened, self.policy.windows(opened.source)


class DecodeStage:
    """uri -> content hash + audio windows at 24 kHz (concatenated, with per-window lengths).

    Tracks whose windows hold more than `max_inline_s` seconds of audio are decoded to the end (so a
    corrupt tail is found here) but ship no samples: `streamed` tells MERT to read them as a stream.

    A truncated file (audio ending well before its header's declared duration) is found only at the end
    of its stream: the window iterator raises decode_failed after yielding the earlier windows. Nothing
    leaves this stage before that iteration ends, so such a track becomes an error row here, never a
    streamed or inline ok row; MERT's second read of a streamed track raises the same error before it
    returns any means, should the file be cut between the two reads."""

    def __init__(
        self,
        policy: str = "whole",
        window_s: float = 30.0,
        hop_s: float = 30.0,
        min_seconds: float = 1.0,
        endpoint_url: str | None = None,
        max_inline_s: float = MAX_INLINE_SECONDS,
    ):
        self.reader = TrackWindows(policy, window_s, hop_s, min_seconds, endpoint_url)
        self.max_inline_samples = int(max_inline_s * self.reader.policy.sample_rate)

    def __call__(self, batch: dict) -> dict:
        n = len(batch["uri"])
        out = {key: np.asarray(batch[key]) for key in ("uri", "fingerprint")}
        # Missing text values travel as "" (not None) so every batch has the same Arrow types.
        out.update(
            track_id=np.full(n, "", dtype=object),
            bytes=np.zeros(n, dtype=np.int64),
            format=np.full(n, "", dtype=object),
            duration_s=np.full(n, np.nan),
            sample_rate=np.zeros(n, dtype=np.int32),
            channels=np.zeros(n, dtype=np.int32),
            status=np.full(n, OK, dtype=object),
            error_kind=np.full(n, "", dtype=object),
            error=np.full(n, "", dtype=object),
            audio=np.empty(n, dtype=object),
            window_lengths=np.empty(n, dtype=object),
            streamed=np.zeros(n, dtype=bool),
        )
        for i, uri in enumerate(out["uri"]):
            out["audio"][i] = np.zeros(0, dtype=np.float32)
            out["window_lengths"][i] = np.zeros(0, dtype=np.int64)
            try:
                self._decode_one(str(uri), i, out)
            except AudioError as exc:
                _mark_error(out, i, exc.kind, exc.reason)
            except FileNotFoundError:
                _mark_error(out, i, "not_found", "the file does not exist (or disappeared after it was listed)")
            except OSError as exc:
                _mark_error(out, i, "unreadable", f"the file could not be read ({exc.__class__.__name__}: {exc})")
            except Exception as exc:
                # The store failing under a read (an S3 endpoint that died mid-run) is a transient error row that a
                # rerun retries, not a failed task that would stop the job.
                if not is_remote_store_failure(exc):
                    raise
                _mark_error(out, i, "unreadable", f"the file could not be read: {s3_reason(exc)}.")
        return out

    def _decode_one(self, uri: str, i: int, out: dict) -> None:
        kept, lengths, held, extent = [], [], 0, 0.0
        with self.reader.open(uri) as (opened, windows):
            out["track_id"][i], out["bytes"][i] = opened.track_id, opened.size
            info = probe(opened.source)
            out["format"][i], out["sample_rate"][i], out["channels"][i] = info.format, info.sample_rate, info.channels
            if not isinstance(opened.source, str):
                opened.source.seek(0)
            for window in windows:  # lazy: decoding starts here, after the probe
                extent = window.start_s + window.duration_s
                held += len(window.samples)
                lengths.append(len(window.samples))
                if held <= self.max_inline_samples:
                    kept.append(window.samples)
                else:
                    kept = []
        if not lengths:
            raise AudioError("empty", "the track holds no audio samples")
        out["duration_s"][i] = info.duration_s if np.isfinite(info.duration_s) else extent
        if held > self.max_inline_samples:
            out["streamed"][i] = True
            return
        out["audio"][i] = np.concatenate(kept).astype(np.float32, copy=False)
        out["window_lengths"][i] = np.array(lengths, dtype=np.int64)


def _retry_rows_alone(batch: dict, indices: list[int], run, kind: str) -> dict:
    """Run `run(indices)` on the whole batch; if it fails, run row by row so one bad track fails alone."""
    try:
        return run(indices)
    except Exception:  # noqa: BLE001 - a model failure on one track must not stop the job
        results = {}
        for i in indices:
            try:
                results.update(run([i]))
            except Exception as exc:  # noqa: BLE001
                _mark_error(batch, i, kind, f"{exc.__class__.__name__}: {exc}".splitlines()[0][:300])
        return results


class MertStage:
    """Audio windows -> per-layer time-means of MERT hidden states, averaged over windows (weighted by length).

    The windows of every inline track in the batch share model calls (`MertEncoder.track_layer_means`;
    windows_per_call: windows per model call, None to let the encoder choose, from free memory on a GPU).
    A streamed track (too long to ship inline) is read again here under the same window policy (`decode`
    holds DecodeStage's policy settings), one group of windows at a time, so its memory stays that of one group."""

    STREAM_GROUP = 8  # windows of a streamed track held at once when windows_per_call is None

    def __init__(self, model, device: str | None = None, windows_per_call: int | None = None, decode: dict | None = None):
        self.encoder = model.load_mert(device=device)
        self.windows_per_call = windows_per_call
        decode = dict(decode or {})
        decode.pop("max_inline_s", None)
        self.reader = TrackWindows(**decode)

    def __call__(self, batch: dict) -> dict:
        n = len(batch["uri"])
        layers, hidden = self.encoder.num_layers + 1, self.encoder.hidden_size
        means = np.zeros((n, layers, hidden), dtype=np.float32)
        streamed = batch.get("streamed", np.zeros(n, dtype=bool))

        def run(indices):
            tracks = [_windows(batch["audio"][i], batch["window_lengths"][i]) for i in indices]
            return dict(zip(indices, self.encoder.track_layer_means(tracks, batch_size=self.windows_per_call)))

        inline = [i for i in _ok_indices(batch) if not streamed[i]]
        for i, value in _retry_rows_alone(batch, inline, run, "mert_failed").items():
            means[i] = value
        for i in (i for i in _ok_indices(batch) if streamed[i]):
            try:
                means[i] = self._streamed_means(batch, i)
            except OSError as exc:
                _mark_error(batch, i, "unreadable", f"the file could not be read again ({exc.__class__.__name__}: {exc})")
            except AudioError as exc:
                _mark_error(batch, i, exc.kind, exc.reason)
            except Exception as exc:  # noqa: BLE001 - a model failure on one track must not stop the job
                if is_remote_store_failure(exc):
                    _mark_error(batch, i, "unreadable", f"the file could not be read again: {s3_reason(exc)}.")
                    continue
                _mark_error(batch, i, "mert_failed", f"{exc.__class__.__name__}: {exc}".splitlines()[0][:300])
        out = {k: v for k, v in batch.items() if k not in ("audio", "window_lengths", "streamed")}
        out["mert_layer_means"] = means
        return out

    def _streamed_means(self, batch: dict, i: int) -> np.ndarray:
        with self.reader.open(str(batch["uri"][i])) as (opened, windows):
            if opened.track_id != batch["track_id"][i]:
                raise OSError("the file changed while it was being tagged")
            return self._weighted_mean(window.samples for window in windows)

    def _weighted_mean(self, windows: Iterator[np.ndarray]) -> np.ndarray:
        """Length-weighted mean of per-window layer means, fed to MERT one group of windows at a time."""
        size = self.windows_per_call or self.STREAM_GROUP
        total, samples, group = None, 0, []
        for window in windows:
            group.append(window)
            if len(group) == size:
                total, samples = self._add_group(group, total, samples)
                group = []
        if group:
            total, samples = self._add_group(group, total, samples)
        return (total / samples).astype(np.float32)

    def _add_group(self, group: list[np.ndarray], total, samples: int):
        lengths = np.array([len(w) for w in group], dtype=np.float64)
        part = np.tensordot(lengths, self.encoder.layer_means(group), axes=1)
        return (part if total is None else total + part), samples + int(lengths.sum())


def _windows(audio: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [audio[bounds[j] : bounds[j + 1]] for j in range(len(lengths))]


class CaptionStage:
    """MERT layer means -> scene caption (batched generation)."""

    def __init__(
        self,
        model,
        device: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 0.75,
        seed: int = 0,
    ):
        self.captioner = model.load_captioner(device=device)
        self.question = model.question
        self.generation = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)

    def __call__(self, batch: dict) -> dict:
        n = len(batch["uri"])
        captions = np.full(n, "", dtype=object)

        def run(indices):
            result = self.captioner.generate(np.asarray(batch["mert_layer_means"][indices]), self.question, **self.generation)
            return dict(zip(indices, result.texts))

        for i, text in _retry_rows_alone(batch, _ok_indices(batch), run, "caption_failed").items():
            captions[i] = text
        out = dict(batch)
        out["caption"] = captions
        out["question"] = np.full(n, self.question, dtype=object)
        return out


def audio_embedding(layer_means: np.ndarray) -> np.ndarray:
    """ "More like this" vector: the mean over MERT layers of the time-means, L2-normalised ([..., hidden])."""
    vector = layer_means.mean(axis=-2)
    norm = np.linalg.norm(vector, axis=-1, keepdims=True)
    return (vector / np.maximum(norm, 1e-12)).astype(np.float32)


class EmbedStage:
    """Caption -> normalised text embedding; MERT layer means -> normalised audio embedding."""

    def __init__(self, embedder_name: str | None = None, device: str | None = None):
        from musiscene_core.models.text_embedder import TextEmbedder

        self.embedder = TextEmbedder(embedder_name, device=device) if embedder_name else TextEmbedder(device=device)

    def __call__(self, batch: dict) -> dict:
        n = len(batch["uri"])
        ok = _ok_indices(batch)
        text = np.zeros((n, self.embedder.dim), dtype=np.float32)
        if ok:
            text[ok] = self.embedder.embed([str(batch["caption"][i]) for i in ok])
        out = dict(batch)
        out["caption_embedding"] = text
        out["audio_embedding"] = audio_embedding(np.asarray(batch["mert_layer_means"]))
        out["embed_model"] = np.full(n, self.embedder.name, dtype=object)
        return out


class ShardWriter:
    """Writes one atomic shard per table for the batch and returns a small summary batch."""

    def __init__(
        self, dst: str, model_version: str, window_policy: dict, endpoint_url: str | None = None, run_id: str | None = None
    ):
        from musiscene_core.tagging.store import OutputStore

        self.store = OutputStore.open(dst, endpoint_url)
        self.model_version = model_version
        self.window_policy = window_policy  # policy_record(...) of the run: written on every features row
        self.run_id = run_id

    def _shard_id(self, batch: dict) -> str:
        """Within a run, the same tracks always get the same shard name: a write retried after its worker or node
        died (Ray re-runs lost tasks) replaces its own shard instead of committing the tracks twice."""
        if self.run_id is None:
            return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        digest = hashlib.sha256("\n".join(f"{u}\t{f}" for u, f in zip(batch["uri"], batch["fingerprint"])).encode())
        return f"{self.run_id}-{digest.hexdigest()[:16]}"

    def __call__(self, batch: dict) -> dict:
        shard_id = self._shard_id(batch)
        ok = _ok_indices(batch)
        if ok:
            ids = [batch["track_id"][i] for i in ok]
            features = tables.features_table(
                ids,
                np.asarray(batch["mert_layer_means"])[ok],
                np.asarray(batch["audio_embedding"])[ok],
                self.model_version,
                self.window_policy,
            )
            captions = tables.captions_table(
                ids,
                [batch["question"][i] for i in ok],
                [batch["caption"][i] for i in ok],
                np.asarray(batch["caption_embedding"])[ok],
                [batch["embed_model"][i] for i in ok],
                self.model_version,
            )
            self.store.write_table(tables.FEATURES, shard_id, features)
            self.store.write_table(tables.CAPTIONS, shard_id, captions)
        tracks = tables.tracks_table(batch, self.model_version, dt.datetime.now(dt.timezone.utc))
        self.store.write_table(tables.TRACKS, shard_id, tracks)
        return {
            "uri": np.asarray(batch["uri"]),
            "status": np.asarray(batch["status"]),
            "error_kind": np.asarray(batch["error_kind"]),
            "duration_s": np.asarray(batch["duration_s"], dtype=np.float64),
        }


class ModelChain:
    """MERT -> caption -> embeddings in one actor: on CPU-only machines the three stages compete for the
    same cores anyway, and one process loads torch and the models once instead of three times."""

    def __init__(
        self, model, device: str | None = None, embedder_name: str | None = None, decode: dict | None = None, **generation
    ):
        self.stages = (
            MertStage(model, device=device, decode=decode),
            CaptionStage(model, device=device, **generation),
            EmbedStage(embedder_name, device=device),
        )

    def __call__(self, batch: dict) -> dict:
        for stage in self.stages:
            batch = stage(batch)
        return batch
