"""Keyword (BM25) indexes behind one interface, chosen by a config string (like `embedders.py`).

"bm25s" (default): bm25s (its "lucene" BM25, `Bm25Settings`), stored as the folder `keyword/` in the snapshot
folder. "bm25s?scores=float16" stores each (token, row) score in half precision: the matrix's scores take half
the disk and the page cache (a 1M-paragraph index maps ~110M of them), each is rounded to about three
significant digits, and a query's sum is still taken in float32.
"milvus://host:19530": the `sparse` field of the snapshot's Milvus collection (index/milvus.py). Each row is
stored as its BM25 weights, w(t) = idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl)) with bm25s's own
idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)) (bm25s's "lucene" method has no (k1 + 1) factor), and a query
is its token counts, so the engine's inner product is the score bm25s gives. Tokens map to sparse
dimensions by a vocabulary stored in the snapshot folder (`keyword_vocabulary.json`), not a hash: a
collision would add two tokens' weights, and the vocabulary is the snapshot's own, as its collection is.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from index import milvus
from index.models import RowFields, Scope

DEFAULT_KEYWORD_INDEX = "bm25s"
EMPTY_TOKEN = "\x00"  # bm25s cannot index an empty document or corpus: a token no query has stands in


@dataclass(frozen=True)
class Bm25Settings:
    """BM25's parameters, the same for every keyword backend (bm25s's defaults)."""
    k1: float = 1.5
    b: float = 0.75
    # bm25s's matrix loaded memory-mapped: worker processes serving one snapshot share one copy, and a
    # large index is paged in as queries touch it
    mmap: bool = True


BM25_SETTINGS = Bm25Settings()


class KeywordIndexError(ValueError):
    """An unknown keyword index spec."""


class KeywordIndex(ABC):
    """Rows are numbered in the order of the token lists it was built from (the snapshot's searchable rows)."""

    spec: str  # the config string `create_keyword_index` makes this index from (written to the manifest)
    engine: bool = False  # rows live in a search engine, which scores the best of them (see DenseIndex.engine)

    @property
    @abstractmethod
    def size(self) -> int:
        """How many rows the index holds."""

    @abstractmethod
    def build(self, token_lists: Sequence[Sequence[str]]) -> None:
        """Index one token list per row (a row may have none)."""

    @abstractmethod
    def scores(self, tokens: Sequence[str], scope: Scope | None = None) -> np.ndarray:
        """The score of every row for the query `tokens`, shape (size,); 0 outside `scope`. An engine
        backend may give only its best rows a score (`MilvusSettings.keyword_depth`), every other row 0:
        `row_scores` gives the exact score of any rows."""

    def row_scores(self, tokens: Sequence[str], rows: Sequence[int]) -> np.ndarray:
        """The exact score of each of `rows` for the query `tokens`, shape (len(rows),)."""
        return self.scores(tokens)[np.asarray(rows, dtype=np.int64)]

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the index into the snapshot folder `folder` (its files are checksummed by the snapshot)."""

    @classmethod
    @abstractmethod
    def open(cls, spec: str, folder: Path) -> "KeywordIndex":
        """The index `save` wrote into `folder` under `spec` (`load_keyword_index` calls this)."""

    @classmethod
    def create(cls, spec: str) -> "KeywordIndex":
        """An empty index of `spec` (the factory calls this; a parametrised backend reads `spec`)."""
        return cls()

    @classmethod
    def check(cls, spec: str) -> None:
        """KeywordIndexError if `spec`'s parameters are not this backend's (the factory calls this)."""

    def commit(self, folder: Path, snapshot_name: str, fields: RowFields) -> None:
        """As `DenseIndex.commit`: once the snapshot folder holds every backend's files (engine backends)."""

    @classmethod
    def discard(cls, folder: Path) -> None:
        """As `DenseIndex.discard`: the snapshot folder `folder` is being removed."""

    def restricted_to(self, rows: np.ndarray) -> "KeywordIndex":
        """A view answering for `rows` only, renumbered in their order (statistics stay the whole index's)."""
        return KeywordRows(self, rows)


class Bm25sIndex(KeywordIndex):
    spec = "bm25s"
    FOLDER = "keyword"
    EMPTY = EMPTY_TOKEN
    SCORE_DTYPES = ("float32", "float16")  # how the matrix's scores are stored: `?scores=`

    def __init__(self, model: bm25s.BM25 | None = None, settings: Bm25Settings = BM25_SETTINGS,
                 spec: str | None = None) -> None:
        # scores are computed and summed in float32 (bm25s's dtype); only storage follows the spec
        self._model = model if model is not None else bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
        if spec is not None:
            self.spec = spec
        self._stored_dtype = self.stored_dtype(self.spec)
        if self._stored_dtype != self.SCORE_DTYPES[0]:
            # bm25s's documented hook (its numba scorer is installed the same way)
            self._model._compute_relevance_from_scores = _sum_columns_in_float32

    @classmethod
    def create(cls, spec: str) -> "Bm25sIndex":
        return cls(spec=spec)

    @classmethod
    def check(cls, spec: str) -> None:
        cls.stored_dtype(spec)

    @classmethod
    def stored_dtype(cls, spec: str) -> str:
        """`bm25s?scores=float16` -> "float16"; KeywordIndexError for any other parameter or value."""
        dtype = cls.SCORE_DTYPES[0]
        for item in filter(None, spec.partition("?")[2].split("&")):
            name, _, value = item.partition("=")
            if name != "scores" or value not in cls.SCORE_DTYPES:
                raise KeywordIndexError(f"{spec!r}: {item!r} is not a bm25s parameter; use "
                                        f"scores={' or scores='.join(cls.SCORE_DTYPES)}")
            dtype = value
        return dtype

    @property
    def size(self) -> int:
        """Rows indexed (an index built from no rows holds one placeholder row: bm25s needs a document)."""
        scores = getattr(self._model, "scores", None)
        return int(scores["num_docs"]) if isinstance(scores, dict) else 0

    def build(self, token_lists: Sequence[Sequence[str]]) -> None:
        corpus = [list(t) or [self.EMPTY] for t in token_lists] or [[self.EMPTY]]
        self._model.index(corpus, show_progress=False)

    def scores(self, tokens: Sequence[str], scope: Scope | None = None) -> np.ndarray:
        return _masked(np.asarray(self._model.get_scores(list(tokens))), scope)

    def save(self, folder: Path) -> None:
        scores = self._model.scores
        if scores["data"].dtype != self._stored_dtype:
            scores["data"] = scores["data"].astype(self._stored_dtype)  # as the loaded index will score
        self._model.save(str(Path(folder) / self.FOLDER))

    @classmethod
    def open(cls, spec: str, folder: Path, settings: Bm25Settings = BM25_SETTINGS) -> "Bm25sIndex":
        model = bm25s.BM25.load(str(Path(folder) / cls.FOLDER), mmap=settings.mmap, show_progress=False)
        return cls(model, settings, spec)


class KeywordRows(KeywordIndex):
    """Another keyword index answering for some of its rows only (in memory: a view is never stored)."""

    def __init__(self, index: KeywordIndex, rows: np.ndarray) -> None:
        self._index = index
        self._rows = np.asarray(rows, dtype=np.int64)
        self.spec = index.spec
        self.engine = index.engine

    @property
    def size(self) -> int:
        return len(self._rows)

    def build(self, token_lists: Sequence[Sequence[str]]) -> None:
        raise TypeError("a view of another keyword index is not built; build that index")

    def scores(self, tokens: Sequence[str], scope: Scope | None = None) -> np.ndarray:
        return _masked(self._index.scores(tokens)[self._rows], scope)

    def row_scores(self, tokens: Sequence[str], rows: Sequence[int]) -> np.ndarray:
        return self._index.row_scores(tokens, self._rows[np.asarray(rows, dtype=np.int64)])

    def save(self, folder: Path) -> None:
        raise TypeError("a view of another keyword index is not stored; save that index")

    @classmethod
    def open(cls, spec: str, folder: Path) -> "KeywordRows":
        raise TypeError("a view of another keyword index is not stored")


def _sum_columns_in_float32(data: np.ndarray, indptr: np.ndarray, indices: np.ndarray, num_docs: int,
                            query_tokens_ids: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """bm25s's sum of the query tokens' columns, each column cast to the sum's float32 first: numpy's
    `add.at` adds a float16 column into float32 ~25 times slower than a column of the sum's own dtype."""
    scores = np.zeros(num_docs, dtype=dtype)
    for token in query_tokens_ids:
        start, end = indptr[token], indptr[token + 1]
        np.add.at(scores, indices[start:end], data[start:end].astype(dtype))
    return scores


def _masked(scores: np.ndarray, scope: Scope | None) -> np.ndarray:
    if scope is None:
        return scores
    kept = np.zeros_like(scores)
    rows = np.asarray(scope.rows, dtype=np.int64)
    kept[rows] = scores[rows]
    return kept


def bm25_weights(token_lists: Sequence[Sequence[str]], settings: Bm25Settings = BM25_SETTINGS
                 ) -> tuple[dict[str, int], list[dict[int, float]]]:
    """(vocabulary token -> dimension, each row's BM25 weights by dimension), as bm25s's "lucene" method
    scores: a row without tokens counts as the one placeholder token bm25s indexes for it."""
    corpus = [list(t) or [EMPTY_TOKEN] for t in token_lists]
    vocabulary: dict[str, int] = {}
    counts = [Counter(tokens) for tokens in corpus]
    df: Counter[str] = Counter()
    for row in counts:
        for token in row:
            vocabulary.setdefault(token, len(vocabulary))
        df.update(row.keys())
    n = len(corpus)
    average = float(np.mean([len(t) for t in corpus])) if corpus else 1.0
    idf = {t: np.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
    weights = []
    for tokens, row in zip(corpus, counts):
        norm = settings.k1 * (1 - settings.b + settings.b * len(tokens) / average)
        weights.append({vocabulary[t]: float(np.float32(idf[t] * tf / (tf + norm))) for t, tf in row.items()})
    return vocabulary, weights


class MilvusKeywordIndex(KeywordIndex):
    """BM25 in the engine: the `sparse` field of the snapshot's Milvus collection (see the module docstring)."""

    engine = True
    VOCABULARY = "keyword_vocabulary.json"

    def __init__(self, spec: str, vocabulary: dict[str, int] | None = None,
                 collection: milvus.MilvusCollection | None = None,
                 settings: milvus.MilvusSettings = milvus.MILVUS_SETTINGS) -> None:
        self.spec = spec
        self.settings = settings
        self._vocabulary = vocabulary or {}
        self._collection = collection
        self._weights: list[dict[int, float]] | None = None

    @classmethod
    def create(cls, spec: str) -> "MilvusKeywordIndex":
        return cls(spec)

    @classmethod
    def open(cls, spec: str, folder: Path) -> "MilvusKeywordIndex":
        vocabulary = json.loads((Path(folder) / cls.VOCABULARY).read_text(encoding="utf-8"))
        collection = milvus.MilvusCollection.open(folder)
        if not collection.description.get("sparse"):
            raise KeywordIndexError(f"{folder}: its Milvus collection {collection.name} holds no keyword vectors")
        return cls(spec, vocabulary, collection)

    @property
    def size(self) -> int:
        if self._collection is not None:
            return self._collection.rows
        return len(self._weights or [])

    def build(self, token_lists: Sequence[Sequence[str]]) -> None:
        self._vocabulary, self._weights = bm25_weights(token_lists)

    def query(self, tokens: Sequence[str]) -> dict[int, float]:
        """The sparse query of `tokens`: each known token's count (bm25s adds a repeated token's score again)."""
        counts = Counter(t for t in tokens if t in self._vocabulary)
        return {self._vocabulary[t]: float(c) for t, c in counts.items()}

    def scores(self, tokens: Sequence[str], scope: Scope | None = None) -> np.ndarray:
        if self._collection is None:
            raise TypeError(f"{self.spec}: a Milvus index is searched once its snapshot is written")
        out = np.zeros(self.size, dtype=np.float32)
        hits = self._collection.search_sparse(self.query(tokens), self.settings.keyword_depth,
                                              None if scope is None else scope.doc_ids)
        for row, score in hits:
            out[row] = score
        return out

    def row_scores(self, tokens: Sequence[str], rows: Sequence[int]) -> np.ndarray:
        if self._collection is None:
            raise TypeError(f"{self.spec}: a Milvus index is searched once its snapshot is written")
        query = self.query(tokens)
        if not query or not len(rows):
            return np.zeros(len(rows), dtype=np.float32)
        stored = self._collection.sparse_rows(rows)
        return np.asarray([sum(w.get(d, 0.0) * c for d, c in query.items()) for w in stored], dtype=np.float32)

    def save(self, folder: Path) -> None:
        if self._weights is None:
            raise TypeError(f"{self.spec}: build the index before saving it")
        (Path(folder) / self.VOCABULARY).write_text(json.dumps(self._vocabulary, ensure_ascii=False), encoding="utf-8")
        milvus.stage_sparse(self.spec, folder, self._weights)

    def commit(self, folder: Path, snapshot_name: str, fields: RowFields) -> None:
        milvus.commit(self.spec, folder, snapshot_name, fields)

    @classmethod
    def discard(cls, folder: Path) -> None:
        milvus.discard(folder)


_BACKENDS: dict[str, type[KeywordIndex]] = {Bm25sIndex.spec: Bm25sIndex}
_PREFIXES: dict[str, type[KeywordIndex]] = {prefix: MilvusKeywordIndex for prefix in milvus.MILVUS_PREFIXES}


def keyword_backend(spec: str) -> type[KeywordIndex]:
    """The class `spec` names; an unknown spec raises KeywordIndexError naming the known ones."""
    name = spec.partition("?")[0]
    if name in _BACKENDS:
        _BACKENDS[name].check(spec)
        return _BACKENDS[name]
    for prefix, backend in _PREFIXES.items():
        if spec.startswith(prefix):
            try:
                milvus.parse_milvus_spec(spec)
            except milvus.MilvusError as exc:
                raise KeywordIndexError(str(exc)) from None
            return backend
    known = [*map(repr, _BACKENDS), "'bm25s?scores=float16'", f"'{milvus.MILVUS_PREFIX}host:port'"]
    raise KeywordIndexError(f"unknown keyword index {spec!r}: use one of {', '.join(known)}")


def create_keyword_index(spec: str = DEFAULT_KEYWORD_INDEX) -> KeywordIndex:
    """Factory: an empty index of `spec`."""
    return keyword_backend(spec).create(spec)


def load_keyword_index(spec: str, folder: Path) -> KeywordIndex:
    """The index of `spec` that `save` wrote into `folder`."""
    return keyword_backend(spec).open(spec, folder)


def discard_keyword(folder: Path) -> None:
    """As `index.dense.discard_dense`, for the keyword backends."""
    for backend in dict.fromkeys([*_BACKENDS.values(), *_PREFIXES.values()]):
        backend.discard(folder)
