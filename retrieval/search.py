"""Hybrid search: dense (FAISS) and keyword (BM25) results fused into one ranking."""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from index.embedders import Embedder
from index.models import Paragraph, Scope
from index.normalization import compact
from index.snapshot import Snapshot
from index.tokenization import event_ordinals, keyword_tokens, protected_terms


@dataclass(frozen=True)
class SearchSettings:
    dense_weight: float = 0.5  # share of the fused score from the dense side
    candidates: int = 60  # taken from each side before fusion
    exact_bonus: float = 0.35  # per exact document symbol / resolution number / date matched, times its rarity
    ordinal_bonus: float = 0.1  # per session or meeting ordinal ("第六次") matched
    near_duplicate: float = 0.9  # character-trigram Jaccard above which two paragraphs collapse
    # a longer question embeds its head only (the keyword side reads all of it): embedding grows with the
    # text, and one caller's 2,000-character question held the embedder every question shares for seconds
    query_embed_max_chars: int = 256
    # added to the fused score of the documents a conversation's last turn cited: a follow-up is most
    # often about the same document, yet one that names another must still be able to find it
    preferred_document_bonus: float = 0.15
    # threads per process that wait on a search engine's keyword queries while the dense ones run (engine
    # backends only: an embedded index scores in process)
    engine_threads: int = 8


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _engine_pool(workers: int) -> ThreadPoolExecutor:
    """This process's pool (a forked worker makes its own: threads do not survive fork)."""
    with _pools_lock:
        pool = _pools.get(os.getpid())
        if pool is None:
            pool = _pools[os.getpid()] = ThreadPoolExecutor(workers, thread_name_prefix="engine-keyword")
        return pool


@dataclass
class SearchHit:
    paragraph: Paragraph
    score: float  # fused, in [0, 1 + bonuses]
    dense: float  # cosine similarity
    keyword: float  # raw BM25

    def record(self, title: str | None = None) -> dict:
        """The hit as the API, LangChain documents and evaluation records show it (one projection for all)."""
        p = self.paragraph
        return {"doc_id": p.doc_id, "title": title, "paragraph_id": p.paragraph_id,
                "paragraph_number": p.paragraph_number, "section": p.section, "text": p.text,
                "start": p.start, "end": p.end, "score": round(self.score, 4), "kind": p.kind}


