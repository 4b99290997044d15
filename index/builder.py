"""The indexing pipeline: sources -> paragraphs -> vectors + keywords -> snapshot."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from index.dense import DEFAULT_DENSE_INDEX, DenseIndexError, check_dense_spec, dense_backend
from index.embedders import BATCH_SIZE, DEFAULT_EMBEDDER, Embedder, create_embedder
from index.keyword import DEFAULT_KEYWORD_INDEX, KeywordIndexError, keyword_backend
from index.loading import SourceError, load_sources
from index.models import Paragraph, SkippedSource, SourceDocument
from index.segmentation import segment_document
from index.milvus import MilvusError, is_milvus_spec
from index.snapshot import EmbeddingCache, build_lock, current_specs, write_snapshot
from index.tokenization import keyword_tokens

# Headings are kept for the document view but are not answers in themselves.
SEARCHABLE_KINDS = frozenset({"paragraph", "list_item", "table_row", "footnote", "front_matter"})

log = logging.getLogger(__name__)


class BuildError(RuntimeError):
    pass


@dataclass
class BuildReport:
    snapshot: str
    documents: int
    paragraphs: int
    searchable: int
    embedded: int
    cached: int
    seconds: float
    embed_seconds: float
    skipped: list[SkippedSource] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def document_title(doc: SourceDocument, paragraphs: list[Paragraph]) -> str:
    if doc.title.strip():
        return doc.title.strip()
    for p in paragraphs:
        if p.kind in ("heading", "front_matter"):
            return p.text.replace("\n", " ")[:80]
    return paragraphs[0].text[:40] if paragraphs else doc.doc_id


# progress(stage, done, total): stages "loading", "embedding" (done/total paragraphs), "writing"
ProgressCallback = Callable[[str, int, int], None]


def build_index(corpus: str | Path, index_dir: str | Path, embedder_spec: str = DEFAULT_EMBEDDER,
                *, show_progress: bool = True, embedder: Embedder | None = None,
                progress: ProgressCallback | None = None, dense_index: str | None = None,
                keyword_index: str | None = None) -> BuildReport:
    """`embedder` (optional) replaces create_embedder(embedder_spec), e.g. a wrapper that serialises calls;
    `progress` (optional) is called as the build advances (background jobs report it);
    `dense_index` / `keyword_index`: the backends' specs (index/dense.py, index/keyword.py), kept in the manifest.
    `dense_index` None keeps the spec of the folder's current snapshot (faiss-flat for a new folder), so a
    rebuild that names no backend (a background job) never turns an approximate index back into exact;
    `keyword_index` None likewise (bm25s for a new folder). `index_backend_specs` turns the one
    NOTESQA_INDEX_BACKEND setting into both."""
    started = time.perf_counter()
    current_dense, current_keyword = current_specs(Path(index_dir))
    dense_index = dense_index or current_dense or DEFAULT_DENSE_INDEX
    keyword_index = keyword_index or current_keyword or DEFAULT_KEYWORD_INDEX
    try:
        dense_backend(dense_index), keyword_backend(keyword_index)
    except (DenseIndexError, KeywordIndexError) as exc:
        raise BuildError(str(exc)) from exc
    report = progress or (lambda stage, done, total: None)
    report("loading", 0, 0)
    index_dir = Path(index_dir)
    try:
        loaded = load_sources(corpus)
    except SourceError as exc:
        raise BuildError(str(exc)) from exc
    skipped = list(loaded.skipped)
    documents: dict[str, dict] = {}
    paragraphs: list[Paragraph] = []
    for doc in loaded.documents:
        if doc.doc_id in documents:
            skipped.append(SkippedSource(doc.source, f"duplicate doc_id {doc.doc_id!r}"))
            continue
        try:
            segmented = segment_document(doc)
        except Exception as exc:  # one malformed note must not stop the build
            log.exception("segmentation failed for %s", doc.source)
            skipped.append(SkippedSource(doc.source, f"could not be segmented: {exc}"))
            continue
        if not segmented.paragraphs:
            skipped.append(SkippedSource(doc.source, "no text paragraphs found"))
            continue
        documents[doc.doc_id] = {
            "doc_id": doc.doc_id,
            "title": document_title(doc, segmented.paragraphs),
            "source": Path(doc.source).name if ":" not in Path(doc.source).name else doc.source,
            "metadata": {**segmented.metadata, **doc.metadata},
            "paragraphs": len(segmented.paragraphs),
            "chars": len(doc.text),
        }
        paragraphs.extend(segmented.paragraphs)
    if not paragraphs:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in skipped) or "no .txt/.md/.jsonl sources"
        raise BuildError(f"{corpus}: nothing to index ({reasons})")

    searchable = [i for i, p in enumerate(paragraphs) if p.kind in SEARCHABLE_KINDS]
    texts = [indexed_text(paragraphs[i], documents[paragraphs[i].doc_id]["title"]) for i in searchable]
    embedder = embedder or create_embedder(embedder_spec)
    try:
        check_dense_spec(dense_index, embedder.dimension)  # before embedding: a bad factory string fails fast
    except DenseIndexError as exc:
        raise BuildError(str(exc)) from exc

    with build_lock(index_dir):
        embed_started = time.perf_counter()
        cache = EmbeddingCache(index_dir / "embedding_cache.sqlite", embedder.dimension)
        try:
            vectors, embedded = _embed_with_cache(embedder, texts, cache, show_progress, report)
        finally:
            cache.close()
        embed_seconds = time.perf_counter() - embed_started
        report("writing", 0, 0)
        tokens = [keyword_tokens(t) for t in texts]
        manifest = {
            "embedder": {"name": embedder.name, "spec": embedder_spec, "dimension": embedder.dimension},
            "counts": {"documents": len(documents), "paragraphs": len(paragraphs), "searchable": len(searchable)},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "corpus": str(corpus),
            "skipped": [asdict(s) for s in skipped],
        }
        try:
            path = write_snapshot(index_dir, manifest=manifest, documents=documents, paragraphs=paragraphs,
                                  searchable=searchable, vectors=vectors, keyword_tokens=tokens,
                                  dense_spec=dense_index, keyword_spec=keyword_index)
        except MilvusError as exc:  # the engine refused or went away: the previous snapshot still serves
            raise BuildError(str(exc)) from exc
    return BuildReport(path.name, len(documents), len(paragraphs), len(searchable), embedded,
                       len(texts) - embedded, time.perf_counter() - started, embed_seconds, skipped)


EMBEDDED_BACKEND = "embedded"  # FAISS (NOTESQA_DENSE_INDEX, default faiss-flat) and bm25s in the snapshot folder


def index_backend_specs(index_backend: str | None, dense_index: str | None = None,
                        keyword_index: str | None = None) -> tuple[str | None, str | None]:
    """(dense spec, keyword spec) of the one index-backend setting, for `build_index`:
    None -> (dense_index, keyword_index): each as the folder's current snapshot has it unless named;
    "embedded" -> (dense_index or faiss-flat, keyword_index or bm25s); "milvus://host:port" -> that engine for
    both sides. BuildError for anything else, or for a Milvus backend with a spec of another engine."""
    try:
        if keyword_index is not None:
            keyword_backend(keyword_index)
    except KeywordIndexError as exc:
        raise BuildError(str(exc)) from exc
    if index_backend is None or not index_backend.strip():
        return dense_index, keyword_index
    backend = index_backend.strip()
    if backend == EMBEDDED_BACKEND:
        for name, spec in (("dense", dense_index), ("keyword", keyword_index)):
            if spec is not None and is_milvus_spec(spec):
                raise BuildError(f"index backend {EMBEDDED_BACKEND!r} keeps the {name} index in the snapshot "
                                 f"folder, but the {name} index is {spec!r}")
        return dense_index or DEFAULT_DENSE_INDEX, keyword_index or DEFAULT_KEYWORD_INDEX
    if is_milvus_spec(backend):
        for name, spec in (("dense", dense_index), ("keyword", keyword_index)):
            if spec is not None and spec != backend:
                raise BuildError(f"index backend {backend!r} holds the {name} index too: leave the {name} index "
                                 f"unset (it is {spec!r})")
        try:
            dense_backend(backend), keyword_backend(backend)
        except (DenseIndexError, KeywordIndexError) as exc:
            raise BuildError(str(exc)) from exc
        return backend, backend
    raise BuildError(f"unknown index backend {backend!r}: use {EMBEDDED_BACKEND!r} (FAISS + bm25s in the index "
                     f"folder) or 'milvus://host:port'")


def indexed_text(paragraph: Paragraph, title: str) -> str:
    """The text embedded and keyword-indexed: title and context situate a bare paragraph."""
    return f"{title}\n{paragraph.retrieval_text}"


def _embed_with_cache(embedder, texts: list[str], cache: EmbeddingCache,
                      show_progress: bool, progress: ProgressCallback | None = None) -> tuple[np.ndarray, int]:
    keys = [cache.key(embedder.name, t) for t in texts]
    found = cache.get_many(keys)
    missing = [i for i, k in enumerate(keys) if k not in found]
    if progress:
        progress("embedding", 0, len(missing))
    with tqdm(total=len(missing), desc="embedding", unit="para", disable=not show_progress or not missing) as bar:
        step = getattr(embedder, "build_batch", BATCH_SIZE)  # a wrapper (jobs' lock) may not say
        for start in range(0, len(missing), step):
            batch = missing[start:start + step]
            fresh = dict(zip((keys[i] for i in batch), embedder.encode_document([texts[i] for i in batch])))
            cache.put_many(fresh)  # batch by batch: an interrupted build keeps what it embedded
            found.update(fresh)
            bar.update(len(batch))
            if progress:
                progress("embedding", start + len(batch), len(missing))
    matrix = np.vstack([found[k] for k in keys]) if keys else np.zeros((0, embedder.dimension), np.float32)
    return matrix.astype(np.float32), len(missing)
