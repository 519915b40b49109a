"""The stages of the tagging pipeline as plain callable classes.

Each `__init__` loads what it needs once; each `__call__` maps a batch (a dict of numpy arrays, one
entry per track) to a batch. The same classes run in unit tests, in the sequential reference loop and
as Ray Data actor pools. A track that fails anywhere keeps flowing as an error row with a reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import numpy as np
import pyarrow as pa

from musiscene_core import tables
from musiscene_core.audio import AudioError, MuLlamaParity, WholeTrack, probe
from musiscene_core.catalog.reading import open_track
from musiscene_core.catalog.storage import open_location

OK, ERROR = "ok", "error"


def window_policy(name: str, window_s: float, hop_s: float, min_seconds: float):
    if name == "mu-llama":
        return MuLlamaParity(min_seconds=min_seconds)
    if name == "whole":
        return WholeTrack(window_s=window_s, hop_s=hop_s, min_window_s=min(5.0, window_s), min_seconds=min_seconds)
    raise ValueError(f"unknown window policy {name!r}; use 'whole' or 'mu-llama'")


def _ok_indices(batch: dict) -> list[int]:
    return [i for i, status in enumerate(batch["status"]) if status == OK]


def _mark_error(batch: dict, index: int, kind: str, reason: str) -> None:
    batch["status"][index] = ERROR
    batch["error_kind"][index] = kind
    batch["error"][index] = f"{kind}: {reason}"


class DecodeStage:
    """uri -> content hash + audio windows at 24 kHz (concatenated, with per-window lengths)."""

    def __init__(self, policy: str = "whole", window_s: float = 30.0, hop_s: float = 30.0,
                 min_seconds: float = 1.0, endpoint_url: str | None = None):
        self.policy = window_policy(policy, window_s, hop_s, min_seconds)
        self.endpoint_url = endpoint_url

    def __call__(self, batch: dict) -> dict:
        n = len(batch["uri"])
        out = {key: np.asarray(batch[key]) for key in ("uri", "fingerprint")}
        # Missing text values travel as "" (not None) so every batch has the same Arrow types.
        out.update(
            track_id=np.full(n, "", dtype=object), bytes=np.zeros(n, dtype=np.int64), format=np.full(n, "", dtype=object),
            duration_s=np.full(n, np.nan), sample_rate=np.zeros(n, dtype=np.int32), channels=np.zeros(n, dtype=np.int32),
            status=np.full(n, OK, dtype=object), error_kind=np.full(n, "", dtype=object), error=np.full(n, "", dtype=object),
            audio=np.empty(n, dtype=object), window_lengths=np.empty(n, dtype=object),
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
        return out

    def _decode_one(self, uri: str, i: int, out: dict) -> None:
        location = open_location(uri, self.endpoint_url)
        with open_track(location, location.root) as opened:
            out["track_id"][i], out["bytes"][i] = opened.track_id, opened.size
            info = probe(opened.source)
            out["format"][i], out["sample_rate"][i], out["channels"][i] = info.format, info.sample_rate, info.channels
            if not isinstance(opened.source, str):
                opened.source.seek(0)
            windows = list(self.policy.windows(opened.source))
        if not windows:
            raise AudioError("empty", "the track holds no audio samples")
        extent = windows[-1].start_s + windows[-1].duration_s
        out["duration_s"][i] = info.duration_s if np.isfinite(info.duration_s) else extent
        out["audio"][i] = np.concatenate([w.samples for w in windows]).astype(np.float32, copy=False)
        out["window_lengths"][i] = np.array([len(w.samples) for w in windows], dtype=np.int64)


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
    """Audio windows -> per-layer time-means of MERT hidden states, averaged over windows (weighted by length)."""

    def __init__(self, model, device: str | None = None, windows_per_call: int = 8):
        self.encoder = model.load_mert(device=device)
        self.windows_per_call = windows_per_call

    def __call__(self, batch: dict) -> dict:
        n = len(batch["uri"])
        layers, hidden = self.encoder.num_layers + 1, self.encoder.hidden_size
        means = np.zeros((n, layers, hidden), dtype=np.float32)

        def run(indices):
            return {i: self._track_means(batch["audio"][i], batch["window_lengths"][i]) for i in indices}

        for i, value in _retry_rows_alone(batch, _ok_indices(batch), run, "mert_failed").items():
            means[i] = value
        out = {k: v for k, v in batch.items() if k not in ("audio", "window_lengths")}
        out["mert_layer_means"] = means
        return out

    def _track_means(self, audio: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        windows = [audio[bounds[j]:bounds[j + 1]] for j in range(len(lengths))]
        parts = [self.encoder.layer_means(windows[s:s + self.windows_per_call]) for s in range(0, len(windows), self.windows_per_call)]
        per_window = np.concatenate(parts, axis=0)
        weights = np.asarray(lengths, dtype=np.float64) / float(np.sum(lengths))
        return np.tensordot(weights, per_window, axes=1).astype(np.float32)


class CaptionStage:
    """MERT layer means -> scene caption (batched generation)."""

    def __init__(self, model, device: str | None = None, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 0.75, seed: int = 0):
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
    """"More like this" vector: the mean over MERT layers of the time-means, L2-normalised ([..., hidden])."""
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


def _nullable(values) -> list:
    return [str(v) if v else None for v in values]


class ShardWriter:
    """Writes one atomic shard per table for the batch and returns a small summary batch."""

    def __init__(self, dst: str, model_version: str, endpoint_url: str | None = None, run_id: str | None = None):
        from musiscene_core.tagging.store import OutputStore

        self.store = OutputStore.open(dst, endpoint_url)
        self.model_version = model_version
        self.run_id = run_id

    def _shard_id(self, batch: dict) -> str:
        """Within a run, the same tracks always get the same shard name: a write retried after its worker or node
        died (Ray re-runs lost tasks) replaces its own shard instead of committing the tracks twice."""
        if self.run_id is None:
            return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        digest = hashlib.sha256("\n".join(f"{u}\t{f}" for u, f in zip(batch["uri"], batch["fingerprint"])).encode())
        return f"{self.run_id}-{digest.hexdigest()[:16]}"

    def __call__(self, batch: dict) -> dict:
        n = len(batch["uri"])
        shard_id = self._shard_id(batch)
        ok = _ok_indices(batch)
        versions = [self.model_version] * n
        if ok:
            means = np.asarray(batch["mert_layer_means"])[ok]
            _, layers, hidden = means.shape
            audio = np.asarray(batch["audio_embedding"])[ok]
            text = np.asarray(batch["caption_embedding"])[ok]
            ids = [batch["track_id"][i] for i in ok]
            features = pa.Table.from_arrays(
                [
                    pa.array(ids, pa.string()),
                    pa.FixedSizeListArray.from_arrays(pa.array(means.astype(np.float16).reshape(-1)), layers * hidden),
                    pa.array([layers] * len(ok), pa.int32()),
                    pa.array([hidden] * len(ok), pa.int32()),
                    pa.FixedSizeListArray.from_arrays(pa.array(audio.reshape(-1)), audio.shape[1]),
                    pa.array(versions[: len(ok)], pa.string()),
                ],
                schema=tables.features_schema(layers, hidden, audio.shape[1]),
            )
            captions = pa.Table.from_arrays(
                [
                    pa.array(ids, pa.string()),
                    pa.array([batch["question"][i] for i in ok], pa.string()),
                    pa.array([batch["caption"][i] for i in ok], pa.string()),
                    pa.FixedSizeListArray.from_arrays(pa.array(text.reshape(-1)), text.shape[1]),
                    pa.array([batch["embed_model"][i] for i in ok], pa.string()),
                    pa.array(versions[: len(ok)], pa.string()),
                ],
                schema=tables.captions_schema(text.shape[1]),
            )
            self.store.write_table(tables.FEATURES, shard_id, features)
            self.store.write_table(tables.CAPTIONS, shard_id, captions)
        now = dt.datetime.now(dt.timezone.utc)
        tracks = pa.Table.from_pydict(
            {
                "track_id": _nullable(batch["track_id"]),
                "uri": list(batch["uri"]),
                "bytes": [int(b) for b in batch["bytes"]],
                "fingerprint": list(batch["fingerprint"]),
                "format": _nullable(batch["format"]),
                "duration_s": [None if np.isnan(d) else float(d) for d in batch["duration_s"]],
                "sample_rate": [int(s) or None for s in batch["sample_rate"]],
                "channels": [int(c) or None for c in batch["channels"]],
                "status": list(batch["status"]),
                "error_kind": _nullable(batch["error_kind"]),
                "error": _nullable(batch["error"]),
                "model_version": versions,
                "tagged_at": [now] * n,
            },
            schema=tables.tracks_schema(),
        )
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

    def __init__(self, model, device: str | None = None, embedder_name: str | None = None, **generation):
        self.stages = (MertStage(model, device=device), CaptionStage(model, device=device, **generation),
                       EmbedStage(embedder_name, device=device))

    def __call__(self, batch: dict) -> dict:
        for stage in self.stages:
            batch = stage(batch)
        return batch
