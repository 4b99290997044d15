"""Keyword (BM25) indexes behind one interface, chosen by a config string (like `embedders.py`).

"bm25s" (default): bm25s with its own defaults, stored as the folder `keyword/` in the snapshot folder.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

DEFAULT_KEYWORD_INDEX = "bm25s"


class KeywordIndexError(ValueError):
    """An unknown keyword index spec."""


class KeywordIndex(ABC):
    """Rows are numbered in the order of the token lists it was built from (the snapshot's searchable rows)."""

    spec: str  # the config string `create_keyword_index` makes this index from (written to the manifest)

    @property
    @abstractmethod
    def size(self) -> int:
        """How many rows the index holds."""

    @abstractmethod
    def build(self, token_lists: Sequence[Sequence[str]]) -> None:
        """Index one token list per row (a row may have none)."""

    @abstractmethod
    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """The score of every row for the query `tokens`, shape (size,)."""

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the index into the snapshot folder `folder` (its files are checksummed by the snapshot)."""

    @classmethod
    @abstractmethod
    def load(cls, folder: Path) -> "KeywordIndex": ...

    def restricted_to(self, rows: np.ndarray) -> "KeywordIndex":
        """A view answering for `rows` only, renumbered in their order (statistics stay the whole index's)."""
        return KeywordRows(self, rows)


class Bm25sIndex(KeywordIndex):
    spec = "bm25s"
    FOLDER = "keyword"
    EMPTY = "\x00"  # bm25s cannot index an empty document or corpus: a token no query has stands in

    def __init__(self, model: bm25s.BM25 | None = None) -> None:
        self._model = model if model is not None else bm25s.BM25()

    @property
    def size(self) -> int:
        """Rows indexed (an index built from no rows holds one placeholder row: bm25s needs a document)."""
        scores = getattr(self._model, "scores", None)
        return int(scores["num_docs"]) if isinstance(scores, dict) else 0

    def build(self, token_lists: Sequence[Sequence[str]]) -> None:
        corpus = [list(t) or [self.EMPTY] for t in token_lists] or [[self.EMPTY]]
        self._model.index(corpus, show_progress=False)

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.get_scores(list(tokens)))

    def save(self, folder: Path) -> None:
        self._model.save(str(Path(folder) / self.FOLDER))

    @classmethod
    def load(cls, folder: Path) -> "Bm25sIndex":
        return cls(bm25s.BM25.load(str(Path(folder) / cls.FOLDER)))


class KeywordRows(KeywordIndex):
    """Another keyword index answering for some of its rows only (in memory: a view is never stored)."""

    def __init__(self, index: KeywordIndex, rows: np.ndarray) -> None:
        self._index = index
        self._rows = np.asarray(rows, dtype=np.int64)
        self.spec = index.spec

    @property
    def size(self) -> int:
        return len(self._rows)

    def build(self, token_lists: Sequence[Sequence[str]]) -> None:
        raise TypeError("a view of another keyword index is not built; build that index")

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        return self._index.scores(tokens)[self._rows]

    def save(self, folder: Path) -> None:
        raise TypeError("a view of another keyword index is not stored; save that index")

    @classmethod
    def load(cls, folder: Path) -> "KeywordRows":
        raise TypeError("a view of another keyword index is not stored")


_BACKENDS: dict[str, type[KeywordIndex]] = {Bm25sIndex.spec: Bm25sIndex}


def keyword_backend(spec: str) -> type[KeywordIndex]:
    """The class `spec` names; an unknown spec raises KeywordIndexError naming the known ones."""
    try:
        return _BACKENDS[spec]
    except KeyError:
        raise KeywordIndexError(f"unknown keyword index {spec!r}: use one of {', '.join(map(repr, _BACKENDS))}") \
            from None


def create_keyword_index(spec: str = DEFAULT_KEYWORD_INDEX) -> KeywordIndex:
    """Factory: an empty index of `spec`."""
    return keyword_backend(spec)()


def load_keyword_index(spec: str, folder: Path) -> KeywordIndex:
    """The index of `spec` that `save` wrote into `folder`."""
    return keyword_backend(spec).load(folder)
