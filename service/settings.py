"""The one configuration object of the service and the CLI (environment prefix NOTESQA_)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.builder import BuildError, index_backend_specs
from index.dense import DenseIndexError, dense_backend
from index.embedders import DEFAULT_EMBEDDER, EmbedderError, check_embedder_spec
from index.keyword import KeywordIndexError, keyword_backend
from retrieval.answer.arbiter import DEFAULT_ARBITER, ArbiterError, load_arbiter
from retrieval.answer.model import DEFAULT_MODEL
from retrieval.answer.span_reader import DEFAULT_READER
from retrieval.generation.base import GeneratorConfig  # the LLM's defaults have one home, beside the generator

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
    # the fine-tuned span reader that names the fact (`notesqa train reader`); "none": the answer model's spans
    span_reader: str = str(DEFAULT_READER)
    # the arbiter that weighs the answer model and the span reader (`notesqa train arbiter`); "none", or no span
    # reader: the answer model answers alone
    arbiter: str = str(DEFAULT_ARBITER)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_question_chars: int = Field(default=2000, ge=1)
    max_top_k: int = Field(default=50, ge=1)
    cors_origins: Annotated[list[str], NoDecode, BeforeValidator(parse_cors)] = []
    # --- operations: collections, keys, limits, audit (service/domain/operations.py, service/middleware.py) ---
    data_dir: Path = Path("var/data")  # collections/, jobs/, keys.json, view_links.key, audit/
    default_collection: str = "default"  # the name under which `index_dir` is served
    auth_required: bool = False  # refuse /v1 without a key even when keys.json is empty (set by `serve`)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)  # JSON bodies
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)  # document uploads; also what a .docx may inflate to
    max_json_depth: int = Field(default=32, ge=4, le=512)  # JSON bodies nested deeper are refused (400) before parsing
    rate_limit_per_minute: float = Field(default=600.0, ge=0)  # per key, or per client IP when open; 0 = off
    rate_limit_burst: int = Field(default=120, ge=1)
    # with no key configured (a single-user install), callers on loopback are not throttled at all
    rate_limit_loopback_when_open: bool = False
    max_concurrent_queries: int = Field(default=16, ge=1)  # ask/search admitted at once (then 503)
    queue_timeout_s: float = Field(default=10.0, gt=0)  # wait for a slot before answering 503
    request_timeout_s: float = Field(default=60.0, gt=0)  # ask/search answered 504 after this
    audit_enabled: bool = True
    audit_retention_days: int = Field(default=30, ge=1)
    metrics_public: bool = False  # /metrics without an admin key once keys exist
    view_link_ttl_days: int = Field(default=30, ge=1, le=365)  # how long a citation's view_token opens its document
    watch_interval_s: float = Field(default=2.0, ge=0)  # poll collections for snapshots the CLI built; 0 = off
    # index builds run on a worker thread with an embedder of their own, at this niceness (Linux: per thread),
    # so that questions, which have the CPU first, never wait on indexing
    build_niceness: int = Field(default=10, ge=0, le=19)
    build_stop_timeout_s: float = Field(default=10.0, ge=0)  # at shutdown, wait this long for a build to stop
    max_document_chars: int = Field(default=1_000_000, ge=1000)  # text of one uploaded document (then 413)
    # --- chat widget, pages, feedback (service/routes/, service/domain/feedback.py) ---
    feedback_path: Path | None = None  # JSONL of answer feedback; default: feedback.jsonl next to index_dir
    examples_path: Path | None = None  # example questions; default: examples.json of the indexed corpus
    stream_delay_ms: int = Field(default=20, ge=0, le=2000)  # pause between /v1/ask/stream deltas
    stream_chunk_chars: int = Field(default=20, ge=1, le=1000)  # a /v1/ask/stream delta ends at a sentence or here
    # --- conversations (service/domain/conversations.py) ---
    conversation_ttl_s: float = Field(default=3600, gt=0)  # a kept conversation expires this long after its last turn
    max_conversations: int = Field(default=10_000, ge=1)  # kept at once per process (least recently used go first)
    conversation_max_turns: int = Field(default=10, ge=1, le=20)  # the last turns kept (and read) per conversation
    # --- optional LLM answers (retrieval/generation/, service/domain/qa_service.py); off unless a base URL is set ---
    llm_base_url: str | None = None  # an OpenAI-compatible API, e.g. http://127.0.0.1:8081/v1 (vLLM, Ollama, llama.cpp)
    llm_backend: str = "openai-compatible"  # the generator (retrieval/generation/factory.py)
    llm_model: str = GeneratorConfig.model  # the model name sent; llama.cpp's server answers with the one it loaded
    llm_api_key: SecretStr = SecretStr(GeneratorConfig.api_key)  # sent as the bearer token; local servers ignore it
    # one whole answer, streamed or not; past it the extractive answer is given
    llm_timeout_s: float = Field(default=GeneratorConfig.timeout_s, gt=0)
    llm_max_tokens: int = Field(default=GeneratorConfig.max_tokens, ge=16, le=8192)
    llm_temperature: float = Field(default=GeneratorConfig.temperature, ge=0, le=2)
    llm_max_concurrent: int = Field(default=2, ge=1)  # answers generated at once; a question past them is answered
    # extractively at once (engine_note llm_busy) rather than queued behind answers that take seconds each

    @property
    def span_reader_path(self) -> Path | None:
        return None if self.span_reader.strip().lower() in ("", "none") else Path(self.span_reader)

    @field_validator("span_reader")
    @classmethod
    def readable_span_reader(cls, value: str) -> str:
        if value.strip().lower() not in ("", "none") and not Path(value).is_file():
            raise ValueError(f"no span reader file at {value} (train one with `notesqa train reader`, "
                             "or set NOTESQA_SPAN_READER=none)")
        return value

    @property
    def arbiter_path(self) -> Path | None:
        return None if self.arbiter.strip().lower() in ("", "none") else Path(self.arbiter)

    @model_validator(mode="after")
    def arbiter_fits_its_models(self) -> Settings:
        if self.arbiter_path is not None and self.span_reader_path is not None:
            try:
                load_arbiter(self.arbiter_path, DEFAULT_MODEL, self.span_reader_path)
            except ArbiterError as exc:
                raise ValueError(str(exc)) from exc
        return self

    @field_validator("embedder")
    @classmethod
    def known_embedder(cls, spec: str) -> str:
        try:
            return check_embedder_spec(spec)
        except EmbedderError as exc:
            raise ValueError(str(exc)) from None

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

    # --- scale: dense index backend, worker processes (index/dense.py, `notesqa serve --workers`) ---
    # the dense index builds use: "faiss-flat" (exact) or "faiss:<index_factory string>", e.g.
    # "faiss:HNSW32,Flat" or "faiss:IVF4096,SQ8?nprobe=64"; unset, a build keeps its folder's current one
    dense_index: str | None = None
    # what holds both indexes: "embedded" (FAISS as dense_index says, and bm25s, in the index folder) or a
    # Milvus engine, "milvus://host:19530" (index/milvus.py; token in NOTESQA_MILVUS_TOKEN); unset, a build
    # keeps its folder's current backends (embedded for a new folder)
    index_backend: str | None = None
    # the keyword index builds use: "bm25s", or "bm25s?scores=float16" (half the BM25 matrix's scores, which
    # a large index maps; index/keyword.py); unset, a build keeps its folder's current one
    keyword_index: str | None = None
    workers: int = Field(default=1, ge=1, le=64)  # `serve` processes sharing the port and the index folder

    @field_validator("dense_index", "index_backend", "keyword_index")
    @classmethod
    def known_index_spec(cls, spec: str | None, info: ValidationInfo) -> str | None:
        """A spec a build would refuse is refused at start-up instead."""
        if spec is None or not spec.strip():
            return None
        check = {"dense_index": dense_backend, "index_backend": index_backend_specs,
                 "keyword_index": keyword_backend}[info.field_name]
        try:
            check(spec.strip())
        except (DenseIndexError, KeywordIndexError, BuildError) as exc:
            raise ValueError(str(exc)) from None
        return spec.strip()

    @property
    def index_specs(self) -> tuple[str | None, str | None]:
        """(dense spec, keyword spec) a build uses (`index.builder.index_backend_specs`); BuildError when
        NOTESQA_INDEX_BACKEND disagrees with NOTESQA_DENSE_INDEX or NOTESQA_KEYWORD_INDEX."""
        return index_backend_specs(self.index_backend, self.dense_index, self.keyword_index)
