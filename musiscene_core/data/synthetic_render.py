"""Synthetic music with a controlled audible character: one scene class in, a mono float32 piece out.

Every part of a piece is rendered over the whole piece at once: a melodic line becomes per-sample
frequency and envelope tracks built with np.repeat over its notes, so a 10 s piece costs a few
dozen array operations rather than a Python loop over samples. Pieces are deterministic per
(scene, seed); the seed picks the key, tempo, melody, rhythm, chords, filter brightness and mix levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from musiscene_core.data.synthetic_scenes import AUDIO_STREAM, Pad, Scene, Voice, get_scene, scene_rng

DEFAULT_SAMPLE_RATE = 24000
DEFAULT_DURATION_S = 10.0

_SCALES = {
    "major": np.array([0, 2, 4, 5, 7, 9, 11]),
    "minor": np.array([0, 2, 3, 5, 7, 8, 10]),
}
# Chord roots as scale degrees: common progressions of each mode.
_PROGRESSIONS = {
    "major": np.array([0, 3, 4, 5]),  # I IV V vi
    "minor": np.array([0, 5, 2, 6]),  # i VI III VII
}
# Dissonant sets for the chromatic mode: semitone clusters and tritones.
_CLUSTERS = np.array([[0, 1, 6], [0, 1, 2], [0, 6, 11], [0, 1, 7]])
_CHROMATIC_STEPS = np.array([-6, -1, 1, 6, 11, -11, 0])


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


@dataclass(frozen=True)
class _Notes:
    """A monophonic line as contiguous segments covering the piece: rests have frequency 0."""

    lengths: np.ndarray  # samples per segment, sum == piece length
    freqs: np.ndarray  # Hz, 0 for a rest
    velocities: np.ndarray  # linear gain per segment


def _lowpass(x: np.ndarray, cutoff_hz: float, sample_rate: int, order: int = 1) -> np.ndarray:
    """`order` cascaded one-pole low-passes in one filter pass: cheap, and enough to move brightness audibly."""
    a = np.exp(-2.0 * np.pi * min(cutoff_hz, 0.45 * sample_rate) / sample_rate)
    b, den = np.array([1.0]), np.array([1.0])
    for _ in range(order):
        b, den = np.convolve(b, [1.0 - a]), np.convolve(den, [1.0, -a])
    return lfilter(b.astype(np.float32), den.astype(np.float32), x)


def _grid_lengths(total: int, step_samples: float) -> np.ndarray:
    """Segment lengths of a regular grid over `total` samples; rounding drift is absorbed, never lost."""
    edges = np.round(np.arange(0.0, total + step_samples, step_samples)).astype(np.int64)
    edges = np.unique(np.clip(edges, 0, total))
    if edges[-1] != total:
        edges = np.append(edges, total)
    return np.diff(edges)


def _melody(voice: Voice, mode: str, key: int, beat_s: float, total: int, sample_rate: int, rng) -> _Notes:
    lengths = _grid_lengths(total, beat_s / voice.notes_per_beat * sample_rate)
    steps = len(lengths)
    low, high = voice.register
    if mode == "chromatic":
        midi = low + np.cumsum(rng.choice(_CHROMATIC_STEPS, size=steps)) % (high - low + 1)
    else:
        scale = _SCALES[mode]
        # All scale notes of the key inside the register, then a random walk over their indices.
        octaves = np.arange(-1, 11)[:, None] * 12 + key + scale[None, :]
        notes = np.sort(octaves.ravel())
        notes = notes[(notes >= low) & (notes <= high)]
        walk = np.cumsum(rng.integers(-2, 3, size=steps)) + rng.integers(len(notes))
        span = 2 * (len(notes) - 1)
        walk = np.abs((walk % span + span) % span - (len(notes) - 1))  # reflect at the register edges
        midi = notes[len(notes) - 1 - walk]
    freqs = midi_to_hz(midi)
    freqs[rng.random(steps) < voice.rest_prob] = 0.0
    velocities = 10.0 ** (rng.uniform(-4.0, 0.0, size=steps) / 20.0)
    return _Notes(lengths, freqs, velocities)


def _chords(pad: Pad, mode: str, key: int, beat_s: float, total: int, sample_rate: int, rng) -> list[_Notes]:
    """Three voices of a chord sequence (or cluster sequence), one _Notes per voice."""
    lengths = _grid_lengths(total, beat_s * pad.beats_per_chord * sample_rate)
    count = len(lengths)
    low, high = pad.root_register
    base = low + (key - low) % 12
    base = base if base <= high else base - 12
    if mode == "chromatic":
        roots = base + rng.integers(-2, 3, size=count)
        intervals = _CLUSTERS[rng.integers(len(_CLUSTERS), size=count)]
    else:
        scale = _SCALES[mode]
        degrees = rng.choice(_PROGRESSIONS[mode], size=count)
        degrees[0] = 0  # start on the tonic so the key is heard
        # Triads stacked on the scale: degree, degree+2, degree+4 (wrapping into the next octave).
        stacked = degrees[:, None] + np.array([0, 2, 4])[None, :]
        semis = scale[stacked % 7] + 12 * (stacked // 7)
        roots = base + semis[:, 0]
        intervals = semis - semis[:, :1]
    velocities = np.ones(count)
    return [_Notes(lengths, midi_to_hz(roots + intervals[:, v]), velocities) for v in range(intervals.shape[1])]


class _Clock:
    """Per-piece constants shared by every part: sample count, rate and a float32 sample index."""

    def __init__(self, total: int, sample_rate: int):
        self.total = total
        self.sample_rate = sample_rate
        self.index = np.arange(total, dtype=np.float32)  # exact: float32 holds integers below 2**24


def _envelope(notes: _Notes, clock: _Clock, attack_s: float, decay_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample gain (attack, optional exponential decay, 10 ms release, velocity; 0 in rests) and time in note (s)."""
    starts = np.concatenate([[0], np.cumsum(notes.lengths)[:-1]]).astype(np.float32)
    gain = np.where(notes.freqs > 0, notes.velocities, 0.0).astype(np.float32)
    t_in = (clock.index - np.repeat(starts, notes.lengths)) * np.float32(1.0 / clock.sample_rate)
    left = np.repeat((notes.lengths / clock.sample_rate).astype(np.float32), notes.lengths) - t_in
    envelope = np.minimum(t_in * np.float32(1.0 / attack_s), 1.0)
    envelope *= np.minimum(left * np.float32(100.0), 1.0)  # 10 ms fade before each note ends: no clicks
    envelope *= np.repeat(gain, notes.lengths)
    if decay_s is not None:
        envelope *= np.exp(t_in * np.float32(-1.0 / decay_s))
    return envelope, t_in


