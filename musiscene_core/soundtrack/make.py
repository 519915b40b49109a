"""One soundtrack: prompt (scene caption of the video's audio, a music caption, or given text) -> MusicGen for the
video's whole duration -> loudness -> muxed under or instead of the original sound.

`SoundtrackMaker` loads its models once and then serves any number of videos (the CLI and the batch job's actors).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from musiscene_core.errors import UserError
from musiscene_core.soundtrack import loudness
from musiscene_core.soundtrack.video import MUX_RATE, check_muxable, mux, probe_video, read_audio

MIXES = ("replace", "under")
TOLERANCE_S = 0.1


@dataclass(frozen=True)
class SoundtrackSettings:
    model: str = "tiny"  # the captioner preset or model directory (for musiscene/music prompts)
    musicgen: str = "facebook/musicgen-small"
    prompt_source: str = "musiscene"  # musiscene | music | text:...
    mix: str = "replace"
    target_lufs: float = loudness.DEFAULT_TARGET_LUFS
    under_lu: float = loudness.DEFAULT_UNDER_LU
    window_s: float = 30.0
    stride_s: float = 18.0
    caption_tokens: int = 64
    seed: int = 0
    device: str | None = None

    def __post_init__(self):
        if self.mix not in MIXES:
            raise UserError(f"unknown mix {self.mix!r}; use {' or '.join(MIXES)}")
        if self.prompt_source not in ("musiscene", "music") and not self.prompt_source.startswith("text:"):
            raise UserError(f'unknown prompt source {self.prompt_source!r}; use musiscene, music or text:"..."')
        if self.prompt_source.startswith("text:") and not self.prompt_source[5:].strip():
            raise UserError('--prompt-source text: needs a prompt after the colon, e.g. text:"calm piano at dawn"')


@dataclass
class SoundtrackResult:
    video: str
    out: str
    prompt: str
    prompt_source: str
    duration_s: float
    music_lufs: float
    mix: str
    musicgen: str
    captioner: str | None
    random_weights: bool
    seconds: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


class _CaptionPrompter:
    """The project's captioner on the video's own audio (the tagging stages, one video at a time)."""

    def __init__(self, model: str, question: str | None, max_new_tokens: int, seed: int, device: str | None):
        from musiscene_core.models.presets import resolve_model
        from musiscene_core.tagging.stages import CaptionStage, DecodeStage, MertStage

        self.spec = resolve_model(model, question=question)
        self.decode = DecodeStage("whole", 30.0, 30.0, 1.0)
        self.mert = MertStage(self.spec, device=device)
        self.caption = CaptionStage(self.spec, device=device, max_new_tokens=max_new_tokens, seed=seed)

    def __call__(self, video: str) -> str:
        batch = {"uri": np.array([video], dtype=object), "fingerprint": np.array([""], dtype=object)}
        out = self.caption(self.mert(self.decode(batch)))
        if out["status"][0] != "ok":
            raise UserError(f"the sound of {video} could not be captioned ({out['error'][0]})")
        return " ".join(str(out["caption"][0]).split())


class SoundtrackMaker:
    def __init__(self, settings: SoundtrackSettings):
        from musiscene_core.models.musicgen import MusicGenerator, load_musicgen

        self.settings = settings
        self.musicgen = load_musicgen(settings.musicgen, device=settings.device)
        self.generator = MusicGenerator(self.musicgen, window_s=settings.window_s, stride_s=settings.stride_s, seed=settings.seed)
        self.prompter = None
        if not settings.prompt_source.startswith("text:"):
            from musiscene_core.models.presets import MU_LLAMA_QUESTION

            question = MU_LLAMA_QUESTION if settings.prompt_source == "music" else None
            self.prompter = _CaptionPrompter(settings.model, question, settings.caption_tokens, settings.seed, settings.device)

    @property
    def random_weights(self) -> bool:
        return self.musicgen.random_weights or bool(self.prompter and self.prompter.spec.random_weights)

    def __call__(self, video: str | Path, out: str | Path, on_window=None) -> SoundtrackResult:
        import soxr

        started = time.time()
        video, s = str(video), self.settings
        info = probe_video(video)
        check_muxable(video)
        notes = []
        if s.prompt_source.startswith("text:"):
            prompt = s.prompt_source[5:].strip()
        elif not info.has_audio:
            raise UserError(f'{video} has no audio to caption; give the prompt yourself with --prompt-source text:"..."')
        else:
            prompt = self.prompter(video)
        music = self.generator.generate(prompt, info.duration_s, on_window=on_window)
        music = soxr.resample(music.T.astype(np.float64), self.generator.sample_rate, MUX_RATE, quality="HQ").T
        samples = round(info.duration_s * MUX_RATE)
        music = np.pad(music, ((0, 0), (0, max(0, samples - music.shape[1]))))[:, :samples]
        if music.shape[0] == 1:
            music = np.repeat(music, 2, axis=0)
        if s.mix == "under" and info.has_audio:
            mixed = loudness.mix_under(read_audio(video), music, MUX_RATE, s.under_lu, s.target_lufs)
        else:
            if s.mix == "under":
                notes.append("the video has no sound of its own: the music replaces the silence")
            mixed = loudness.set_loudness(music, MUX_RATE, s.target_lufs)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        mux(video, mixed, out)
        return SoundtrackResult(
            video=video,
            out=str(out),
            prompt=prompt,
            prompt_source=s.prompt_source.split(":")[0],
            duration_s=info.duration_s,
            music_lufs=loudness.integrated_loudness(mixed, MUX_RATE),
            mix=s.mix,
            musicgen=self.musicgen.name,
            captioner=self.prompter.spec.name if self.prompter else None,
            random_weights=self.random_weights,
            seconds=time.time() - started,
            notes=notes,
        )


def make_soundtrack(video: str | Path, out: str | Path, settings: SoundtrackSettings, on_window=None) -> SoundtrackResult:
    return SoundtrackMaker(settings)(video, out, on_window=on_window)


def output_is_complete(video: str | Path, out: str | Path) -> bool:
    """True when `out` is a readable video whose audio covers the source video's duration (a finished soundtrack)."""
    if not Path(out).is_file():
        return False
    try:
        made, source = probe_video(out), probe_video(video)
    except UserError:
        return False
    return (
        made.has_audio
        and abs(made.duration_s - source.duration_s) <= TOLERANCE_S
        and made.audio_duration_s is not None
        and abs(made.audio_duration_s - source.duration_s) <= TOLERANCE_S
    )