def _minmax(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-9:
        return np.ones_like(values) if high > 0 else np.zeros_like(values)
    return (values - low) / (high - low)


# the paragraphs of a collection recur across questions; ~13 KB an entry, so bounded well below what a
# large index would fill it with
@lru_cache(maxsize=4096)
def _trigrams(text: str) -> frozenset[str]:
    """Character trigrams of an already `compact` text."""
    return frozenset(text[i:i + 3] for i in range(max(len(text) - 2, 1)))


def _near_duplicate(grams: frozenset[str], other: frozenset[str], threshold: float) -> bool:
    """Trigram Jaccard at or above `threshold`; sets whose sizes differ more than that cannot reach it."""
    small, large = sorted((len(grams), len(other)))
    if small < threshold * large:
        return False
    shared = len(grams & other)
    return shared / max(len(grams) + len(other) - shared, 1) >= threshold  # the union's size, not the union


class HybridSearcher:
    def __init__(self, snapshot: Snapshot, embedder: Embedder, settings: SearchSettings | None = None) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.settings = settings or SearchSettings()

    def _rarity(self, term: str) -> float:
        """1 for a term one paragraph holds, less the more hold it: a symbol or a date is a lookup, but a
        year every row of a meeting's schedule carries ("2023年") tells those rows from nothing."""
        n = len(self.snapshot.searchable)
        return math.log(1 + n / max(self.snapshot.keyword_df.get(term, 1), 1)) / math.log(1 + n)

    @cached_property
    def _row_of_position(self) -> np.ndarray:
        """Paragraph position -> searchable row, -1 for a paragraph search does not find."""
        rows = np.full(len(self.snapshot.paragraphs), -1, dtype=np.int64)
        rows[self.snapshot.searchable] = np.arange(len(self.snapshot.searchable))
        return rows

    def rows_of_document(self, doc_id: str) -> np.ndarray:
        """The searchable rows of `doc_id`'s paragraphs, in document order."""
        rows = self._row_of_position[self.snapshot.paragraphs.positions_of_document(doc_id)]
        return rows[rows >= 0]

    def _positions(self, rows: Sequence[int]) -> list[int]:
        """The store positions of searchable `rows`, in that order."""
        return [int(self.snapshot.searchable[r]) for r in rows]

    def row_paragraphs(self, rows: Sequence[int]) -> list[Paragraph]:
        """The paragraphs of searchable `rows`, in that order (read from the snapshot's store)."""
        return self.snapshot.paragraphs.many(self._positions(rows))

    def row_texts(self, rows: Sequence[int]) -> list[str]:
        """`compact` texts of searchable `rows`, in that order (stored at build time)."""
        return self.snapshot.paragraphs.compact_texts(self._positions(rows))

    def searchable_document_texts(self, doc_ids: Sequence[str]) -> dict[str, list[str]]:
        """doc_id -> `compact` texts of its paragraphs that search can find, in document order (one read of
        the store for all of them: a question's hits come from some twenty documents)."""
        found = self.snapshot.paragraphs.compact_texts_of_documents(doc_ids)
        return {d: [text for position, text in rows if self._row_of_position[position] >= 0]
                for d, rows in found.items()}

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.encode_query([text[:self.settings.query_embed_max_chars]])[0]

    def search(self, query: str, top_k: int = 10, *, query_vector: np.ndarray | None = None,
               mode: str = "hybrid", doc_ids: Sequence[str] | None = None,
               prefer_doc_ids: Sequence[str] = ()) -> list[SearchHit]:
        """mode: "hybrid" (default), "dense" or "keyword" (the latter two for baselines).

        `doc_ids`: only these documents' paragraphs, each scored exactly (an unknown id finds nothing); with an
        engine backend (Milvus) the scope goes into the engine's queries, and its best rows are the candidates.
        `prefer_doc_ids`: these documents' paragraphs among the candidates get `preferred_document_bonus` (they
        are not all added as candidates: that would move the min-max normalisation every score goes through)."""
        snap, cfg = self.snapshot, self.settings
        n = len(snap.searchable)
        if n == 0:
            return []
        depth = min(n, max(cfg.candidates, top_k * 4))
        allowed: list[int] | None = None
        scope: Scope | None = None
        if doc_ids is not None:
            scoped = {d: self.rows_of_document(d) for d in dict.fromkeys(doc_ids)}
            allowed = sorted({int(r) for rows_of in scoped.values() for r in rows_of})
            if not allowed:
                return []
            scope = Scope(tuple(sorted(d for d, rows_of in scoped.items() if len(rows_of))), tuple(allowed))
        # embedded indexes score every row of a scope here; an engine is asked for the scope's best rows
        exhaustive = allowed is not None and not (snap.dense.engine or snap.keyword.engine)
        tokens = keyword_tokens(query) if mode in ("hybrid", "keyword") else []
        # an engine answers the keyword query while this thread waits on the dense one: one round trip, not two
        pending: Future | None = None
        if tokens and mode == "hybrid" and snap.keyword.engine:
            pending = _engine_pool(cfg.engine_threads).submit(snap.keyword.scores, tokens, scope=scope)
        dense_scores: dict[int, float] = {}
        if mode in ("hybrid", "dense"):
            if query_vector is None:
                query_vector = self.embed_query(query)
            if not exhaustive:
                scores, rows = snap.dense.search(query_vector.reshape(1, -1).astype(np.float32), depth, scope=scope)
                dense_scores = {int(r): float(s) for r, s in zip(rows[0], scores[0]) if r >= 0}
        keyword_all = np.zeros(n, dtype=np.float32)
        if pending is not None:
            keyword_all = np.asarray(pending.result(), dtype=np.float32)
        elif tokens:
            keyword_all = np.asarray(snap.keyword.scores(tokens, scope=scope), dtype=np.float32)
        if exhaustive:
            rows = allowed
        else:
            # the best `depth` of the rows the query's words score, without sorting them all (a full sort
            # costs ~0.1 s at a million rows, a partition of all of them ~7 ms)
            scored = np.flatnonzero(keyword_all > 0)
            if len(scored) > depth:
                scored = scored[np.argpartition(-keyword_all[scored], depth - 1)[:depth]]
            keyword_top = [int(r) for r in scored[np.argsort(-keyword_all[scored], kind="stable")]]
            rows = list(dict.fromkeys(list(dense_scores) + keyword_top))
        if not rows:
            return []
        unscored = [r for r in rows if keyword_all[r] == 0] if tokens and snap.keyword.engine else []
        completing: Future | None = None
        if unscored:  # dense-only candidates below the engine's keyword depth still get their exact BM25
            completing = _engine_pool(cfg.engine_threads).submit(snap.keyword.row_scores, tokens, unscored)
        if mode in ("hybrid", "dense"):
            missing = [r for r in rows if r not in dense_scores]
            if missing:  # keyword-only candidates still get their exact cosine
                vectors = snap.dense.vectors(missing)
                for r, s in zip(missing, vectors @ query_vector):
                    dense_scores[r] = float(s)
        if completing is not None:
            keyword_all[unscored] = completing.result()
        dense = np.array([dense_scores.get(r, 0.0) for r in rows], dtype=np.float32)
        keyword = keyword_all[rows]
        weight = {"hybrid": cfg.dense_weight, "dense": 1.0, "keyword": 0.0}[mode]
        fused = weight * _minmax(dense) + (1 - weight) * _minmax(keyword)
        texts = self.row_texts(rows)
        if mode == "hybrid":
            exact = [(compact(t), cfg.exact_bonus * self._rarity(t)) for t in protected_terms(query)]
            exact += [(t, cfg.ordinal_bonus) for t in event_ordinals(query)]
            if exact:
                fused += np.array([sum(bonus for t, bonus in exact if t in text) for text in texts],
                                  dtype=np.float32)
        if prefer_doc_ids and mode == "hybrid":
            preferred_docs = set(prefer_doc_ids)
            fused += np.array([cfg.preferred_document_bonus if doc_id in preferred_docs else 0.0
                               for doc_id in snap.paragraphs.doc_ids(self._positions(rows))],
                              dtype=np.float32)
        kept: list[int] = []
        kept_grams: list[frozenset[str]] = []
        for i in np.argsort(-fused):
            grams = _trigrams(texts[i])
            if any(_near_duplicate(grams, g, cfg.near_duplicate) for g in kept_grams):
                continue  # the same text (e.g. a document list repeated per agenda item) once is enough
            kept_grams.append(grams)
            kept.append(int(i))
            if len(kept) >= top_k:
                break
        # only the hits kept are read whole from the store
        paragraphs = self.row_paragraphs([rows[i] for i in kept])
        return [SearchHit(p, float(fused[i]), float(dense[i]), float(keyword[i])) for p, i in zip(paragraphs, kept)]
