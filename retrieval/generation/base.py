"""The generator interface (a chat model behind an API) and its errors; backends: factory.py."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass


class GenerationError(RuntimeError):
    """The model gave no usable text. `reason` is a stable code the response and the log carry:
    llm_unavailable (cannot connect), llm_timeout, llm_malformed (output not in the asked form),
    llm_error (the server answered an error)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class GeneratorConfig:
    base_url: str  # of an OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1
    model: str = "default"  # llama.cpp's server answers with the model it loaded, whatever is named here
    api_key: str = "not-needed"  # the OpenAI client insists on one; local servers ignore it
    timeout_s: float = 30.0  # one whole answer, streamed or not
    max_tokens: int = 256
    temperature: float = 0.0
    # JSON-schema structured output; turned off for the generator's life when the server refuses it
    structured: bool = True
    max_retries: int = 0  # a retry doubles a slow answer's wait: fall back at once instead


@dataclass
class Prompt:
    system: str
    user: str


@dataclass
class Generation:
    """A finished answer: the model's text (the answer itself, unwrapped from any JSON) and its cost."""
    text: str
    completion_tokens: int | None
    seconds: float
    structured: bool

    @property
    def tokens_per_s(self) -> float | None:
        if not self.completion_tokens or self.seconds <= 0:
            return None
        return self.completion_tokens / self.seconds


class Generator(ABC):
    name: str

    @abstractmethod
    def generate(self, prompt: Prompt) -> Generation:
        """The whole answer; raises GenerationError."""

    @abstractmethod
    def stream(self, prompt: Prompt) -> Iterator[str | Generation]:
        """The answer's text in pieces as the model writes them, then one Generation (the whole text);
        raises GenerationError, also after some pieces were given."""
