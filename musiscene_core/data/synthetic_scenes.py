"""Scene classes of the synthetic music generator: audible character, caption templates, caption scoring.

Each class pairs a clearly audible musical character (tempo, register, timbre, mode, density,
loudness) with caption templates that all name one of the class's keywords, so a caption can be
scored back to its class by `classify_caption`. Keyword sets are disjoint across classes and no
template names another class's keyword (the tests check both), which keeps that scoring exact.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Voice:
    """A monophonic melodic line (lead or bass) drawn on a rhythmic grid."""

    timbre: str  # sine, saw, square, pluck or bell
    register: tuple[int, int]  # MIDI note range of the line
    notes_per_beat: float  # grid resolution: 0.5 = half notes, 4 = sixteenths
    rest_prob: float  # chance a grid step is silent: sparseness
    level_db: float  # mix level relative to the other parts
    cutoff_hz: float  # one-pole low-pass: dark (hundreds of Hz) to bright (kHz)
    attack_s: float
    decay_s: float  # exponential decay time constant within a note


@dataclass(frozen=True)
class Pad:
    """Sustained chords (or clusters) changing every `beats_per_chord` beats."""

    timbre: str  # sine or saw
    root_register: tuple[int, int]  # MIDI range of the chord's lowest note
    beats_per_chord: int
    level_db: float
    cutoff_hz: float
    attack_s: float


@dataclass(frozen=True)
class Scene:
    """One scene class: its captions and the musical parameters that make it sound the way they say."""

    name: str
    title: str
    keywords: frozenset[str]
    templates: tuple[str, ...]
    tempo_bpm: tuple[float, float]
    mode: str  # major, minor, or chromatic (dissonant clusters and tritones)
    loudness_dbfs: float  # target RMS of the finished piece
    lead: Voice | None
    bass: Voice | None
    pad: Pad | None
    drums: str | None  # driving (kick, snare, sixteenth hats) or war (low toms, rolls)
    texture: str | None  # waves (slow swelling noise) or rumble (low noise bed)


SCENES: dict[str, Scene] = {
    scene.name: scene
    for scene in (
        Scene(
            name="calm_sea",
            title="calm night by the sea",
            keywords=frozenset({"sea", "seaside", "ocean", "shore", "shoreline", "beach", "tide", "moonlit"}),
            templates=(
                "a calm night by the sea, waves rolling in under the moonlight",
                "moonlit water washing over a quiet shore while the town sleeps",
                "a lonely walk along the beach at night, soft tide and distant harbour lights",
                "a gentle ocean at midnight, a slow and peaceful drift beneath the stars",
                "an empty seaside promenade on a calm night, boats rocking softly on the sea",
                "two friends sitting on the shoreline on a calm night, listening to the sea",
            ),
            tempo_bpm=(56.0, 68.0),
            mode="minor",
            loudness_dbfs=-26.0,
            lead=Voice("sine", (62, 74), 0.5, 0.3, -6.0, 1500.0, 0.25, 1.5),
            bass=None,
            pad=Pad("sine", (48, 57), 8, 0.0, 900.0, 1.5),
            drums=None,
            texture="waves",
        ),
        Scene(
            name="neon_chase",
            title="chase through a neon city",
            keywords=frozenset({"neon", "chase", "chased", "chasing", "pursuit", "getaway"}),
            templates=(
                "a high speed chase through a neon city at night",
                "motorbikes racing down rain soaked streets under neon signs, a frantic pursuit",
                "a getaway car weaving through traffic between glowing skyscrapers",
                "a cyberpunk hacker chased through neon-lit city streets at night",
                "running through crowded neon alleys with the police close behind",
                "a tense rooftop pursuit above a futuristic downtown, sirens everywhere",
            ),
            tempo_bpm=(150.0, 172.0),
            mode="minor",
            loudness_dbfs=-12.0,
            lead=Voice("square", (76, 91), 4.0, 0.1, 0.0, 9000.0, 0.003, 0.2),
            bass=Voice("saw", (36, 48), 2.0, 0.0, -2.0, 1200.0, 0.003, 0.3),
            pad=None,
            drums="driving",
            texture=None,
        ),
        Scene(
            name="sunny_picnic",
            title="sunny picnic in the park",
            keywords=frozenset({"picnic", "picnics", "meadow", "sunny", "sunshine"}),
            templates=(
                "a sunny picnic in the park with friends and a basket of fruit",
                "children playing in a flowery meadow on a bright spring afternoon",
                "a family picnic by the river, laughter and lemonade in the sunshine",
                "a carefree sunny day in the countryside, bicycles and blue sky",
                "lying on a blanket in a green meadow, birds singing overhead",
                "a cheerful picnic on the hillside with kites dancing in the breeze",
            ),
            tempo_bpm=(100.0, 116.0),
            mode="major",
            loudness_dbfs=-18.0,
            lead=Voice("pluck", (64, 81), 2.0, 0.15, 0.0, 6000.0, 0.002, 0.25),
            bass=Voice("pluck", (45, 57), 1.0, 0.1, -4.0, 2500.0, 0.002, 0.4),
            pad=None,
            drums=None,
            texture=None,
        ),
        Scene(
            name="horror_corridor",
            title="horror corridor",
            keywords=frozenset({"horror", "corridor", "corridors", "haunted", "creepy", "eerie"}),
            templates=(
                "a dark corridor in an abandoned hospital, something moving in the shadows",
                "walking alone through a haunted house as the lights flicker out",
                "a horror film scene, a door creaking open at the end of a long hallway",
                "an eerie basement where whispers echo from the walls",
                "a creepy figure standing motionless at the end of the corridor",
                "a haunted asylum, footsteps approaching down a dark corridor",
            ),
            tempo_bpm=(40.0, 55.0),
            mode="chromatic",
            loudness_dbfs=-24.0,
            lead=None,
            bass=None,
            pad=Pad("saw", (28, 38), 8, 0.0, 350.0, 2.0),
            drums=None,
            texture="rumble",
        ),
        Scene(
            name="epic_battle",
            title="epic battle",
            keywords=frozenset({"battle", "battles", "battlefield", "war", "army", "armies", "warriors", "siege"}),
            templates=(
                "an epic battle on a vast plain, two armies charging at each other",
                "warriors raising their swords as the siege of the castle begins",
                "a fantasy army marching to war beneath a stormy sky",
                "the final battle of a great war, banners burning and drums pounding",
                "knights on horseback crashing into the enemy lines on the battlefield",
                "a heroic last stand as the army defends the city walls",
            ),
            tempo_bpm=(120.0, 138.0),
            mode="minor",
            loudness_dbfs=-11.0,
            lead=Voice("saw", (55, 67), 2.0, 0.2, 0.0, 3000.0, 0.02, 0.3),
            bass=Voice("saw", (28, 40), 1.0, 0.0, -3.0, 1000.0, 0.01, 0.6),
            pad=Pad("saw", (45, 55), 4, 0.0, 3500.0, 0.05),
            drums="war",
            texture=None,
        ),
        Scene(
            name="snowy_morning",
            title="quiet snowy morning",
            keywords=frozenset({"snow", "snowy", "snowfall", "snowflakes", "winter", "frost", "frosty"}),
            templates=(
                "a quiet snowy morning, snowflakes falling past the window",
                "a small cabin in the winter woods, smoke rising from the chimney",
                "children waking up to fresh snow on a holiday morning",
                "a frosty dawn over a snowy village, rooftops white with frost",
                "a music box playing in a cosy room while snowfall covers the garden",
                "footprints in the snow on a silent winter path through the pines",
            ),
            tempo_bpm=(72.0, 88.0),
            mode="major",
            loudness_dbfs=-22.0,
            lead=Voice("bell", (72, 86), 2.0, 0.35, 0.0, 9000.0, 0.001, 0.6),
            bass=None,
            pad=Pad("sine", (60, 67), 8, -10.0, 2000.0, 1.0),
            drums=None,
            texture=None,
        ),
    )
}

SCENE_NAMES: tuple[str, ...] = tuple(SCENES)


def get_scene(scene: str | Scene) -> Scene:
    """The Scene for a name (or the Scene itself); unknown names raise with the list of known ones."""
    if isinstance(scene, Scene):
        return scene
    try:
        return SCENES[scene]
    except KeyError:
        raise ValueError(f"unknown scene {scene!r}; known scenes: {', '.join(SCENE_NAMES)}") from None


def scene_rng(scene: str, seed: int, stream: int) -> np.random.Generator:
    """A generator fixed by (scene, seed, stream): crc32 rather than hash() so it is stable across processes."""
    return np.random.default_rng([zlib.crc32(scene.encode()), int(seed), stream])


# Streams of scene_rng: the caption and the audio of a piece draw independently.
AUDIO_STREAM = 0
CAPTION_STREAM = 1


def scene_caption(scene: str | Scene, seed: int) -> str:
    """The caption of piece `seed` of `scene`: one of the scene's templates, chosen by the seed."""
    spec = get_scene(scene)
    rng = scene_rng(spec.name, seed, CAPTION_STREAM)
    return spec.templates[int(rng.integers(len(spec.templates)))]


_WORD = re.compile(r"[a-z]+")


def classify_caption(text: str) -> str | None:
    """The scene class a caption names, by whole-word keyword matches; None when it names none or a tie.

    Case and punctuation are ignored ("NEON-lit" names neon_chase). When words of several classes
    appear, the class with the most keyword occurrences wins; an exact tie is ambiguous and gives None.
    """
    words = _WORD.findall(text.lower())
    counts = {name: sum(word in scene.keywords for word in words) for name, scene in SCENES.items()}
    best = max(counts.values())
    if best == 0:
        return None
    winners = [name for name, count in counts.items() if count == best]
    return winners[0] if len(winners) == 1 else None
