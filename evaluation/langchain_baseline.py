"""The pipeline a user would otherwise assemble with LangChain, on the same embedder.

LangChain's RecursiveCharacterTextSplitter (Chinese separators, chunk_size 300) cuts every
source document into chunks; langchain_community's FAISS vector store indexes them with our
embedder wrapped as a LangChain `Embeddings` (embed_query -> encode_query, embed_documents ->
encode_document); the answer is the top chunk's text and the citations are the top chunks.

Chunk vectors are remembered in an EmbeddingCache (sqlite, like the index builder's) so that
repeated evaluations embed nothing twice.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from index.embedders import BATCH_SIZE, Embedder
from index.loading import load_sources
from index.snapshot import EmbeddingCache

CHUNK_SIZE = 300
CHUNK_OVERLAP = 30
# paragraphs, lines, then Chinese and Western sentence ends, clause marks, spaces, characters
CHINESE_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "!", "?", ";", "，", ",", " ", ""]


class NotesQAEmbeddings(Embeddings):
    """A NotesQA embedder (index.embedders) as a LangChain `Embeddings`."""

    def __init__(self, embedder: Embedder, cache_path: str | Path | None = None) -> None:
        self.embedder = embedder
        self.cache_path = Path(cache_path) if cache_path else None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        cache = EmbeddingCache(self.cache_path) if self.cache_path else None
        try:
            keys = [EmbeddingCache.key(f"{self.embedder.name}:passage", t) for t in texts]
            found = cache.get_many(keys) if cache else {}
            missing = [i for i, k in enumerate(keys) if k not in found]
            fresh: dict[str, np.ndarray] = {}
            for start in range(0, len(missing), BATCH_SIZE):
                batch = missing[start:start + BATCH_SIZE]
                for i, vector in zip(batch, self.embedder.encode_document([texts[i] for i in batch])):
                    fresh[keys[i]] = vector
            if cache and fresh:
                cache.put_many(fresh)
            found.update(fresh)
            return [np.asarray(found[k], dtype=np.float32).tolist() for k in keys]
        finally:
            if cache:
                cache.close()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.encode_query([text])[0].tolist()


def split_corpus(corpus: str | Path | Sequence[str | Path], chunk_size: int = CHUNK_SIZE,
                 chunk_overlap: int = CHUNK_OVERLAP) -> list[Document]:
    """Every readable source document cut into chunks (metadata: doc_id, title, start_index)."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(separators=CHINESE_SEPARATORS, keep_separator="end",
                                              chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                                              add_start_index=True)
    sources = [corpus] if isinstance(corpus, (str, Path)) else list(corpus)
    documents = []
    for source in sources:
        for doc in load_sources(source).documents:
            documents.append(Document(page_content=doc.text, metadata={"doc_id": doc.doc_id, "title": doc.title}))
    return splitter.split_documents(documents)


class LangChainPipeline:
    """FAISS over recursive-character chunks; `ask` answers with the top chunk."""

    name = "langchain"

    def __init__(self, corpus: str | Path | Sequence[str | Path], embedder: Embedder,
                 cache_path: str | Path | None = None, *, chunk_size: int = CHUNK_SIZE,
                 depth: int = 20, cite_k: int = 4) -> None:
        with warnings.catch_warnings():  # "langchain-community is being sunset": still what users install
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.vectorstores import FAISS

        started = time.perf_counter()
        self.chunks = split_corpus(corpus, chunk_size)
        self.embeddings = NotesQAEmbeddings(embedder, cache_path)
        self.store = FAISS.from_documents(self.chunks, self.embeddings)
        self.build_seconds = time.perf_counter() - started
        self.depth = depth
        self.cite_k = cite_k

    def ask(self, question: str, top_k: int = 5, doc_ids: Sequence[str] | None = None) -> tuple[dict, list[dict], float]:
        scope: dict = {}
        if doc_ids is not None:  # LangChain filters after the search: fetch every chunk, keep the documents'
            wanted = set(doc_ids)
            scope = {"filter": lambda metadata: metadata["doc_id"] in wanted, "fetch_k": self.store.index.ntotal}
        started = time.perf_counter()
        found = self.store.similarity_search_with_score(question, k=self.depth, **scope)
        latency = (time.perf_counter() - started) * 1000
        ranked = [{"doc_id": d.metadata["doc_id"], "paragraph_id": f"chunk@{d.metadata.get('start_index', 0)}",
                   "text": d.page_content} for d, _ in found]
        return top_passage_answer(ranked, self.cite_k), ranked, latency


def top_passage_answer(ranked: list[dict], cite_k: int) -> dict:
    """A baseline's answer: the top passage's text, citing the top `cite_k` passages."""
    if not ranked:
        return {"answer": "", "abstained": True, "citations": []}
    citations = [{"marker": n, "doc_id": r["doc_id"], "paragraph_id": r.get("paragraph_id"),
                  "paragraph_number": r.get("paragraph_number"), "text": r["text"], "quote": r["text"]}
                 for n, r in enumerate(ranked[:cite_k], start=1)]
    return {"answer": ranked[0]["text"], "abstained": False, "citations": citations}