def _phase(freqs: np.ndarray, notes: _Notes, t_in: np.ndarray, sample_rate: int) -> np.ndarray:
    """Phase in cycles wrapped to [0, 1), continuous across notes.

    Each note's starting phase is summed in float64 over notes (a few hundred values); within a note
    the phase is start + f * t in float32, precise enough because t never exceeds one note.
    """
    ends = np.cumsum(freqs * notes.lengths / sample_rate)
    starts = np.concatenate([[0.0], ends[:-1]])
    starts = (starts - np.floor(starts)).astype(np.float32)
    cycles = np.repeat(starts, notes.lengths) + np.repeat(freqs.astype(np.float32), notes.lengths) * t_in
    return cycles - np.floor(cycles)


def _oscillator(timbre: str, cycles: np.ndarray) -> np.ndarray:
    if timbre == "sine":
        return np.sin(np.float32(2 * np.pi) * cycles)
    if timbre == "saw":
        return np.float32(2.0) * cycles - np.float32(1.0)
    if timbre == "square":
        return np.where(cycles < 0.5, np.float32(0.7), np.float32(-0.7))
    raise ValueError(f"unknown timbre {timbre!r}")


def _render_line(notes: _Notes, timbre: str, attack_s: float, decay_s: float, cutoff_hz: float, clock: _Clock) -> np.ndarray:
    """A melodic line; pluck and bell shape their partials' decays themselves."""
    if timbre == "pluck":
        # A bright saw transient that dies in tens of ms over a slower sine body: a plucked string.
        envelope, t_in = _envelope(notes, clock, attack_s, decay_s)
        cycles = _phase(notes.freqs, notes, t_in, clock.sample_rate)
        transient = (np.float32(2.0) * cycles - np.float32(1.0)) * np.exp(t_in * np.float32(-1.0 / 0.04))
        wave = (np.sin(np.float32(2 * np.pi) * cycles) + transient) * envelope
    elif timbre == "bell":
        # Inharmonic partials (free-free bar ratios) whose higher partials fade first: a music-box tine.
        envelope, t_in = _envelope(notes, clock, attack_s, None)
        wave = np.zeros(clock.total, dtype=np.float32)
        for ratio, gain, speed in ((1.0, 1.0, 1.0), (2.756, 0.5, 2.5), (5.404, 0.25, 5.0)):
            cycles = _phase(notes.freqs * ratio, notes, t_in, clock.sample_rate)
            wave += np.sin(np.float32(2 * np.pi) * cycles) * np.exp(t_in * np.float32(-speed / decay_s)) * np.float32(gain)
        wave *= envelope
    else:
        envelope, t_in = _envelope(notes, clock, attack_s, decay_s)
        wave = _oscillator(timbre, _phase(notes.freqs, notes, t_in, clock.sample_rate)) * envelope
    return _lowpass(wave, cutoff_hz, clock.sample_rate)


