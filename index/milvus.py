"""Milvus as the engine behind a snapshot's dense and keyword indexes: `milvus://host:19530`.

One Milvus collection per snapshot, named after the snapshot's folder (`notesqa_<folder name>`), so a
rebuild writes a new collection and the `CURRENT` swap stays the one atomic step; pruning a snapshot
drops its collection. The collection holds, per searchable row (primary key `row`, the snapshot's row
number): the dense vector (`dense`, inner product), the BM25 weights of its jieba keyword tokens as a
sparse vector (`sparse`, inner product: a query of token counts scores exactly what bm25s scores; see
`index/keyword.py`), and the paragraph fields a query is scoped by (`doc_id`, `paragraph_id`). The
snapshot folder keeps everything else (manifest, paragraphs, the keyword vocabulary) and `milvus.json`,
which names the engine's URI and the collection.

`index/dense.py` (`MilvusDenseIndex`) and `index/keyword.py` (`MilvusKeywordIndex`) are the two sides;
this module is what they share: the address, one client per process, the rows a build stages until the
snapshot is committed, and the collection itself. pymilvus is imported only when a Milvus backend is used
(the `milvus` extra).

Specs: `milvus://host:port` (plain gRPC, e.g. Milvus Standalone, a Distributed proxy, or Milvus Lite's
`milvus-lite server`), `milvus+https://host:port` (TLS), either with an optional `/database`. A token
(`user:password`, or an API key) is read from `NOTESQA_MILVUS_TOKEN`, never written to the manifest.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from index.models import RowFields

log = logging.getLogger(__name__)

MILVUS_PREFIX = "milvus://"
MILVUS_TLS_PREFIX = "milvus+https://"
MILVUS_PREFIXES = (MILVUS_PREFIX, MILVUS_TLS_PREFIX)
MILVUS_FILE = "milvus.json"  # in the snapshot folder: the engine's URI and the collection's name
TOKEN_ENV = "NOTESQA_MILVUS_TOKEN"

ROW, DOC_ID, PARAGRAPH_ID, DENSE, SPARSE = "row", "doc_id", "paragraph_id", "dense", "sparse"


@dataclass(frozen=True)
class MilvusSettings:
    """How NotesQA uses a Milvus engine (index params, search depth, batches, timeouts)."""
    default_port: int = 19530
    collection_prefix: str = "notesqa_"
    # dense side: HNSW over inner product (the embedders' vectors are unit length, so cosine); Milvus Lite
    # builds it with FAISS. ef is the candidates kept while searching, as `FaissSettings.ef_search`
    dense_index_type: str = "HNSW"
    dense_build_params: tuple[tuple[str, int], ...] = (("M", 32), ("efConstruction", 256))
    ef: int = 512
    # sparse side: an inverted index over inner product; nothing dropped at build or search, so the scores
    # are the exact BM25 scores
    sparse_index_type: str = "SPARSE_INVERTED_INDEX"
    drop_ratio: float = 0.0
    # `KeywordIndex.scores` asks the engine for this many best rows; every other row scores 0 (the fused
    # search takes at most max(SearchSettings.candidates, 4 * top_k) of them)
    keyword_depth: int = 256
    insert_batch: int = 1000  # rows per insert call (a 384-float row is ~1.6 kB)
    query_batch: int = 1000  # rows per fetch of stored vectors by primary key
    max_limit: int = 16384  # Milvus refuses a larger search limit (topk) or query window
    id_max_length: int = 1024  # VARCHAR length of doc_id and paragraph_id
    connect_timeout_s: float = 10.0
    timeout_s: float = 60.0  # one call (a build's inserts and index creation included)
    consistency_level: str = "Strong"  # a search sees every row inserted before it
    # pymilvus pings every 10 s even with no call in flight; a gRPC server with default keepalive policy
    # (Milvus Lite's) answers an idle client's pings with GOAWAY "too_many_pings" after a minute or two,
    # and the next call fails. Ping only while a call is in flight
    grpc_options: tuple[tuple[str, int], ...] = (("grpc.keepalive_permit_without_calls", 0),)
    token: str = field(default_factory=lambda: os.environ.get(TOKEN_ENV, ""))


MILVUS_SETTINGS = MilvusSettings()


class MilvusError(RuntimeError):
    """A malformed Milvus spec, pymilvus missing, or the engine refusing or unreachable."""


@dataclass(frozen=True)
class MilvusAddress:
    uri: str  # what pymilvus connects to: http(s)://host:port
    db_name: str  # "" for the default database

    @property
    def key(self) -> str:
        return f"{self.uri}/{self.db_name}"


def is_milvus_spec(spec: str) -> bool:
    return spec.startswith(MILVUS_PREFIXES)


def parse_milvus_spec(spec: str, settings: MilvusSettings = MILVUS_SETTINGS) -> MilvusAddress:
    """`milvus://host:19530[/db]` -> MilvusAddress("http://host:19530", "db"); MilvusError if malformed."""
    if not is_milvus_spec(spec):
        raise MilvusError(f"{spec!r} is not a Milvus spec ({' or '.join(p + 'host:port' for p in MILVUS_PREFIXES)})")
    scheme = "https" if spec.startswith(MILVUS_TLS_PREFIX) else "http"
    parts = urlsplit(spec)
    try:
        port = parts.port or settings.default_port
    except ValueError:
        raise MilvusError(f"{spec!r}: the port is not a number") from None
    if not parts.hostname:
        raise MilvusError(f"{spec!r}: name the Milvus host, e.g. 'milvus://127.0.0.1:19530'")
    if parts.username or parts.password:
        raise MilvusError(f"{spec!r}: put credentials in {TOKEN_ENV}, not in the spec (it is written to the manifest)")
    if parts.query or parts.fragment:
        raise MilvusError(f"{spec!r}: a Milvus spec takes no parameters (MilvusSettings holds them)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return MilvusAddress(f"{scheme}://{host}:{port}", parts.path.strip("/"))


def collection_name(snapshot_name: str, settings: MilvusSettings = MILVUS_SETTINGS) -> str:
    """The collection of the snapshot folder `snapshot_name` (Milvus allows letters, digits and `_`)."""
    return settings.collection_prefix + re.sub(r"[^0-9A-Za-z_]", "_", snapshot_name)


# --- one client per address and process (a forked worker makes its own: gRPC channels do not survive fork).
# Dedicated: pymilvus otherwise shares one channel per address and token in the process, made with the
# options of whichever client came first (`grpc_options` above would not apply), and keeps it after close
_clients: dict[tuple[int, str, str], Any] = {}
_clients_lock = threading.Lock()


def _pymilvus():
    try:
        import pymilvus
    except ImportError:
        raise MilvusError("the Milvus backend needs pymilvus: pip install 'notesqa[milvus]'") from None
    return pymilvus


def client(address: MilvusAddress, settings: MilvusSettings = MILVUS_SETTINGS):
    key = (os.getpid(), address.key, settings.token)
    with _clients_lock:
        if key not in _clients:
            pymilvus = _pymilvus()
            try:
                _clients[key] = pymilvus.MilvusClient(uri=address.uri, token=settings.token, db_name=address.db_name,
                                                      timeout=settings.connect_timeout_s, dedicated=True,
                                                      grpc_options=dict(settings.grpc_options))
            except Exception as exc:
                raise MilvusError(f"cannot reach Milvus at {address.uri}: {exc}") from exc
        return _clients[key]


def forget_client(address: MilvusAddress, settings: MilvusSettings = MILVUS_SETTINGS) -> None:
    """Drop this process's client of `address` (its connection was lost): the next `client` connects anew."""
    with _clients_lock:
        stale = _clients.pop((os.getpid(), address.key, settings.token), None)
    if stale is not None:
        try:
            stale.close()
        except Exception:  # it is already broken
            pass


