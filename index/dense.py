"""Dense vector indexes behind one interface, chosen by a config string (like `embedders.py`).

"faiss-flat" (default): FAISS `IndexFlatIP`, exact inner product (cosine: the embedders' vectors are
unit length), stored as `dense.faiss` in the snapshot folder.
"faiss:<factory string>": any FAISS `index_factory` string with the inner-product metric, e.g.
`faiss:HNSW32,Flat` (graph, no training), `faiss:IVF1024,SQ8` or `faiss:IVF1024,PQ48` (trained on the
vectors of the build); search parameters come from `FaissSettings` and may be overridden per spec
after a `?`, in FAISS ParameterSpace syntax: `faiss:HNSW32,Flat?efSearch=256`, `faiss:IVF1024,SQ8?nprobe=64`.
Every FAISS backend loads memory-mapped where the index type supports it (flat codes, HNSW storage,
IVF lists), so several worker processes serving one snapshot share one copy in the page cache.
"milvus://host:19530" (or "milvus+https://host:port", either with "/database"): the rows live in a Milvus
collection of the snapshot's own (index/milvus.py), searched there, scoped by document in the query.
Engine backends plug in here too: a subclass and an entry in `_BACKENDS` (or `_PREFIXES`), with `commit`
(write to the engine once the snapshot folder is complete) and `discard` (drop it when the folder goes).
"""
from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index import milvus
from index.models import RowFields, Scope

from index.openmp import configure_openmp

configure_openmp()  # read by FAISS's libgomp as it loads: before the import
import faiss  # noqa: E402

DEFAULT_DENSE_INDEX = "faiss-flat"
FAISS_PREFIX = "faiss:"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaissSettings:
    """Search and training parameters of the `faiss:` backends (a spec's `?name=value` wins over these)."""
    # HNSW: candidates kept while walking the graph; recall@10 rises with it, so does latency (~linearly).
    # evaluation/scale.py at 100k paragraphs (HNSW32, 2 cores): 128 -> 0.77 recall@10 in 0.7 ms a query,
    # 512 -> 0.95 in 3.2 ms; a question costs ~50 ms besides, so recall wins
    ef_search: int = 512
    # IVF: inverted lists scanned per query, out of the factory's nlist
    nprobe: int = 48
    # IVF: how FAISS shares a search among its threads. Its default (0) splits the queries, so a question,
    # which is searched alone, scans all its lists on one core; 1 splits one query's lists instead.
    # evaluation/scale.py's 1M index (IVF4096,SQ8, nprobe 1024, 2 cores): 13.4 -> 6.9 ms a question, same rows
    ivf_parallel_mode: int = 1
    # IVF/PQ training reads at most this many of the build's vectors (a seeded sample): k-means cost grows
    # with it, and FAISS itself samples 256 per centroid
    train_sample: int = 262_144
    # fewer vectors than this per IVF list (FAISS warns below 39) and the build stores the rows exact
    # (IndexFlatIP) instead: at that size exact search costs less than training would
    min_train_per_list: int = 39
    seed: int = 1234
    mmap: bool = True  # load memory-mapped where the index type supports it


FAISS_SETTINGS = FaissSettings()


class DenseIndexError(ValueError):
    """An unknown dense index spec."""


