"""Index snapshots on disk: write atomically, load with verification.

Layout of an index folder:
    CURRENT                 name of the snapshot in service (replaced atomically)
    snapshots/<name>/       manifest.json, documents.json, paragraphs.sqlite (the paragraphs and the
                            keyword document frequencies, index/paragraph_store.py), searchable.npy,
                            the dense and keyword indexes (defaults: dense.faiss, keyword/ of bm25s)
    embedding_cache.sqlite  vectors by content hash, shared across builds
A build writes into snapshots/.tmp-*, renames it into place, then swaps
CURRENT; a crash at any point leaves the previous snapshot serving.
Format 1 (before the paragraph store) held paragraphs.jsonl and keyword_df.json instead; it still
loads, whole into memory as then. The manifest names the dense and keyword backends (`index/dense.py`,
`index/keyword.py`) a snapshot was built with; one written before they were named loads with the
defaults, faiss-flat and bm25s.
An engine backend (Milvus) keeps its rows outside the folder, in a collection named after the folder's
final name, written by the backends' `commit` before the folder is checksummed and renamed (its folder
holds `milvus.json` naming it); removing a snapshot folder first asks every backend to `discard` what it
keeps for it.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# `faiss` only for tests/service/operations/test_faults.py, which patches index.snapshot.faiss.write_index;
# drop it once that test patches index.dense.faiss
from index.dense import (DEFAULT_DENSE_INDEX, DenseIndex, create_dense_index, discard_dense, faiss,  # noqa: F401
                         load_dense_index)
from index.keyword import (DEFAULT_KEYWORD_INDEX, KeywordIndex, create_keyword_index, discard_keyword,
                           load_keyword_index)
from index.models import Paragraph, RowFields
from index.paragraph_store import ParagraphStore, open_store, write_store

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
MANIFEST = "manifest.json"
CURRENT = "CURRENT"
KEEP_SNAPSHOTS = 2  # the snapshot in service and the one it replaced


class SnapshotError(RuntimeError):
    """A snapshot that is missing, damaged or built for another embedder."""


@dataclass
class Snapshot:
    path: Path
    manifest: dict
    documents: dict[str, dict]
    paragraphs: ParagraphStore
    searchable: np.ndarray  # row in dense/keyword index -> position in `paragraphs`
    dense: DenseIndex
    keyword: KeywordIndex
    keyword_df: Mapping[str, int]  # keyword token -> searchable paragraphs holding it

    @property
    def embedder_name(self) -> str:
        return self.manifest["embedder"]["name"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_tree(folder: Path) -> None:
    for file in folder.rglob("*"):
        if file.is_file():
            with file.open("rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Serialise writers of one index folder (concurrent builds would race on CURRENT)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_snapshot(index_dir: Path, *, manifest: dict, documents: dict[str, dict],
                   paragraphs: list[Paragraph], searchable: list[int], vectors: np.ndarray,
                   keyword_tokens: list[list[str]], dense_spec: str = DEFAULT_DENSE_INDEX,
                   keyword_spec: str = DEFAULT_KEYWORD_INDEX) -> Path:
    snapshots = index_dir / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    tmp = snapshots / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    # named before its backends are written: an engine backend names what it writes after the snapshot
    final = snapshots / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    try:
        (tmp / "documents.json").write_text(json.dumps(documents, ensure_ascii=False), encoding="utf-8")
        np.save(tmp / "searchable.npy", np.asarray(searchable, dtype=np.int64))
        dense = create_dense_index(dense_spec, dimension=vectors.shape[1])
        dense.add(vectors)
        dense.save(tmp)
        keyword = create_keyword_index(keyword_spec)
        keyword.build(keyword_tokens)
        keyword.save(tmp)
        rows = [paragraphs[i] for i in searchable]
        fields = RowFields([p.doc_id for p in rows], [p.paragraph_id for p in rows])
        dense.commit(tmp, final.name, fields)
        keyword.commit(tmp, final.name, fields)
        df: dict[str, int] = {}
        for tokens in keyword_tokens:
            for t in set(tokens):
                df[t] = df.get(t, 0) + 1
        write_store(tmp / "paragraphs.sqlite", paragraphs, df)
        files = {str(f.relative_to(tmp)): _sha256(f) for f in sorted(tmp.rglob("*")) if f.is_file()}
        manifest = {**manifest, "dense": {"spec": dense.spec}, "keyword": {"spec": keyword.spec},
                    "format": FORMAT_VERSION, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        _fsync_tree(tmp)
        os.rename(tmp, final)
    except BaseException:
        _remove_snapshot(tmp)
        raise
    previous = current_snapshot_path(index_dir)
    pointer = index_dir / f".{CURRENT}.tmp"
    pointer.write_text(final.name, encoding="utf-8")
    with pointer.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(pointer, index_dir / CURRENT)
    _prune(snapshots, keep={final.name} | ({previous.name} if previous is not None else set()))
    return final


def _prune(snapshots: Path, keep: set[str]) -> None:
    """Keep the new snapshot and the one it replaced (KEEP_SNAPSHOTS); drop older ones and crashed temp dirs.

    "The one it replaced" is read from CURRENT, not guessed from name order: names have one-second
    resolution, so snapshots built within the same second would sort at random.
    """
    for old in snapshots.iterdir():
        if old.is_dir() and not old.name.startswith(".") and old.name not in keep:
            _remove_snapshot(old)
    for tmp in snapshots.glob(".tmp-*"):
        if time.time() - tmp.stat().st_mtime > 3600:
            _remove_snapshot(tmp)


def _remove_snapshot(folder: Path) -> None:
    """Remove a snapshot folder, after its backends dropped what they keep for it elsewhere (a Milvus
    collection); a backend that fails to only logs, and the folder goes anyway."""
    for discard in (discard_dense, discard_keyword):
        try:
            discard(folder)
        except Exception:
            log.exception("%s: a backend could not discard what it keeps for this snapshot", folder)
    shutil.rmtree(folder, ignore_errors=True)


def current_snapshot_path(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    return index_dir / "snapshots" / name


def has_snapshot(index_dir: Path) -> bool:
    path = current_snapshot_path(Path(index_dir))
    return path is not None and (path / MANIFEST).exists()


def dense_spec(manifest: dict) -> str:
    """The dense backend a snapshot was built with (faiss-flat for one older than the field)."""
    return (manifest.get("dense") or {}).get("spec", DEFAULT_DENSE_INDEX)


def keyword_spec(manifest: dict) -> str:
    """The keyword backend a snapshot was built with (bm25s for one older than the field)."""
    return (manifest.get("keyword") or {}).get("spec", DEFAULT_KEYWORD_INDEX)


def current_specs(index_dir: Path) -> tuple[str | None, str | None]:
    """(dense spec, keyword spec) of the folder's current snapshot; (None, None) when there is none or its
    manifest is unreadable."""
    path = current_snapshot_path(Path(index_dir))
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8")) if path else None
    except (OSError, ValueError):
        manifest = None
    return (dense_spec(manifest), keyword_spec(manifest)) if manifest is not None else (None, None)


def load_snapshot(index_dir: str | Path, expected_embedder: str | None = None) -> Snapshot:
    index_dir = Path(index_dir)
    path = current_snapshot_path(index_dir)
    if path is None:
        raise SnapshotError(f"{index_dir}: no index snapshot here (run `notesqa index build` first)")
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{manifest_path}: unreadable manifest ({exc})") from exc
    if manifest.get("format") not in READABLE_FORMATS:
        raise SnapshotError(f"{manifest_path}: snapshot format {manifest.get('format')} is not one of "
                            f"{READABLE_FORMATS}; rebuild the index")
    if expected_embedder and manifest["embedder"]["name"] != expected_embedder:
        raise SnapshotError(
            f"{path}: built with embedder {manifest['embedder']['name']!r}, but this service uses "
            f"{expected_embedder!r}; rebuild the index with the configured embedder")
    for rel, checksum in manifest["files"].items():
        file = path / rel
        if not file.exists():
            raise SnapshotError(f"{file}: missing from snapshot")
        if _sha256(file) != checksum:
            raise SnapshotError(f"{file}: checksum mismatch, the snapshot is damaged")
    try:
        documents = json.loads((path / "documents.json").read_text(encoding="utf-8"))
        paragraphs, keyword_df = open_store(path)
        searchable = np.load(path / "searchable.npy")
        dense = load_dense_index(dense_spec(manifest), path)
        keyword = load_keyword_index(keyword_spec(manifest), path)
    except Exception as exc:  # any parse failure means the snapshot cannot serve
        raise SnapshotError(f"{path}: cannot load snapshot ({exc})") from exc
    if dense.dimension != manifest["embedder"]["dimension"] or dense.size != len(searchable):
        raise SnapshotError(f"{path}: dense index does not match the manifest")
    return Snapshot(path, manifest, documents, paragraphs, searchable, dense, keyword, keyword_df)


class EmbeddingCache:
    """Vectors keyed by (embedder, text) hash, so rebuilds embed only changed paragraphs.

    The cache only saves work, so a damaged one never fails a build: a file SQLite cannot read, or one
    whose integrity check fails, is set aside (renamed `*.damaged-<time>`, for whoever wants to look) and a
    new one started; a stored vector of the wrong size is ignored and embedded again.
    """

    def __init__(self, path: Path, dimension: int | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.dimension = dimension
        try:
            self._db = self._open(path)
        except sqlite3.DatabaseError as exc:
            aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}")
            log.warning("embedding cache %s is damaged (%s): set aside as %s; its vectors are embedded again",
                        path, exc, aside.name)
            path.replace(aside)
            for suffix in ("-wal", "-shm", "-journal"):  # SQLite's side files belong to the damaged one
                with contextlib.suppress(FileNotFoundError):
                    path.with_name(path.name + suffix).unlink()
            self._db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=30)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB)")
            (verdict,) = db.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {verdict}")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    @staticmethod
    def key(embedder_name: str, text: str) -> str:
        return hashlib.sha256(f"{embedder_name}\x1f{text}".encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows
                         if isinstance(v, bytes) and (self.dimension is None or len(v) == 4 * self.dimension))
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                                 [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()])

    def close(self) -> None:
        self._db.close()