def live_client(address: MilvusAddress, settings: MilvusSettings = MILVUS_SETTINGS):
    """`client(address)`, connected anew if its connection was lost while idle (a build embeds for minutes
    between checking the engine and writing to it)."""
    milvus = client(address, settings)
    try:
        milvus.list_collections(timeout=settings.connect_timeout_s)
        return milvus
    except Exception as exc:
        log.info("Milvus at %s: reconnecting (%s)", address.uri, str(exc)[:200])
        forget_client(address, settings)
        return client(address, settings)


def ping(spec: str, settings: MilvusSettings = MILVUS_SETTINGS) -> None:
    """MilvusError unless the engine `spec` names answers (a build checks this before it embeds)."""
    address = parse_milvus_spec(spec, settings)
    try:
        client(address, settings).list_collections(timeout=settings.connect_timeout_s)
    except MilvusError:
        raise
    except Exception as exc:
        raise MilvusError(f"Milvus at {address.uri} does not answer: {exc}") from exc


# --- a build: each side stages its rows in `save`; `commit` writes the one collection both make
@dataclass
class _Staged:
    dense: np.ndarray | None = None
    sparse: list[dict[int, float]] | None = None


_staged: dict[tuple[str, str], _Staged] = {}
_staged_lock = threading.Lock()


