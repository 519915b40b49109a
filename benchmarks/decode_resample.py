"""Decode + resample to 24 kHz mono: audio seconds per CPU second, ours against librosa.

    python -m benchmarks.decode_resample [--seconds 60] [--rounds 5]

Generates one 44.1 kHz stereo piece per format, then times `musiscene_core.audio.decode`, the
streaming `iter_chunks`, and the naive baseline `librosa.load(path, sr=24000, mono=True)`
(libsndfile + soxr "HQ", the same resampler quality as ours) on the same files in the same run.
The three take turns in each round (CPU time, all threads, after one untimed warm-up call); the report gives
the median with min–max over rounds. Writes benchmarks/results/decode_resample.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import av
import librosa
import numpy as np
import soundfile as sf
import soxr

from benchmarks.rounds import Machine, Spread, alternate, ratio
from musiscene_core.audio import SAMPLE_RATE, decode, iter_chunks, write_audio

RESULT_PATH = Path(__file__).parent / "results" / "decode_resample.md"
FORMATS = ["wav", "flac", "mp3", "ogg", "opus", "m4a"]
SOURCE_RATE = 44100


@dataclass
class Row:
    fmt: str
    audio_s: float
    ours_cpu_s: Spread
    streaming_cpu_s: Spread
    baseline_cpu_s: Spread | None  # None when librosa cannot read the format
    max_difference: float | None  # largest |ours - librosa| sample difference


def music_like(seconds: float, rate: int = SOURCE_RATE) -> np.ndarray:
    """Stereo chords with harmonics, a pulse and some noise: broadband, like real music."""
    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * rate)) / rate
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (164.8, 207.7, 246.9)]
    chord_index = (t // 2.0).astype(int) % len(chords)
    left = np.zeros_like(t)
    for voice in range(3):
        base = np.array([chord[voice] for chord in chords])[chord_index]
        for harmonic in (1, 2, 3):
            left += 0.08 / harmonic * np.sin(2 * np.pi * base * harmonic * t)
    pulse = np.exp(-((t % 0.5) * 30.0)) * rng.standard_normal(len(t)) * 0.2
    right = 0.8 * left + pulse
    left = left + 0.6 * pulse + 0.01 * rng.standard_normal(len(t))
    return np.stack([left, right], axis=1).astype(np.float32)


def librosa_load(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
    return samples


def measure(path: Path, fmt: str, audio_s: float, rounds: int) -> Row:
    ours = decode(path).samples
    works = {"ours": lambda: decode(path), "streaming": lambda: sum(len(c) for c in iter_chunks(path))}
    try:
        baseline = librosa_load(path)
        works["librosa"] = lambda: librosa_load(path)
    except Exception:  # librosa has no reader for this format here (audioread needs an ffmpeg binary)
        baseline = None
    times = alternate(works, rounds, clock=time.process_time)
    if baseline is None:
        return Row(fmt, audio_s, times["ours"], times["streaming"], None, None)
    n = min(len(ours), len(baseline))
    return Row(fmt, audio_s, times["ours"], times["streaming"], times["librosa"], float(np.abs(ours[:n] - baseline[:n]).max()))


def library_versions() -> str:
    codec_version = ".".join(map(str, av.library_versions["libavcodec"]))
    return (
        f"- PyAV {av.__version__} (libavcodec {codec_version}), soxr {soxr.__version__}, "
        f"soundfile {sf.__version__} (libsndfile {sf.__libsndfile_version__}), librosa {librosa.__version__}, "
        f"numpy {np.__version__}"
    )


def total(spreads: list[Spread]) -> Spread:
    """Per round, the CPU time of all formats together."""
    return Spread(tuple(sum(values) for values in zip(*(s.values for s in spreads))))


def report(rows: list[Row], seconds: float, rounds: int, machine: Machine) -> str:
    def speed(cpu: Spread | None, audio: float) -> str:
        return cpu.map(lambda t: audio / t).text("{:,.0f}") if cpu else "n/a"

    lines = [
        "# Decode + resample to 24 kHz mono",
        "",
        f"`python -m benchmarks.decode_resample --seconds {seconds:g} --rounds {rounds}`",
        "",
        f"One {seconds:g} s, {SOURCE_RATE} Hz stereo piece per format. Speeds are audio seconds per CPU second (higher "
        f"is better), median (min–max) over {rounds} rounds in which the three readers take turns, after a warm-up.",
        "`ours` = `musiscene_core.audio.decode`, `streaming` = `iter_chunks` (10 s chunks), "
        "`librosa` = `librosa.load(path, sr=24000, mono=True)`. The ratio is per round (librosa CPU time / ours).",
        "",
        "| format | ours | streaming | librosa | ours / librosa | max sample difference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        speedup = ratio(row.baseline_cpu_s, row.ours_cpu_s).text("{:.2f}x") if row.baseline_cpu_s else "n/a"
        difference = f"{row.max_difference:.1e}" if row.max_difference is not None else "n/a"
        lines.append(
            f"| {row.fmt} | {speed(row.ours_cpu_s, row.audio_s)} | {speed(row.streaming_cpu_s, row.audio_s)} | "
            f"{speed(row.baseline_cpu_s, row.audio_s)} | {speedup} | {difference} |"
        )
    both = [row for row in rows if row.baseline_cpu_s]
    audio = sum(row.audio_s for row in both)
    ours = total([row.ours_cpu_s for row in both])
    streaming = total([row.streaming_cpu_s for row in both])
    baseline = total([row.baseline_cpu_s for row in both])
    lines += [
        f"| **{'+'.join(row.fmt for row in both)}** | **{speed(ours, audio)}** | **{speed(streaming, audio)}** | "
        f"**{speed(baseline, audio)}** | **{ratio(baseline, ours).text('{:.2f}x')}** | |",
        "",
        "`n/a`: librosa cannot read the format on this machine (it falls back to audioread, which "
        "needs an ffmpeg executable). Sample differences come from the decoders (FFmpeg vs libsndfile's "
        "mpg123/libvorbis/libopus: different priming and rounding); both resample with soxr HQ.",
        "",
        "Machine:",
        "",
        *machine.lines(),
        library_versions(),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each generated piece")
    parser.add_argument("--rounds", type=int, default=5, help="timed repetitions per measurement")
    parser.add_argument("--out", type=Path, default=RESULT_PATH, help="report path")
    args = parser.parse_args()

    machine = Machine()
    piece = music_like(args.seconds)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for fmt in FORMATS:
            path = write_audio(Path(folder) / f"piece.{fmt}", piece, SOURCE_RATE, fmt)
            rows.append(measure(path, fmt, args.seconds, args.rounds))
            print(rows[-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(rows, args.seconds, args.rounds, machine))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
