"""LLaMA's SentencePiece tokenizer, read straight from `tokenizer.model`.

transformers' `LlamaTokenizer(vocab_file=...)` can silently build a 3-token vocabulary, so the
captioner talks to sentencepiece directly and checks what it loaded. Ids and bos/eos handling
follow MU-LLaMA's tokenizer: `encode(text, bos, eos)` wraps `SentencePieceProcessor.encode`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sentencepiece import SentencePieceProcessor

from musiscene_core.errors import UserError


class LlamaTokenizer:
    """A SentencePiece model with LLaMA's special ids (bos, eos; pad is usually -1, i.e. none)."""

    def __init__(self, model_file: str | Path):
        path = Path(model_file)
        if not path.is_file():
            raise UserError(f"Tokenizer file {path} does not exist.")
        self.path = path
        self.model_bytes = path.read_bytes()
        self._sp = SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(self.model_bytes)
        except (RuntimeError, OSError) as exc:
            raise UserError(f"Tokenizer file {path} is not a SentencePiece model ({exc}).") from exc
        self.n_words: int = self._sp.vocab_size()
        self.bos_id: int = self._sp.bos_id()
        self.eos_id: int = self._sp.eos_id()
        self.pad_id: int = self._sp.pad_id()
        if self.n_words != self._sp.get_piece_size() or self.n_words < 3:
            raise UserError(f"Tokenizer file {path} holds an unusable vocabulary of {self.n_words} pieces.")
        if self.bos_id < 0 or self.eos_id < 0:
            raise UserError(f"Tokenizer file {path} defines no begin- or end-of-sequence token.")

    def encode(self, text: str, bos: bool, eos: bool) -> list[int]:
        ids = list(self._sp.encode(text))
        if bos:
            ids = [self.bos_id] + ids
        if eos:
            ids = ids + [self.eos_id]
        return ids

    def decode(self, ids: list[int]) -> str:
        return self._sp.decode(list(ids))

    def sha256(self) -> str:
        return hashlib.sha256(self.model_bytes).hexdigest()