class DenseIndex(ABC):
    """Rows are numbered in the order their vectors were added (the snapshot's searchable rows)."""

    spec: str  # the config string `create_dense_index` makes this index from (written to the manifest)
    # rows live in a search engine: a scoped search asks it for the scope's best rows (the scope is in the
    # query) instead of scoring every row of the scope in process
    engine: bool = False

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
    def search(self, query_vectors: np.ndarray, k: int, scope: Scope | None = None) -> tuple[np.ndarray, np.ndarray]:
        """-> (scores, rows), each of shape (queries, k), best first; a row of -1 where fewer than k exist.
        `scope`: only its rows are returned."""

    @abstractmethod
    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of `rows`, shape (len(rows), dimension): exact scores for rows a search left out."""

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the index into the snapshot folder `folder` (its files are checksummed by the snapshot)."""

    @classmethod
    @abstractmethod
    def open(cls, spec: str, folder: Path) -> "DenseIndex":
        """The index `save` wrote into `folder` under `spec` (`load_dense_index` calls this)."""

    def commit(self, folder: Path, snapshot_name: str, fields: RowFields) -> None:
        """Called once every backend has saved into the snapshot folder `folder` (to be renamed
        `snapshot_name`), before its files are checksummed: an engine backend writes its rows there, with
        the paragraph `fields`, and names what it wrote in a file in `folder`. Embedded ones: nothing."""

    @classmethod
    def discard(cls, folder: Path) -> None:
        """The snapshot folder `folder` is being removed: drop what this backend keeps for it elsewhere."""

    def _scoped_search(self, query_vectors: np.ndarray, k: int, scope: Scope) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over the scope's rows only (embedded backends: a scope is a few documents)."""
        queries = np.asarray(query_vectors, dtype=np.float32).reshape(-1, self.dimension)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        allowed = np.asarray(scope.rows, dtype=np.int64)
        if len(allowed):
            exact = queries @ self.vectors(allowed).T
            for i, row_scores in enumerate(exact):
                best = np.argsort(-row_scores, kind="stable")[:k]
                scores[i, :len(best)], rows[i, :len(best)] = row_scores[best], allowed[best]
        return scores, rows

    @classmethod
    def create(cls, spec: str, dimension: int) -> "DenseIndex":
        """An empty index of `spec` (the factory calls this; a parametrised backend reads `spec`)."""
        return cls(dimension)

    @classmethod
    def check(cls, spec: str, dimension: int) -> None:
        """Raise DenseIndexError if `spec` cannot make an index for vectors of `dimension` (before a build embeds)."""


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

    def search(self, query_vectors: np.ndarray, k: int, scope: Scope | None = None) -> tuple[np.ndarray, np.ndarray]:
        if scope is not None:
            return self._scoped_search(query_vectors, k, scope)
        return self._index.search(np.ascontiguousarray(query_vectors, dtype=np.float32).reshape(-1, self.dimension), k)

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        if not len(rows):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._index.reconstruct(int(r)) for r in rows]).astype(np.float32)

    def save(self, folder: Path) -> None:
        faiss.write_index(self._index, str(Path(folder) / self.FILE))

    @classmethod
    def open(cls, spec: str, folder: Path) -> "FlatIPIndex":
        index = _read_index(Path(folder) / cls.FILE)
        return cls(index.d, index)


def _read_index(path: Path, settings: FaissSettings = FAISS_SETTINGS) -> faiss.Index:
    """Read memory-mapped where FAISS can: IO_FLAG_MMAP_IFC maps the codes of flat, HNSW (graph and
    storage) and IVF indexes read-only, so processes loading one file share its pages; a type that cannot
    be mapped is read into memory."""
    if settings.mmap:
        try:
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError as exc:
            log.info("%s cannot be memory-mapped (%s); reading it into memory", path, str(exc).strip()[-120:])
    return faiss.read_index(str(path))


class FaissFactoryIndex(DenseIndex):
    """Any FAISS `index_factory` string, inner product over unit vectors; trained on the first `add` when
    the factory needs training (IVF, PQ, SQ), with at most `FaissSettings.train_sample` of its vectors."""

    FILE = "dense.faiss"  # the name the flat backend has always used: a snapshot holds one dense index

    def __init__(self, spec: str, dimension: int, index: faiss.Index | None = None,
                 settings: FaissSettings = FAISS_SETTINGS) -> None:
        self.spec = spec
        self.factory, self.parameters = parse_faiss_spec(spec)
        self.settings = settings
        self._index = index if index is not None else _factory(self.factory, dimension)
        if index is not None:
            self._prepare_for_search()

    @classmethod
    def create(cls, spec: str, dimension: int) -> "FaissFactoryIndex":
        return cls(spec, dimension)

    @classmethod
    def open(cls, spec: str, folder: Path) -> "FaissFactoryIndex":
        index = _read_index(Path(folder) / cls.FILE)
        return cls(spec, index.d, index)

    @classmethod
    def check(cls, spec: str, dimension: int) -> None:
        factory, _ = parse_faiss_spec(spec)
        _factory(factory, dimension)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def faiss_index(self) -> faiss.Index:
        """The FAISS index itself (benchmarks read its type and parameters)."""
        return self._index

    def add(self, vectors: np.ndarray) -> None:
        if not len(vectors):
            return
        vectors = _unit(vectors)
        if not self._index.is_trained:
            lists = _ivf_lists(self._index)
            if len(vectors) < max(lists * self.settings.min_train_per_list, 1):
                log.warning("dense index %s: %d vectors are too few to train %d lists; stored exact (IndexFlatIP)",
                            self.spec, len(vectors), lists)
                self._index = faiss.IndexFlatIP(self.dimension)
            else:
                sample = vectors
                if len(vectors) > self.settings.train_sample:
                    rng = np.random.default_rng(self.settings.seed)
                    sample = vectors[np.sort(rng.choice(len(vectors), self.settings.train_sample, replace=False))]
                _skip_polysemous_training(self._index)
                self._index.train(sample)
        self._index.add(vectors)
        self._prepare_for_search()

    def _prepare_for_search(self) -> None:
        ivf = faiss.try_extract_index_ivf(self._index)
        if ivf is not None and self._index.ntotal:
            # `vectors(rows)` reconstructs by row: IVF needs the row -> list map, which is not stored
            ivf.make_direct_map()
        if ivf is not None:
            ivf.parallel_mode = self.settings.ivf_parallel_mode  # not a ParameterSpace parameter
        defaults = {"efSearch": self.settings.ef_search, "nprobe": self.settings.nprobe}
        space = faiss.ParameterSpace()
        for name, value in {**defaults, **self.parameters}.items():
            if _has_parameter(self._index, name):
                space.set_index_parameter(self._index, name, value)

    def search(self, query_vectors: np.ndarray, k: int, scope: Scope | None = None) -> tuple[np.ndarray, np.ndarray]:
        if scope is not None:
            return self._scoped_search(_unit(np.asarray(query_vectors, dtype=np.float32).reshape(-1, self.dimension)),
                                       k, scope)
        return self._index.search(_unit(np.asarray(query_vectors, dtype=np.float32).reshape(-1, self.dimension)), k)

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        if not len(rows):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._index.reconstruct_batch(np.asarray(list(rows), dtype=np.int64)), dtype=np.float32)

    def save(self, folder: Path) -> None:
        faiss.write_index(self._index, str(Path(folder) / self.FILE))


