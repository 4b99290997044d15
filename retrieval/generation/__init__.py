"""Optional LLM answers: a chat model behind an OpenAI-compatible API writes the answer from the
numbered paragraphs the extractive reader found, and every claim it makes is checked against the
paragraph it cites (verification.py) before it is shown. Off unless a base URL is configured."""
from retrieval.generation.base import Generation, GenerationError, Generator, GeneratorConfig, Prompt
from retrieval.generation.factory import BACKENDS, create_generator
from retrieval.generation.grounded import GroundedAnswerer, Outcome, Plan
from retrieval.generation.settings import GenerationSettings, PromptSettings, VerificationSettings

__all__ = ["BACKENDS", "Generation", "GenerationError", "Generator", "GeneratorConfig", "GenerationSettings",
           "GroundedAnswerer", "Outcome", "Plan", "Prompt", "PromptSettings", "VerificationSettings",
           "create_generator"]
