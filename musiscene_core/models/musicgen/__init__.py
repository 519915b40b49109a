"""MusicGen through transformers: loading (hub id, local directory or the tiny random model) and long-form generation."""

from musiscene_core.models.musicgen.generation import MusicGenerator
from musiscene_core.models.musicgen.loading import DEFAULT_MUSICGEN, load_musicgen
from musiscene_core.models.musicgen.tiny import make_tiny_musicgen

__all__ = ["DEFAULT_MUSICGEN", "MusicGenerator", "load_musicgen", "make_tiny_musicgen"]