def _stage_key(spec: str, folder: Path) -> tuple[str, str]:
    return parse_milvus_spec(spec).key, str(Path(folder).resolve())


def stage_dense(spec: str, folder: Path, vectors: np.ndarray) -> None:
    with _staged_lock:
        _staged.setdefault(_stage_key(spec, folder), _Staged()).dense = np.asarray(vectors, dtype=np.float32)


def stage_sparse(spec: str, folder: Path, rows: list[dict[int, float]]) -> None:
    with _staged_lock:
        _staged.setdefault(_stage_key(spec, folder), _Staged()).sparse = rows


def commit(spec: str, folder: Path, snapshot_name: str, fields: RowFields,
           settings: MilvusSettings = MILVUS_SETTINGS) -> None:
    """Write the rows both sides staged for `folder` into a new collection named after `snapshot_name`, and
    name it in `folder/milvus.json`. The second side's call finds it done and returns."""
    folder = Path(folder)
    with _staged_lock:
        staged = _staged.pop(_stage_key(spec, folder), None)
    if staged is None:
        if (folder / MILVUS_FILE).exists():
            return
        raise MilvusError(f"{folder}: nothing was saved for Milvus ({spec}) before the snapshot was committed")
    address = parse_milvus_spec(spec, settings)
    milvus = live_client(address, settings)
    name = collection_name(snapshot_name, settings)
    rows = len(staged.dense) if staged.dense is not None else len(staged.sparse or [])
    if staged.dense is not None and staged.sparse is not None and len(staged.sparse) != rows:
        raise MilvusError(f"{folder}: {rows} dense rows but {len(staged.sparse)} keyword rows")
    if len(fields.doc_ids) != rows:
        raise MilvusError(f"{folder}: {rows} rows but the fields of {len(fields.doc_ids)}")
    dimension = int(staged.dense.shape[1]) if staged.dense is not None else None
    try:
        if milvus.has_collection(name, timeout=settings.timeout_s):  # a leftover of a crashed attempt
            milvus.drop_collection(name, timeout=settings.timeout_s)
        _create(milvus, name, dimension, staged.sparse is not None, settings)
        for start in range(0, rows, settings.insert_batch):
            stop = min(start + settings.insert_batch, rows)
            batch = []
            for r in range(start, stop):
                row: dict[str, Any] = {ROW: r, DOC_ID: fields.doc_ids[r], PARAGRAPH_ID: fields.paragraph_ids[r]}
                if staged.dense is not None:
                    row[DENSE] = staged.dense[r].tolist()
                if staged.sparse is not None:
                    row[SPARSE] = staged.sparse[r]
                batch.append(row)
            milvus.insert(name, batch, timeout=settings.timeout_s)
        milvus.flush(name, timeout=settings.timeout_s)
        _ensure_loaded(milvus, name, settings)
        stored = int(milvus.get_collection_stats(name, timeout=settings.timeout_s).get("row_count", -1))
        if stored != rows:
            raise MilvusError(f"collection {name}: {stored} rows stored of {rows}")
    except Exception as exc:
        _drop_quietly(milvus, name, settings)
        if isinstance(exc, MilvusError):
            raise
        raise MilvusError(f"cannot write collection {name} to Milvus at {address.uri}: {exc}") from exc
    description = {"spec": spec, "uri": address.uri, "db_name": address.db_name, "collection": name, "rows": rows,
                   "dimension": dimension, "dense": staged.dense is not None, "sparse": staged.sparse is not None}
    (folder / MILVUS_FILE).write_text(json.dumps(description, indent=2), encoding="utf-8")


def _create(milvus, name: str, dimension: int | None, sparse: bool, settings: MilvusSettings) -> None:
    DataType = _pymilvus().DataType
    schema = milvus.create_schema(auto_id=False, enable_dynamic_field=False,
                                  description="NotesQA snapshot: searchable paragraphs")
    schema.add_field(ROW, DataType.INT64, is_primary=True)
    schema.add_field(DOC_ID, DataType.VARCHAR, max_length=settings.id_max_length)
    schema.add_field(PARAGRAPH_ID, DataType.VARCHAR, max_length=settings.id_max_length)
    index_params = milvus.prepare_index_params()
    if dimension is not None:
        schema.add_field(DENSE, DataType.FLOAT_VECTOR, dim=dimension)
        index_params.add_index(DENSE, index_type=settings.dense_index_type, metric_type="IP",
                               params=dict(settings.dense_build_params))
    if sparse:
        schema.add_field(SPARSE, DataType.SPARSE_FLOAT_VECTOR)
        index_params.add_index(SPARSE, index_type=settings.sparse_index_type, metric_type="IP",
                               params={"drop_ratio_build": settings.drop_ratio})
    index_params.add_index(DOC_ID, index_type="INVERTED")  # the scope filter
    milvus.create_collection(name, schema=schema, index_params=index_params,
                             consistency_level=settings.consistency_level, timeout=settings.timeout_s)