def _render_pad(voices: list[_Notes], pad: Pad, clock: _Clock, rng) -> np.ndarray:
    """Chord voices share one rhythm, so they share one envelope and one filter pass."""
    envelope, t_in = _envelope(voices[0], clock, pad.attack_s, None)
    wave = np.zeros(clock.total, dtype=np.float32)
    for notes in voices:
        # Slight detune per voice gives the pad its width.
        wave += _oscillator(pad.timbre, _phase(notes.freqs * rng.uniform(0.997, 1.003), notes, t_in, clock.sample_rate))
    return _lowpass(wave * envelope, pad.cutoff_hz, clock.sample_rate)


def _hits(clock: _Clock, positions: np.ndarray) -> np.ndarray:
    """Seconds since the most recent hit (inf before the first): the clock every drum envelope runs on."""
    marks = np.full(clock.total, -1, dtype=np.int64)
    positions = positions[(positions >= 0) & (positions < clock.total)]
    marks[positions] = positions
    last = np.maximum.accumulate(marks)
    since = (clock.index - last.astype(np.float32)) * np.float32(1.0 / clock.sample_rate)
    since[last < 0] = np.inf
    return since


def _decay(since: np.ndarray, time_constant: float) -> np.ndarray:
    return np.exp(since * np.float32(-1.0 / time_constant))


def _kick(since: np.ndarray, f_start: float, f_end: float, sweep_s: float, decay_s: float) -> np.ndarray:
    # Closed-form phase of an exponential pitch sweep f_end + (f_start - f_end) * exp(-t / sweep_s).
    t = np.where(np.isfinite(since), since, np.float32(0.0))
    cycles = f_end * t + np.float32((f_start - f_end) * sweep_s) * (np.float32(1.0) - _decay(t, sweep_s))
    return np.sin(np.float32(2 * np.pi) * cycles) * _decay(since, decay_s)


def _drums(style: str, beat_s: float, clock: _Clock, noise: np.ndarray) -> np.ndarray:
    grid = np.round(np.arange(0.0, clock.total, beat_s / 4 * clock.sample_rate)).astype(np.int64)  # sixteenths
    step = np.arange(len(grid))
    hiss = np.diff(noise, prepend=np.float32(0.0))  # first difference: a crude high-pass for hats and cymbals
    if style == "driving":
        kick = _kick(_hits(clock, grid[step % 4 == 0]), 150.0, 50.0, 0.03, 0.18)
        snare = noise * _decay(_hits(clock, grid[step % 8 == 4]), 0.08)  # beats 2 and 4
        hats = hiss * _decay(_hits(clock, grid), 0.02)
        return kick + np.float32(0.5) * snare + np.float32(0.35) * hats
    if style == "war":
        # Taiko-like low toms on a syncopated pattern, a roll on the last beat of each bar, a cymbal every 4 bars.
        toms = _kick(_hits(clock, grid[np.isin(step % 16, [0, 3, 6, 8, 10, 11])]), 110.0, 60.0, 0.06, 0.35)
        rolls = _lowpass(noise * _decay(_hits(clock, grid[step % 16 >= 12]), 0.06), 2500.0, clock.sample_rate)
        crashes = hiss * _decay(_hits(clock, grid[step % 64 == 0]), 0.8)
        return toms + np.float32(0.4) * rolls + np.float32(0.3) * crashes
    raise ValueError(f"unknown drum style {style!r}")


