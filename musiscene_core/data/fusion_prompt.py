"""The fusion prompt: a versioned template file that turns (video caption, music caption) into chat messages.

A template file holds the system message, a line with only `---`, then the user message with the
placeholders {video_caption} and {music_caption}. The built-in template ships with the package
(`musiscene_core/data/prompts/`); its version is its name plus a hash of its text, so an edited
template never passes for the old one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from musiscene_core.errors import UserError

DEFAULT_PROMPT = "scene_fusion_v1"
PLACEHOLDERS = ("{video_caption}", "{music_caption}")
_SEPARATOR = "\n---\n"


@dataclass(frozen=True)
class FusionPrompt:
    system: str
    user: str
    version: str

    def messages(self, video_caption: str, music_caption: str) -> list[dict]:
        # Plain replacement, not str.format: captions and templates may contain braces.
        user = self.user.replace("{video_caption}", video_caption.strip()).replace("{music_caption}", music_caption.strip())
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    @classmethod
    def parse(cls, text: str, name: str) -> FusionPrompt:
        if _SEPARATOR not in text:
            raise UserError(f"prompt template {name!r} needs a system message, a line with only '---', then the user message")
        system, user = (part.strip() for part in text.split(_SEPARATOR, 1))
        missing = [p for p in PLACEHOLDERS if p not in user]
        if missing:
            raise UserError(f"prompt template {name!r} lacks the placeholder(s) {', '.join(missing)} in its user message")
        return cls(system=system, user=user, version=f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}")


def load_prompt(path: str | None = None) -> FusionPrompt:
    """The built-in template, or a template file given by path."""
    if path is None:
        text = resources.files("musiscene_core.data").joinpath("prompts", f"{DEFAULT_PROMPT}.txt").read_text(encoding="utf-8")
        return FusionPrompt.parse(text, DEFAULT_PROMPT)
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"prompt template {path!r} does not exist")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"prompt template {path!r} cannot be read as UTF-8 text ({exc.__class__.__name__})") from exc
    return FusionPrompt.parse(text, file.stem)