def _ensure_loaded(milvus, name: str, settings: MilvusSettings) -> None:
    state = milvus.get_load_state(name, timeout=settings.timeout_s).get("state")
    if getattr(state, "name", str(state)) != "Loaded":
        milvus.load_collection(name, timeout=settings.timeout_s)


def _drop_quietly(milvus, name: str, settings: MilvusSettings) -> None:
    try:
        if milvus.has_collection(name, timeout=settings.timeout_s):
            milvus.drop_collection(name, timeout=settings.timeout_s)
    except Exception as exc:  # the engine is what failed; the build's own error is the one to report
        log.warning("could not drop Milvus collection %s: %s", name, exc)


def discard(folder: Path, settings: MilvusSettings = MILVUS_SETTINGS) -> None:
    """Drop the collection `folder/milvus.json` names (a snapshot folder about to be removed). An engine that
    cannot be reached only costs a warning: the folder goes anyway, and the collection stays orphaned."""
    with _staged_lock:
        for key in [k for k in _staged if k[1] == str(Path(folder).resolve())]:
            del _staged[key]
    path = Path(folder) / MILVUS_FILE
    if not path.exists():
        return
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
        address = MilvusAddress(description["uri"], description.get("db_name", ""))
        milvus = live_client(address, settings)
        if milvus.has_collection(description["collection"], timeout=settings.timeout_s):
            milvus.drop_collection(description["collection"], timeout=settings.timeout_s)
            log.info("dropped Milvus collection %s of %s", description["collection"], Path(folder).name)
    except Exception as exc:
        log.warning("%s: could not drop its Milvus collection (%s); drop it by hand", folder, exc)


def _in_filter(doc_ids: Sequence[str] | None) -> str:
    """The scope as a Milvus boolean expression (JSON string literals are Milvus string literals)."""
    return "" if doc_ids is None else f"{DOC_ID} in {json.dumps(list(doc_ids), ensure_ascii=False)}"


