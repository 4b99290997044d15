"""Generator backends by config string (apart from base.py, which every backend imports)."""
from __future__ import annotations

from retrieval.generation.base import Generator, GeneratorConfig

BACKENDS = ("openai-compatible",)


def create_generator(spec: str, config: GeneratorConfig) -> Generator:
    """`spec`: "openai-compatible" (vLLM, Ollama, llama.cpp's llama-server, an OpenAI gateway)."""
    spec = spec.strip()
    if spec == "openai-compatible":
        from retrieval.generation.llm import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(config)
    raise ValueError(f"unknown generator {spec!r}: use one of {', '.join(BACKENDS)}")
