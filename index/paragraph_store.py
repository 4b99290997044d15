"""Every paragraph of a snapshot, by position, and the term document frequencies: read from disk, not held.

A snapshot's paragraphs are looked up, never scanned, while it serves: a search reads its candidates'
paragraphs, an answer the paragraphs of the documents it cites, the viewer one document's. So a
million-paragraph snapshot needs none of them in memory, and worker processes serving one snapshot
share the operating system's cache of one file.

"sqlite" (`paragraphs.sqlite` in the snapshot folder, written by `write_store`): one row per paragraph
keyed by its position, indexed by document and by paragraph id, with its `compact` text (what the
exact-term bonus and the answer features match in; computed once at build, as it costs ~50 µs a
paragraph); and one row per keyword token with the number of searchable paragraphs holding it.
Opened read-only and immutable (a snapshot folder never changes once written), one connection per
process.
"memory": a list, for snapshots written before the store existed (format 1: `paragraphs.jsonl` and
`keyword_df.json`, loaded whole as then).
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.models import Paragraph
from index.normalization import compact

STORE_FILE = "paragraphs.sqlite"


@dataclass(frozen=True)
class StoreSettings:
    insert_batch: int = 10_000  # rows per executemany while writing
    read_chunk: int = 900  # positions per SELECT ... IN (...), under SQLite's default variable limit
    cache_kib: int = 8_192  # SQLite page cache per connection


STORE_SETTINGS = StoreSettings()


class ParagraphStore(ABC, Sequence[Paragraph]):
    """Paragraphs by position: the order a build wrote them, which `Snapshot.searchable` points into."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def many(self, positions: Iterable[int]) -> list[Paragraph]:
        """The paragraphs at `positions`, in that order (IndexError for a position outside the store)."""

    @abstractmethod
    def compact_texts(self, positions: Iterable[int]) -> list[str]:
        """`compact(text)` of the paragraphs at `positions`, in that order."""

    @abstractmethod
    def doc_ids(self, positions: Iterable[int]) -> list[str]:
        """The documents of the paragraphs at `positions`, in that order."""

    @abstractmethod
    def positions_of_document(self, doc_id: str) -> np.ndarray:
        """Positions of `doc_id`'s paragraphs in document order (empty for an unknown id)."""

    @abstractmethod
    def compact_texts_of_documents(self, doc_ids: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
        """doc_id -> (position, `compact(text)`) of each of its paragraphs in document order, for every id
        asked (empty for an unknown id), in one read of the store."""

    @abstractmethod
    def find(self, doc_id: str, paragraph_id: str) -> Paragraph | None:
        """The paragraph `paragraph_id` of `doc_id`, or None."""

    @abstractmethod
    def document_of(self, paragraph_id: str) -> str | None:
        """The document a paragraph id belongs to, or None."""

    def __getitem__(self, position):  # a slice is not a lookup serving makes
        if not isinstance(position, (int, np.integer)):
            raise TypeError(f"paragraph positions are integers, not {type(position).__name__}")
        return self.many([int(position)])[0]

    def __iter__(self) -> Iterator[Paragraph]:
        step = STORE_SETTINGS.read_chunk
        for start in range(0, len(self), step):
            yield from self.many(range(start, min(start + step, len(self))))

    def document(self, doc_id: str) -> list[Paragraph]:
        return self.many(self.positions_of_document(doc_id))


class MemoryParagraphStore(ParagraphStore):
    """The paragraphs of a format-1 snapshot, held whole as they were loaded."""

    def __init__(self, paragraphs: list[Paragraph]) -> None:
        self._paragraphs = paragraphs
        self._by_document: dict[str, list[int]] = {}
        self._by_id: dict[tuple[str, str], int] = {}
        self._document_of: dict[str, str] = {}
        for position, p in enumerate(paragraphs):
            self._by_document.setdefault(p.doc_id, []).append(position)
            self._by_id[(p.doc_id, p.paragraph_id)] = position
            self._document_of.setdefault(p.paragraph_id, p.doc_id)

    def __len__(self) -> int:
        return len(self._paragraphs)

    def many(self, positions: Iterable[int]) -> list[Paragraph]:
        out = []
        for position in positions:
            if not 0 <= int(position) < len(self._paragraphs):
                raise IndexError(f"no paragraph at position {position}")
            out.append(self._paragraphs[int(position)])
        return out

    def compact_texts(self, positions: Iterable[int]) -> list[str]:
        return [compact(p.text) for p in self.many(positions)]

    def doc_ids(self, positions: Iterable[int]) -> list[str]:
        return [p.doc_id for p in self.many(positions)]

    def positions_of_document(self, doc_id: str) -> np.ndarray:
        return np.asarray(self._by_document.get(doc_id, []), dtype=np.int64)

    def compact_texts_of_documents(self, doc_ids: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
        return {d: [(i, compact(self._paragraphs[i].text)) for i in self._by_document.get(d, [])] for d in doc_ids}

    def find(self, doc_id: str, paragraph_id: str) -> Paragraph | None:
        position = self._by_id.get((doc_id, paragraph_id))
        return None if position is None else self._paragraphs[position]

    def document_of(self, paragraph_id: str) -> str | None:
        return self._document_of.get(paragraph_id)


class _Connection:
    """One read-only connection per process, opened with the store and shared by the service's threads
    (a lock serialises them: a lookup takes well under a millisecond); a forked worker opens its own.

    Opened when the store opens, not when a thread first reads: a snapshot folder that later builds
    prune while a worker still serves it stays readable through the open connection, as it did when
    snapshots were loaded whole."""

    def __init__(self, path: Path, settings: StoreSettings) -> None:
        self.path = path
        self.settings = settings
        self._lock = threading.Lock()
        self._held = self._open()

    def _open(self) -> tuple[int, sqlite3.Connection]:
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                             check_same_thread=False)
        db.execute(f"PRAGMA cache_size = -{self.settings.cache_kib}")
        return os.getpid(), db

    def execute(self, sql: str, parameters: Sequence = ()) -> list[tuple]:
        with self._lock:
            if self._held[0] != os.getpid():
                self._held = self._open()
            return self._held[1].execute(sql, parameters).fetchall()


class SqliteParagraphStore(ParagraphStore):
    """The paragraphs of `paragraphs.sqlite`, read on demand."""

    def __init__(self, path: Path, settings: StoreSettings = STORE_SETTINGS) -> None:
        self.settings = settings
        self._connection = _Connection(Path(path), settings)
        [(self._length,)] = self._connection.execute("SELECT count(*) FROM paragraphs")

    def __len__(self) -> int:
        return self._length

    def many(self, positions: Iterable[int]) -> list[Paragraph]:
        return [Paragraph.from_dict(json.loads(record)) for record in self._column("record", positions)]

    def compact_texts(self, positions: Iterable[int]) -> list[str]:
        return self._column("compact", positions)

    def doc_ids(self, positions: Iterable[int]) -> list[str]:
        return self._column("doc_id", positions)

    def _select_in(self, columns: str, key: str, values: list, order: str = "") -> Iterator[tuple]:
        """The rows of `SELECT columns ... WHERE key IN values [ORDER BY order]`, `read_chunk` values a query
        (SQLite's variable limit): `order` holds within each query's rows."""
        for start in range(0, len(values), self.settings.read_chunk):
            chunk = values[start:start + self.settings.read_chunk]
            yield from self._connection.execute(
                f"SELECT {columns} FROM paragraphs WHERE {key} IN ({','.join('?' * len(chunk))})"
                + (f" ORDER BY {order}" if order else ""), chunk)

    def _column(self, column: str, positions: Iterable[int]) -> list:
        wanted = [int(p) for p in positions]
        found: dict[int, object] = dict(self._select_in(f"position, {column}", "position", wanted))
        missing = [p for p in wanted if p not in found]
        if missing:
            raise IndexError(f"no paragraph at position {missing[0]}")
        return [found[p] for p in wanted]

    def positions_of_document(self, doc_id: str) -> np.ndarray:
        rows = self._connection.execute("SELECT position FROM paragraphs WHERE doc_id = ? ORDER BY position",
                                        (doc_id,))
        return np.fromiter((position for (position,) in rows), dtype=np.int64)

    def compact_texts_of_documents(self, doc_ids: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
        wanted = list(dict.fromkeys(doc_ids))
        found: dict[str, list[tuple[int, str]]] = {d: [] for d in wanted}
        # a document's rows all come from one query, so its order is the query's
        for doc_id, position, text in self._select_in("doc_id, position, compact", "doc_id", wanted,
                                                       "doc_id, position"):
            found[doc_id].append((position, text))
        return found

    def find(self, doc_id: str, paragraph_id: str) -> Paragraph | None:
        rows = self._connection.execute("SELECT record FROM paragraphs WHERE paragraph_id = ? AND doc_id = ?",
                                        (paragraph_id, doc_id))
        return Paragraph.from_dict(json.loads(rows[0][0])) if rows else None

    def document_of(self, paragraph_id: str) -> str | None:
        rows = self._connection.execute(
            "SELECT doc_id FROM paragraphs WHERE paragraph_id = ? ORDER BY position LIMIT 1", (paragraph_id,))
        return rows[0][0] if rows else None

    def term_frequencies(self) -> "SqliteTermFrequencies":
        return SqliteTermFrequencies(self._connection)


class SqliteTermFrequencies(Mapping[str, int]):
    """keyword token -> the number of searchable paragraphs holding it, looked up in `paragraphs.sqlite`."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    def __getitem__(self, term: str) -> int:
        rows = self._connection.execute("SELECT df FROM terms WHERE term = ?", (term,))
        if not rows:
            raise KeyError(term)
        return rows[0][0]

    def __len__(self) -> int:
        return self._connection.execute("SELECT count(*) FROM terms")[0][0]

    def __iter__(self) -> Iterator[str]:
        return iter([term for (term,) in self._connection.execute("SELECT term FROM terms")])


def write_store(path: Path, paragraphs: Iterable[Paragraph], term_frequencies: Mapping[str, int],
                settings: StoreSettings = STORE_SETTINGS) -> None:
    """Write `paragraphs.sqlite` (the snapshot folder is fsynced and checksummed after, so no journal)."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("CREATE TABLE paragraphs (position INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, "
                   "paragraph_id TEXT NOT NULL, record TEXT NOT NULL, compact TEXT NOT NULL)")
        db.execute("CREATE TABLE terms (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID")
        batch: list[tuple] = []
        for position, p in enumerate(paragraphs):
            batch.append((position, p.doc_id, p.paragraph_id, json.dumps(p.to_dict(), ensure_ascii=False),
                          compact(p.text)))
            if len(batch) >= settings.insert_batch:
                db.executemany("INSERT INTO paragraphs VALUES (?, ?, ?, ?, ?)", batch)
                batch = []
        db.executemany("INSERT INTO paragraphs VALUES (?, ?, ?, ?, ?)", batch)
        db.executemany("INSERT INTO terms VALUES (?, ?)", term_frequencies.items())
        db.execute("CREATE INDEX paragraphs_by_document ON paragraphs (doc_id, position)")
        db.execute("CREATE INDEX paragraphs_by_id ON paragraphs (paragraph_id, doc_id)")
        db.commit()
    finally:
        db.close()


def open_store(folder: Path, settings: StoreSettings = STORE_SETTINGS
               ) -> tuple[ParagraphStore, Mapping[str, int]]:
    """(paragraphs, term frequencies) of the snapshot folder `folder`: its `paragraphs.sqlite`, or the
    format-1 files loaded whole."""
    if (folder / STORE_FILE).exists():
        store = SqliteParagraphStore(folder / STORE_FILE, settings)
        return store, store.term_frequencies()
    with (folder / "paragraphs.jsonl").open(encoding="utf-8") as fh:
        paragraphs = [Paragraph.from_dict(json.loads(line)) for line in fh]
    return MemoryParagraphStore(paragraphs), json.loads((folder / "keyword_df.json").read_text(encoding="utf-8"))