class MilvusCollection:
    """The collection of one committed snapshot, as `milvus.json` in its folder names it."""

    def __init__(self, description: Mapping[str, Any], settings: MilvusSettings = MILVUS_SETTINGS) -> None:
        self.description = dict(description)
        self.settings = settings
        self.name: str = description["collection"]
        self.rows: int = int(description["rows"])
        self.dimension: int | None = description.get("dimension")
        self.address = MilvusAddress(description["uri"], description.get("db_name", ""))
        self._client = live_client(self.address, settings)

    @classmethod
    def open(cls, folder: Path, settings: MilvusSettings = MILVUS_SETTINGS) -> "MilvusCollection":
        path = Path(folder) / MILVUS_FILE
        try:
            description = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MilvusError(f"{path}: unreadable ({exc})") from exc
        collection = cls(description, settings)
        try:
            if not collection._client.has_collection(collection.name, timeout=settings.timeout_s):
                raise MilvusError(f"Milvus at {collection.address.uri} has no collection {collection.name} "
                                  f"(dropped, or another engine): rebuild the index")
            _ensure_loaded(collection._client, collection.name, settings)
        except MilvusError:
            raise
        except Exception as exc:
            raise MilvusError(f"cannot open collection {collection.name} at {collection.address.uri}: {exc}") \
                from exc
        return collection

    def _limit(self, k: int) -> int:
        return max(0, min(int(k), self.rows, self.settings.max_limit))

    def search_dense(self, queries: np.ndarray, k: int, doc_ids: Sequence[str] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """-> (scores, rows) of shape (queries, k), best first, -1 rows where fewer than k match."""
        scores = np.zeros((len(queries), k), dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        limit = self._limit(k)
        if limit == 0 or not len(queries):
            return scores, rows
        results = self._call("search", self.name, data=[q.tolist() for q in np.asarray(queries, np.float32)],
                             anns_field=DENSE, limit=limit, filter=_in_filter(doc_ids), output_fields=[ROW],
                             search_params={"metric_type": "IP", "params": {"ef": max(self.settings.ef, limit)}})
        for i, hits in enumerate(results):
            for j, hit in enumerate(hits):
                rows[i, j], scores[i, j] = int(hit["entity"][ROW]), float(hit["distance"])
        return scores, rows

    def search_sparse(self, query: dict[int, float], k: int, doc_ids: Sequence[str] | None = None
                      ) -> list[tuple[int, float]]:
        """(row, inner product) of the best `k` rows for the sparse `query`, best first."""
        limit = self._limit(k)
        if limit == 0 or not query:
            return []
        results = self._call("search", self.name, data=[query], anns_field=SPARSE, limit=limit,
                             filter=_in_filter(doc_ids), output_fields=[ROW],
                             search_params={"metric_type": "IP", "params": {"drop_ratio_search": self.settings.drop_ratio}})
        return [(int(hit["entity"][ROW]), float(hit["distance"])) for hit in results[0]]

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        found = self._stored(rows, DENSE)
        return np.asarray([found[int(r)] for r in rows], dtype=np.float32).reshape(len(rows), self.dimension or 0)

    def sparse_rows(self, rows: Sequence[int]) -> list[dict[int, float]]:
        """The stored keyword weights of `rows` (dimension -> BM25 weight), in their order."""
        found = self._stored(rows, SPARSE)
        return [{int(d): float(w) for d, w in found[int(r)].items()} for r in rows]

    def _stored(self, rows: Sequence[int], field_name: str) -> dict[int, Any]:
        """row -> its stored `field_name`, fetched by primary key in batches; MilvusError if a row is missing."""
        wanted = sorted({int(r) for r in rows})
        found: dict[int, Any] = {}
        step = min(self.settings.query_batch, self.settings.max_limit)
        for start in range(0, len(wanted), step):
            chunk = wanted[start:start + step]
            for record in self._call("query", self.name, filter=f"{ROW} in {json.dumps(chunk)}",
                                     output_fields=[ROW, field_name], limit=len(chunk)):
                found[int(record[ROW])] = record[field_name]
        missing = [r for r in wanted if r not in found]
        if missing:
            raise MilvusError(f"collection {self.name}: no rows {missing[:5]}")
        return found

    def _call(self, method: str, *args, **kwargs):
        """One call; a lost connection (server restarted, GOAWAY) is reconnected and the call made once more:
        every call made here (search, query) is a read, so repeating it is safe."""
        for attempt in range(2):
            try:
                return getattr(self._client, method)(*args, timeout=self.settings.timeout_s, **kwargs)
            except Exception as exc:
                if attempt == 0 and _connection_lost(exc):
                    log.warning("Milvus at %s: connection lost (%s); reconnecting", self.address.uri, exc)
                    forget_client(self.address, self.settings)
                    try:
                        self._client = client(self.address, self.settings)
                        continue
                    except MilvusError as again:
                        exc = again
                raise MilvusError(f"Milvus at {self.address.uri}, collection {self.name}: {method} failed: {exc}") \
                    from exc


def _connection_lost(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(sign in text for sign in ("unavailable", "fail connecting", "goaway", "too many pings",
                                         "connection", "closed channel"))


@dataclass(frozen=True)
class MilvusLiteSettings:
    """A Milvus Lite server started for a run (`milvus_lite_server`)."""
    host: str = "127.0.0.1"
    start_timeout_s: float = 60.0  # until the server answers
    poll_s: float = 0.2
    stop_timeout_s: float = 10.0


@contextmanager
def milvus_lite_server(data_dir: Path | None = None, settings: MilvusLiteSettings = MilvusLiteSettings()
                       ) -> Iterator[str]:
    """`milvus://127.0.0.1:<port>`: a Milvus Lite gRPC server (`python -m milvus_lite server`, the `milvus`
    extra) in a process of its own on a free loopback port, reached as a Milvus Standalone would be, until the
    block ends (evaluation runs and the tests use it). MilvusError if it does not start."""
    pymilvus = _pymilvus()
    folder = Path(data_dir or tempfile.mkdtemp(prefix="notesqa-milvus-lite-"))
    with socket.socket() as sock:
        sock.bind((settings.host, 0))
        port = sock.getsockname()[1]
    log_path = folder / "server.log"
    folder.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder / "data"),
                                    "--host", settings.host, "--port", str(port)], stdout=log,
                                   stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + settings.start_timeout_s
            while True:
                if process.poll() is not None:
                    raise MilvusError(f"milvus-lite server exited: {log_path.read_text()[-2000:]}")
                try:
                    probe = pymilvus.MilvusClient(uri=f"http://{settings.host}:{port}", timeout=2, dedicated=True)
                    probe.list_collections()
                    probe.close()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise MilvusError(f"milvus-lite server did not answer in {settings.start_timeout_s} s: "
                                          f"{log_path.read_text()[-2000:]}") from None
                    time.sleep(settings.poll_s)
            yield f"milvus://{settings.host}:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=settings.stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
