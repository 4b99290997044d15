"""Dense vector indexes behind one interface, chosen by a config string (like `embedders.py`).

"faiss-flat" (default): FAISS `IndexFlatIP`, exact inner product (cosine: the embedders' vectors are
unit length), stored as `dense.faiss` in the snapshot folder. Approximate backends (HNSW, IVF) and
engine backends plug in here: a subclass and an entry in `_BACKENDS`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

DEFAULT_DENSE_INDEX = "faiss-flat"


class DenseIndexError(ValueError):
    """An unknown dense index spec."""


class DenseIndex(ABC):
    """Rows are numbered in the order their vectors were added (the snapshot's searchable rows)."""

    spec: str  # the config string `create_dense_index` makes this index from (written to the manifest)

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    @abstractmethod
    def size(self) -> int:
        """How many rows the index holds."""

    @abstractmethod
    def add(self, vectors: np.ndarray) -> None:
        """Append rows (float32, shape (n, dimension))."""

    @abstractmethod
    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """-> (scores, rows), each of shape (queries, k), best first; a row of -1 where fewer than k exist."""

    @abstractmethod
    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of `rows`, shape (len(rows), dimension): exact scores for rows a search left out."""

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the index into the snapshot folder `folder` (its files are checksummed by the snapshot)."""

    @classmethod
    @abstractmethod
    def load(cls, folder: Path) -> "DenseIndex": ...


class FlatIPIndex(DenseIndex):
    """FAISS `IndexFlatIP`: every row scored exactly."""

    spec = "faiss-flat"
    FILE = "dense.faiss"

    def __init__(self, dimension: int, index: faiss.Index | None = None) -> None:
        self._index = index if index is not None else faiss.IndexFlatIP(dimension)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._index.search(np.ascontiguousarray(query_vectors, dtype=np.float32).reshape(-1, self.dimension), k)

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        if not len(rows):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._index.reconstruct(int(r)) for r in rows]).astype(np.float32)

    def save(self, folder: Path) -> None:
        faiss.write_index(self._index, str(Path(folder) / self.FILE))

    @classmethod
    def load(cls, folder: Path) -> "FlatIPIndex":
        index = faiss.read_index(str(Path(folder) / cls.FILE))
        return cls(index.d, index)


_BACKENDS: dict[str, type[DenseIndex]] = {FlatIPIndex.spec: FlatIPIndex}


def dense_backend(spec: str) -> type[DenseIndex]:
    """The class `spec` names; an unknown spec raises DenseIndexError naming the known ones."""
    try:
        return _BACKENDS[spec]
    except KeyError:
        raise DenseIndexError(f"unknown dense index {spec!r}: use one of {', '.join(map(repr, _BACKENDS))}") \
            from None


def create_dense_index(spec: str = DEFAULT_DENSE_INDEX, *, dimension: int) -> DenseIndex:
    """Factory: an empty index of `spec` for vectors of `dimension`."""
    return dense_backend(spec)(dimension)


def load_dense_index(spec: str, folder: Path) -> DenseIndex:
    """The index of `spec` that `save` wrote into `folder`."""
    return dense_backend(spec).load(folder)
