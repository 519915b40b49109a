"""Fusion: an instruction LLM turns a video caption and a music caption into a scene caption.

Two back ends answer the same chat messages: an OpenAI-compatible `/chat/completions` endpoint
(vLLM, TGI, llama.cpp server, hosted APIs) through httpx, or a local transformers causal LM. Every
answer is checked before it becomes training data: empty answers, refusals and degenerate text
(repetition loops, word salad, a few words, an essay) are marked as failures with a reason, never
kept as captions.

Failure kinds: llm_timeout, llm_unreachable, llm_unavailable (5xx/429 after retries), llm_rejected
(other 4xx), llm_bad_response (not an OpenAI chat completion), llm_empty, llm_refusal,
llm_degenerate, llm_failed (a local model raised).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from musiscene_core.errors import UserError

DEFAULT_API_KEY_ENV = "MUSISCENE_LLM_API_KEY"
_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}

_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry,|i apologi[sz]e|i can'?not|i can'?t|i'?m (?:not )?(?:able|unable)|i am (?:not )?(?:able|unable)"
    r"|i won'?t|as an ai|as a language model|i'?m just an ai|i do not feel comfortable|unfortunately,? i)",
    re.IGNORECASE,
)
_PREAMBLE = re.compile(r"^\s*(?:scene(?: description)?|answer|description)\s*:\s*", re.IGNORECASE)
MIN_WORDS, MAX_WORDS = 4, 120


@dataclass
class FusionAnswer:
    """One fusion's outcome: the cleaned scene caption, or an error kind and a one-sentence reason."""

    text: str = ""
    error_kind: str = ""
    error: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return not self.error_kind


def clean_answer(text: str) -> str:
    """Strip whitespace runs, a 'Scene:' style label and wrapping quotes."""
    text = " ".join(text.split())
    text = _PREAMBLE.sub("", text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def check_answer(text: str) -> tuple[str, str]:
    """('', '') for a usable scene caption, else (error kind, reason)."""
    if not text.strip():
        return "llm_empty", "the model answered with empty text"
    if _REFUSAL.match(text):
        return "llm_refusal", f"the model refused: {text[:120]!r}"
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text)
    letters = sum(ch.isalpha() for ch in text)
    if letters < 0.6 * len(text.replace(" ", "")):
        return "llm_degenerate", f"the answer is mostly not words: {text[:80]!r}"
    if len(words) < MIN_WORDS:
        return "llm_degenerate", f"the answer has {len(words)} word(s), fewer than {MIN_WORDS}: {text[:80]!r}"
    if len(words) > MAX_WORDS:
        return "llm_degenerate", f"the answer has {len(words)} words, more than {MAX_WORDS} (not a scene caption)"
    lowered = [w.lower() for w in words]
    if len(lowered) >= 8 and len(set(lowered)) < 0.35 * len(lowered):
        return "llm_degenerate", f"the answer repeats itself ({len(set(lowered))} distinct words of {len(lowered)})"
    trigrams = list(zip(lowered, lowered[1:], lowered[2:]))
    if trigrams and max(trigrams.count(t) for t in set(trigrams)) >= 3:
        return "llm_degenerate", "the answer repeats the same phrase three times or more"
    return "", ""


def finish(raw: str, answer: FusionAnswer) -> FusionAnswer:
    text = clean_answer(raw)
    kind, reason = check_answer(text)
    if kind:
        answer.error_kind, answer.error = kind, f"{kind}: {reason}"
    else:
        answer.text = text
    return answer


