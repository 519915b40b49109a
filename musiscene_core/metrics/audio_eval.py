"""`evaluate audio`: FAD / FAD-inf between two folders and paired KL, with a per-clip table."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

import numpy as np

from musiscene_core.errors import UserError
from musiscene_core.metrics.audio import fad, fad_infinity, paired_kl


@dataclass
class AudioReport:
    summary: dict
    clips: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _stem(uri: str) -> str:
    return posixpath.splitext(posixpath.basename(uri))[0]


def _decode(uri: str, rate: int) -> np.ndarray:
    from musiscene_core.audio import decode

    return decode(uri, target_sr=rate, min_seconds=0.1).samples


def evaluate_audio(
    generated: list[str],
    reference: list[str],
    embedder,
    classifier=None,
    fad_inf_steps: int = 25,
    fad_inf_min_n: int = 500,
    seed: int = 0,
) -> AudioReport:
    """Generated and reference clips -> FAD, FAD-inf (embedder frames) and KL over clips paired by file name."""
    from musiscene_core.audio import AudioError

    clips, frames = [], {"generated": [], "reference": []}
    labels = {"generated": {}, "reference": {}}
    for role, uris in (("generated", generated), ("reference", reference)):
        for uri in uris:
            row = {"set": role, "file": uri, "status": "ok", "error": "", "frames": 0}
            try:
                wave = _decode(uri, embedder.sample_rate)
                embedded = embedder.frames(wave)
                frames[role].append(embedded)
                row["frames"] = int(embedded.shape[0])
                if classifier is not None:
                    labels[role][_stem(uri)] = classifier.distributions(_decode(uri, classifier.sample_rate))
            except AudioError as exc:
                row.update(status="error", error=f"{exc.kind}: {exc.reason}")
            except ValueError as exc:  # e.g. a clip shorter than the embedder's receptive field
                row.update(status="error", error=f"model_failed: {str(exc).splitlines()[0]}")
            clips.append(row)
    for role in frames:
        if sum(len(f) for f in frames[role]) < 2:
            raise UserError(f"the {role} set has no readable clip with at least two embedding frames")
    gen, ref = np.concatenate(frames["generated"]), np.concatenate(frames["reference"])
    try:
        distance = fad(gen, ref)
        inf = fad_infinity(gen, ref, steps=fad_inf_steps, min_n=fad_inf_min_n, seed=seed)
    except ValueError as exc:
        raise UserError(f"FAD could not be computed ({exc})") from None
    summary = {
        "embedding": embedder.name,
        "classifier": classifier.name if classifier else "",
        "generated_clips": len(frames["generated"]),
        "reference_clips": len(frames["reference"]),
        "generated_frames": int(gen.shape[0]),
        "reference_frames": int(ref.shape[0]),
        "fad": distance,
        "fad_inf": inf.value,
        "fad_inf_r2": inf.r2,
    }
    report = AudioReport(summary, clips)
    if gen.shape[0] < gen.shape[1] or ref.shape[0] < ref.shape[1]:
        report.notes.append(
            f"fewer embedding frames than dimensions ({gen.shape[1]}): the covariances are singular and FAD is unreliable"
        )
    if classifier is not None:
        names = sorted(set(labels["generated"]) & set(labels["reference"]))
        unpaired = len(labels["generated"]) + len(labels["reference"]) - 2 * len(names)
        if unpaired:
            report.notes.append(f"{unpaired} clips have no namesake in the other folder and are left out of KL")
        if names:
            kl = paired_kl([(labels["generated"][n], labels["reference"][n]) for n in names])
            summary.update(kl=kl.kl, kl_reverse=kl.kl_reverse, kl_both=kl.kl_both, kl_pairs=len(names))
            by_name = dict(zip(names, kl.per_pair))
            for row in clips:
                pair = by_name.get(_stem(row["file"])) if row["status"] == "ok" else None
                row.update(kl=pair[0] if pair else None, kl_reverse=pair[1] if pair else None, segments=pair[2] if pair else None)
        else:
            report.notes.append("no generated clip has a reference clip of the same name: KL is not computed")
    return report