def _texture(kind: str, clock: _Clock, noise: np.ndarray, rng) -> np.ndarray:
    if kind == "waves":
        # Surf: darkened noise swelling and receding every 6-10 s.
        t = clock.index * np.float32(1.0 / clock.sample_rate)
        swell = np.sin(np.float32(2 * np.pi * rng.uniform(0.1, 0.16)) * t + np.float32(rng.uniform(0, 2 * np.pi))) ** 2
        return _lowpass(noise * swell, 700.0, clock.sample_rate, order=2)
    if kind == "rumble":
        return _lowpass(noise, 120.0, clock.sample_rate, order=2)
    raise ValueError(f"unknown texture {kind!r}")


# Surf sits under the music; the rumble is the horror scene's floor, so it is louder.
_TEXTURE_LEVEL_DB = {"waves": -8.0, "rumble": -4.0}


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.dot(x, x) / x.size)) if x.size else 0.0


def _mix_part(mix: np.ndarray, part: np.ndarray, level_db: float, rng) -> None:
    """Add a part at its level (plus a per-piece jitter of a few dB) relative to unit RMS."""
    rms = _rms(part)
    if rms > 0:
        mix += part * np.float32(10.0 ** ((level_db + rng.uniform(-1.5, 1.5)) / 20.0) / rms)


def generate_piece(
    scene: str | Scene,
    seed: int,
    duration_s: float = DEFAULT_DURATION_S,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
) -> np.ndarray:
    """A mono float32 piece of `scene`, the same for the same (scene, seed, duration, rate), within [-1, 1]."""
    spec = get_scene(scene)
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")
    total = int(round(duration_s * sample_rate))
    if total < 1:
        raise ValueError(f"duration_s must give at least one sample, got {duration_s}")
    clock = _Clock(total, sample_rate)
    rng = scene_rng(spec.name, seed, AUDIO_STREAM)
    beat_s = 60.0 / rng.uniform(*spec.tempo_bpm)
    key = int(rng.integers(12))
    mix = np.zeros(clock.total, dtype=np.float32)
    for voice in (spec.lead, spec.bass):
        if voice is not None:
            notes = _melody(voice, spec.mode, key, beat_s, clock.total, sample_rate, rng)
            cutoff = voice.cutoff_hz * rng.uniform(0.9, 1.1)
            _mix_part(mix, _render_line(notes, voice.timbre, voice.attack_s, voice.decay_s, cutoff, clock), voice.level_db, rng)
    if spec.pad is not None:
        voices = _chords(spec.pad, spec.mode, key, beat_s, clock.total, sample_rate, rng)
        _mix_part(mix, _render_pad(voices, spec.pad, clock, rng), spec.pad.level_db, rng)
    if spec.drums is not None or spec.texture is not None:
        noise = rng.standard_normal(clock.total, dtype=np.float32)
        if spec.drums is not None:
            _mix_part(mix, _drums(spec.drums, beat_s, clock, noise), 0.0, rng)
        if spec.texture is not None:
            _mix_part(mix, _texture(spec.texture, clock, noise, rng), _TEXTURE_LEVEL_DB[spec.texture], rng)
    return _master(mix, spec.loudness_dbfs + rng.uniform(-2.0, 2.0))


def _master(mix: np.ndarray, loudness_dbfs: float) -> np.ndarray:
    """Scale to the target RMS, then soft-clip what exceeds full scale (loud scenes get audibly denser)."""
    rms = _rms(mix)
    if rms > 0:
        mix *= np.float32(10.0 ** (loudness_dbfs / 20.0) / rms)
    if mix.size and float(np.max(np.abs(mix))) > 0.95:
        mix = np.float32(0.99) * np.tanh(mix * np.float32(1 / 0.99))
    return mix


SOUNDFILE_FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16")}


def write_soundfile(path: str | Path, samples: np.ndarray, sample_rate: int, format: str) -> None:
    """Write a mono piece as 16-bit WAV or FLAC with soundfile; other formats need musiscene_core.audio."""
    try:
        container, subtype = SOUNDFILE_FORMATS[format.lower()]
    except KeyError:
        raise ValueError(
            f"format {format!r} is not written by soundfile here (only {', '.join(SOUNDFILE_FORMATS)}); "
            "pass musiscene_core.audio's write_audio as the writer"
        ) from None
    sf.write(str(path), samples, sample_rate, format=container, subtype=subtype)