def parse_faiss_spec(spec: str) -> tuple[str, dict[str, float]]:
    """`faiss:IVF1024,PQ48?nprobe=32` -> ("IVF1024,PQ48", {"nprobe": 32.0}); DenseIndexError if malformed."""
    if not spec.startswith(FAISS_PREFIX):
        raise DenseIndexError(f"{spec!r} is not a faiss: spec")
    factory, _, query = spec[len(FAISS_PREFIX):].partition("?")
    if not factory.strip():
        raise DenseIndexError(f"{spec!r}: name a FAISS index_factory string after 'faiss:', e.g. 'faiss:HNSW32,Flat'")
    parameters: dict[str, float] = {}
    for item in filter(None, query.replace("&", ",").split(",")):
        name, _, value = item.partition("=")
        try:
            parameters[name.strip()] = float(value)
        except ValueError:
            raise DenseIndexError(f"{spec!r}: search parameter {item!r} is not name=number") from None
    return factory.strip(), parameters


def _factory(factory: str, dimension: int) -> faiss.Index:
    try:
        return faiss.index_factory(int(dimension), factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        # FAISS prefixes its reason with the C++ function and source line; the reason is what helps
        reason = re.split(r"\.(?:cpp|h):\d+: (?:Error: )?", str(exc).strip())[-1]
        raise DenseIndexError(f"FAISS cannot make {factory!r} for {dimension}-dimensional vectors: {reason}") \
            from None


def _ivf_lists(index: faiss.Index) -> int:
    ivf = faiss.try_extract_index_ivf(index)
    return int(ivf.nlist) if ivf is not None else 1


def _skip_polysemous_training(index: faiss.Index) -> None:
    """PQ indexes also train polysemous codes by default, by simulated annealing: minutes on two cores, and
    only polysemous search (a `polysemous_ht`, never set here) reads them."""
    ivf = faiss.try_extract_index_ivf(index)
    for part in (index, ivf, getattr(index, "index", None)):  # the IVF part, or the one a wrapper holds
        part = faiss.downcast_index(part) if part is not None else None
        if part is not None and hasattr(part, "do_polysemous_training"):
            part.do_polysemous_training = False


def _has_parameter(index: faiss.Index, name: str) -> bool:
    if name == "nprobe":
        return faiss.try_extract_index_ivf(index) is not None
    if name == "efSearch":
        return isinstance(index, faiss.IndexHNSW) or "HNSW" in type(index).__name__
    return True  # anything else named in the spec is FAISS's to accept or refuse


def _unit(vectors: np.ndarray) -> np.ndarray:
    matrix = np.array(vectors, dtype=np.float32, copy=True, order="C")
    faiss.normalize_L2(matrix)
    return matrix


class MilvusDenseIndex(DenseIndex):
    """The `dense` field of the snapshot's Milvus collection (index/milvus.py): vectors are held here until
    the snapshot is committed, then searched in the engine (inner product, HNSW: `MilvusSettings`)."""

    engine = True

    def __init__(self, spec: str, dimension: int, collection: milvus.MilvusCollection | None = None) -> None:
        self.spec = spec
        self._dimension = int(dimension)
        self._collection = collection
        self._pending: list[np.ndarray] = []

    @classmethod
    def create(cls, spec: str, dimension: int) -> "MilvusDenseIndex":
        return cls(spec, dimension)

    @classmethod
    def open(cls, spec: str, folder: Path) -> "MilvusDenseIndex":
        collection = milvus.MilvusCollection.open(folder)
        if collection.dimension is None:
            raise DenseIndexError(f"{folder}: its Milvus collection {collection.name} holds no dense vectors")
        return cls(spec, collection.dimension, collection)

    @classmethod
    def check(cls, spec: str, dimension: int) -> None:
        try:
            milvus.ping(spec)
        except milvus.MilvusError as exc:
            raise DenseIndexError(str(exc)) from None

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def size(self) -> int:
        if self._collection is not None:
            return self._collection.rows
        return sum(len(v) for v in self._pending)

    def add(self, vectors: np.ndarray) -> None:
        if self._collection is not None:
            raise TypeError(f"{self.spec}: a committed snapshot's collection is not added to; build a new snapshot")
        if len(vectors):
            self._pending.append(np.array(vectors, dtype=np.float32).reshape(-1, self._dimension))

    def _committed(self) -> milvus.MilvusCollection:
        if self._collection is None:
            raise TypeError(f"{self.spec}: a Milvus index is searched once its snapshot is written")
        return self._collection

    def search(self, query_vectors: np.ndarray, k: int, scope: Scope | None = None) -> tuple[np.ndarray, np.ndarray]:
        queries = np.asarray(query_vectors, dtype=np.float32).reshape(-1, self._dimension)
        return self._committed().search_dense(queries, k, None if scope is None else scope.doc_ids)

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        if not len(rows):
            return np.zeros((0, self._dimension), dtype=np.float32)
        return self._committed().vectors(rows)

    def save(self, folder: Path) -> None:
        vectors = np.vstack(self._pending) if self._pending else np.zeros((0, self._dimension), dtype=np.float32)
        milvus.stage_dense(self.spec, folder, vectors)

    def commit(self, folder: Path, snapshot_name: str, fields: RowFields) -> None:
        milvus.commit(self.spec, folder, snapshot_name, fields)

    @classmethod
    def discard(cls, folder: Path) -> None:
        milvus.discard(folder)


_BACKENDS: dict[str, type[DenseIndex]] = {FlatIPIndex.spec: FlatIPIndex}
_PREFIXES: dict[str, type[DenseIndex]] = {FAISS_PREFIX: FaissFactoryIndex,
                                          **{prefix: MilvusDenseIndex for prefix in milvus.MILVUS_PREFIXES}}


def dense_backend(spec: str) -> type[DenseIndex]:
    """The class `spec` names; an unknown spec raises DenseIndexError naming the known ones."""
    if spec in _BACKENDS:
        return _BACKENDS[spec]
    for prefix, backend in _PREFIXES.items():
        if spec.startswith(prefix):
            if prefix == FAISS_PREFIX:
                parse_faiss_spec(spec)  # a malformed spec fails here, before anything is embedded
            if backend is MilvusDenseIndex:
                try:
                    milvus.parse_milvus_spec(spec)
                except milvus.MilvusError as exc:
                    raise DenseIndexError(str(exc)) from None
            return backend
    known = [*map(repr, _BACKENDS), f"'{FAISS_PREFIX}<index_factory string>'", f"'{milvus.MILVUS_PREFIX}host:port'"]
    raise DenseIndexError(f"unknown dense index {spec!r}: use one of {', '.join(known)}")


def check_dense_spec(spec: str, dimension: int) -> None:
    """DenseIndexError unless `spec` makes an index for vectors of `dimension` (a build checks before embedding)."""
    dense_backend(spec).check(spec, dimension)


def create_dense_index(spec: str = DEFAULT_DENSE_INDEX, *, dimension: int) -> DenseIndex:
    """Factory: an empty index of `spec` for vectors of `dimension`."""
    return dense_backend(spec).create(spec, dimension)


def load_dense_index(spec: str, folder: Path) -> DenseIndex:
    """The index of `spec` that `save` wrote into `folder`."""
    return dense_backend(spec).open(spec, folder)


def discard_dense(folder: Path) -> None:
    """Before a snapshot folder (or a failed build's temporary one) is removed: every backend drops what it
    keeps for it outside the folder (each knows its own file; there may be no manifest yet to name it)."""
    for backend in dict.fromkeys([*_BACKENDS.values(), *_PREFIXES.values()]):
        backend.discard(folder)
