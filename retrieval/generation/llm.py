"""An OpenAI-compatible chat model through LangChain (`langchain-openai`'s ChatOpenAI).

Structured output: the server is asked for `{"answer": "..."}` under a JSON schema (`response_format`),
which llama.cpp, vLLM and OpenAI turn into a grammar, so the text can always be parsed; a server that
refuses the schema (400) is asked in plain text from then on.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from retrieval.generation.base import Generation, GenerationError, Generator, GeneratorConfig, Prompt

log = logging.getLogger(__name__)

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"},
                   # the numbers of the paragraphs the answer comes from: a small model often leaves the
                   # [n] markers out of the text, and the grammar makes it name them here
                   "sources": {"type": "array", "items": {"type": "integer"}}},
    "required": ["answer", "sources"],
    "additionalProperties": False,
}
_MARKER = re.compile(r"\[\d+\]")
RESPONSE_FORMAT = {"type": "json_schema",
                   "json_schema": {"name": "grounded_answer", "strict": True, "schema": ANSWER_SCHEMA}}


def _error(exc: BaseException) -> GenerationError:
    """Any failure of the client -> the GenerationError that names its kind."""
    import httpx
    import openai

    if isinstance(exc, GenerationError):
        return exc
    if isinstance(exc, openai.LengthFinishReasonError):
        return GenerationError("llm_malformed", "the answer reached the max_tokens limit before it was complete")
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
        return GenerationError("llm_timeout", f"the language model did not answer in time ({exc})")
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
        return GenerationError("llm_unavailable", f"cannot reach the language model: {exc}")
    if isinstance(exc, openai.APIStatusError):
        return GenerationError("llm_error", f"the language model answered {exc.status_code}: {str(exc)[:300]}")
    return GenerationError("llm_error", f"the language model call failed: {type(exc).__name__}: {str(exc)[:300]}")


def _schema_refused(exc: BaseException) -> bool:
    import openai

    return (isinstance(exc, openai.BadRequestError)
            and any(word in str(exc).lower() for word in ("response_format", "json_schema", "schema")))


def unwrap(text: str, structured: bool) -> str:
    """The answer inside the model's text: the JSON object's "answer" when structured, else the text."""
    if not structured:
        return text.strip()
    try:
        value = json.loads(text)
    except ValueError:
        raise GenerationError("llm_malformed", f"the model's output is not the JSON asked for: {text[:200]!r}") from None
    if not isinstance(value, dict) or not isinstance(value.get("answer"), str):
        raise GenerationError("llm_malformed", f"the model's JSON has no string 'answer': {text[:200]!r}")
    answer = value["answer"].strip()
    named = [n for n in value.get("sources") or [] if isinstance(n, int) and not isinstance(n, bool)]
    if answer and named and not _MARKER.search(answer):
        answer += "".join(f"[{n}]" for n in dict.fromkeys(named))  # verification re-marks what they do not support
    return answer


def partial_answer(text: str) -> str | None:
    """The "answer" string written so far in an unfinished JSON object (None before it starts)."""
    from langchain_core.utils.json import parse_partial_json

    try:
        value = parse_partial_json(text)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("answer"), str):
        return value["answer"]
    return None


class OpenAICompatibleGenerator(Generator):
    name = "openai-compatible"

    def __init__(self, config: GeneratorConfig) -> None:
        from langchain_openai import ChatOpenAI

        self.config = config
        self._structured = config.structured
        self._lock = threading.Lock()
        self._model = ChatOpenAI(base_url=config.base_url, api_key=config.api_key, model=config.model,
                                 timeout=config.timeout_s, max_retries=config.max_retries,
                                 max_tokens=config.max_tokens, temperature=config.temperature,
                                 stream_usage=True)

    @property
    def structured(self) -> bool:
        return self._structured

    def _messages(self, prompt: Prompt) -> list:
        from langchain_core.messages import HumanMessage, SystemMessage

        return [SystemMessage(prompt.system), HumanMessage(prompt.user)]

    def _runnable(self, structured: bool):
        return self._model.bind(response_format=RESPONSE_FORMAT) if structured else self._model

    def _plain_from_now_on(self, exc: BaseException) -> None:
        with self._lock:
            if self._structured:
                log.warning("the language model server refused a JSON schema; asking in plain text from now on "
                            "(%s)", str(exc)[:200])
                self._structured = False

    def generate(self, prompt: Prompt) -> Generation:
        structured = self._structured
        started = time.perf_counter()
        try:
            message = self._runnable(structured).invoke(self._messages(prompt))
        except Exception as exc:
            if structured and _schema_refused(exc):
                self._plain_from_now_on(exc)
                return self.generate(prompt)
            raise _error(exc) from exc
        seconds = time.perf_counter() - started
        content = message.content if isinstance(message.content, str) else ""
        usage = getattr(message, "usage_metadata", None) or {}
        return Generation(unwrap(content, structured), usage.get("output_tokens"), seconds, structured)

    def stream(self, prompt: Prompt) -> Iterator[str | Generation]:
        structured = self._structured
        started = time.perf_counter()
        raw, shown, chunks, tokens = "", "", 0, None
        try:
            for chunk in self._runnable(structured).stream(self._messages(prompt)):
                if time.perf_counter() - started > self.config.timeout_s:
                    raise GenerationError("llm_timeout", f"the answer took longer than {self.config.timeout_s} s")
                usage = getattr(chunk, "usage_metadata", None)
                if usage and usage.get("output_tokens"):
                    tokens = usage["output_tokens"]
                piece = chunk.content if isinstance(chunk.content, str) else ""
                if not piece:
                    continue
                chunks += 1
                raw += piece
                # the text a reader may see so far: the JSON's answer string, or the plain text
                text = partial_answer(raw) if structured else raw
                if text is not None and text.startswith(shown) and len(text) > len(shown):
                    yield text[len(shown):]
                    shown = text
        except Exception as exc:
            if structured and not raw and _schema_refused(exc):
                self._plain_from_now_on(exc)
                yield from self.stream(prompt)
                return
            raise _error(exc) from exc
        seconds = time.perf_counter() - started
        # servers that send no usage in a stream send one chunk per token
        yield Generation(unwrap(raw, structured), tokens or chunks, seconds, structured)