@dataclass(frozen=True)
class EndpointSettings:
    """How to reach an OpenAI-compatible chat endpoint; picklable, so each Ray actor builds its own client."""

    url: str  # base URL, e.g. http://vllm:8000/v1 (a trailing /chat/completions is accepted)
    model: str
    api_key_env: str = DEFAULT_API_KEY_ENV
    timeout_s: float = 60.0
    retries: int = 3  # further attempts after the first, for timeouts, connection errors, 5xx and 429
    backoff_s: float = 1.0  # first wait; doubles each retry, capped at 30 s (a Retry-After header wins)
    max_tokens: int = 96
    temperature: float = 0.0
    seed: int | None = 0

    def validate(self) -> EndpointSettings:
        if not re.match(r"^https?://[^/\s]+", self.url):
            raise UserError(f"--llm-endpoint must be an http(s) URL like http://host:8000/v1, not {self.url!r}")
        if not self.model:
            raise UserError("--llm-model is required with --llm-endpoint (the model name the server serves)")
        if self.timeout_s <= 0 or self.retries < 0 or self.backoff_s < 0 or self.max_tokens < 1:
            raise UserError("LLM timeout and max tokens must be positive, retries and backoff non-negative")
        return self

    @property
    def completions_url(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


class EndpointFusion:
    """Chat completions over HTTP with a timeout per attempt and retries with exponential backoff."""

    def __init__(self, settings: EndpointSettings, sleep=time.sleep):
        import httpx

        self.settings = settings
        self._sleep = sleep
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(settings.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(timeout=httpx.Timeout(settings.timeout_s), headers=headers)

    def close(self) -> None:
        self._client.close()

    def fuse(self, messages: list[dict]) -> FusionAnswer:
        import httpx

        s = self.settings
        body = {"model": s.model, "messages": messages, "max_tokens": s.max_tokens, "temperature": s.temperature}
        if s.seed is not None:
            body["seed"] = s.seed
        answer = FusionAnswer()
        for attempt in range(s.retries + 1):
            answer.attempts = attempt + 1
            wait = min(30.0, s.backoff_s * 2**attempt)
            try:
                response = self._client.post(s.completions_url, json=body)
            except httpx.TimeoutException:
                kind, reason = "llm_timeout", f"no answer within {s.timeout_s:g} s"
            except httpx.TransportError as exc:
                kind, reason = "llm_unreachable", f"the endpoint cannot be reached ({exc.__class__.__name__})"
            else:
                if response.status_code == 200:
                    return self._parse(response, answer)
                kind = "llm_unavailable" if response.status_code in _RETRYABLE_STATUS else "llm_rejected"
                reason = f"HTTP {response.status_code}: {response.text[:160].strip()!r}"
                if kind == "llm_rejected":
                    break
                wait = max(wait, min(30.0, _retry_after(response)))
            if attempt < s.retries:
                self._sleep(wait)
        answer.error_kind = kind
        answer.error = f"{kind}: {reason} (after {answer.attempts} attempt{'s' if answer.attempts > 1 else ''})"
        return answer

    @staticmethod
    def _parse(response, answer: FusionAnswer) -> FusionAnswer:
        try:
            data = response.json()
            content = data["choices"][0]["message"]["content"]
            usage = data.get("usage") or {}
            answer.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            answer.completion_tokens = int(usage.get("completion_tokens") or 0)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            answer.error_kind = "llm_bad_response"
            answer.error = f"llm_bad_response: the endpoint's answer is not a chat completion: {response.text[:120]!r}"
            return answer
        if content is not None and not isinstance(content, str):
            answer.error_kind, answer.error = "llm_bad_response", "llm_bad_response: the message content is not text"
            return answer
        return finish(content or "", answer)


def _retry_after(response) -> float:
    try:
        return float(response.headers.get("retry-after", 0))
    except ValueError:
        return 0.0


class LocalFusion:
    """A local transformers causal LM (model directory or hub id) answering the same chat messages."""

    def __init__(self, source: str, device: str | None = None, max_new_tokens: int = 96):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForCausalLM.from_pretrained(source).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise UserError(
                f"cannot load fusion model {source!r} ({str(exc).splitlines()[0]}); "
                "without network access pass a local model directory"
            ) from exc
        if len(self.tokenizer) < 10:
            raise UserError(f"the tokenizer of fusion model {source!r} did not load (empty vocabulary)")
        self.max_new_tokens = max_new_tokens

    def close(self) -> None:
        pass

    def _prompt_ids(self, messages: list[dict]):
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
        text = "\n\n".join(m["content"] for m in messages) + "\n\nScene:"
        return self.tokenizer(text, return_tensors="pt")["input_ids"]

    def fuse(self, messages: list[dict]) -> FusionAnswer:
        import torch

        answer = FusionAnswer(attempts=1)
        try:
            ids = self._prompt_ids(messages).to(self.device)
            with torch.inference_mode():
                out = self.model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                )
            new = out[0, ids.shape[1] :]
            answer.prompt_tokens, answer.completion_tokens = int(ids.shape[1]), int(new.shape[0])
            raw = self.tokenizer.decode(new, skip_special_tokens=True)
        except Exception as exc:  # noqa: BLE001 - one failed generation must not stop the job
            answer.error_kind = "llm_failed"
            answer.error = f"llm_failed: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            return answer
        return finish(raw, answer)


@dataclass(frozen=True)
class FusionSettings:
    """Which fusion back end a run uses: an endpoint, or a local model (`local_model`)."""

    endpoint: EndpointSettings | None = None
    local_model: str | None = None
    concurrency: int = 4  # requests in flight per fusion actor

    @property
    def model_name(self) -> str:
        return self.endpoint.model if self.endpoint else f"local:{self.local_model}"

    def validate(self) -> FusionSettings:
        if (self.endpoint is None) == (self.local_model is None):
            raise UserError(
                "choose one fusion model: --llm-endpoint URL with --llm-model NAME, or --llm-model DIR|HUB_ID alone for a local model"
            )
        if self.concurrency < 1:
            raise UserError("llm-concurrency must be at least 1")
        if self.endpoint:
            self.endpoint.validate()
        return self

    def build(self, device: str | None = None):
        if self.endpoint is not None:
            return EndpointFusion(self.endpoint)
        return LocalFusion(self.local_model, device=device)
