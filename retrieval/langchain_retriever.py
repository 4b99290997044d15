"""NotesQA as a LangChain retriever: hybrid search results as `Document`s with citation metadata.

    from retrieval.langchain_retriever import NotesQARetriever

    retriever = NotesQARetriever.from_index("var/index", top_k=5)           # a local snapshot
    retriever = NotesQARetriever(base_url="http://127.0.0.1:8000")          # a running service
    docs = retriever.invoke("资产追回工作组2018年的会议是哪天开幕的？")
    docs[0].metadata  # doc_id, title, paragraph_id, paragraph_number, section, start, end, score, kind

Each Document's page_content is the paragraph text; its metadata are the fields a citation
needs. Requires langchain-core (`pip install 'notesqa[langchain]'`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

CITATION_FIELDS = ("doc_id", "title", "paragraph_id", "paragraph_number", "section", "start", "end", "score")


class NotesQARetriever(BaseRetriever):
    """Paragraphs of a NotesQA index (local `qa`) or of a running service (`base_url`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    qa: Any = Field(default=None, description="A retrieval.pipeline.NotesQA (local snapshot).")
    base_url: str | None = Field(default=None, description="Base URL of a running NotesQA service.")
    api_key: str | None = Field(default=None, description="Bearer token for the service, if it needs one.")
    top_k: int = Field(default=5, ge=1, description="Paragraphs per query.")
    mode: str = Field(default="hybrid", description="Local only: hybrid, dense or keyword.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per request to the service.")

    @model_validator(mode="after")
    def _one_backend(self) -> NotesQARetriever:
        if (self.qa is None) == (self.base_url is None):
            raise ValueError("give exactly one of qa (a local NotesQA) or base_url (a running service)")
        if self.mode not in ("hybrid", "dense", "keyword"):
            raise ValueError(f"mode must be hybrid, dense or keyword, not {self.mode!r}")
        if self.base_url is not None and self.mode != "hybrid":
            raise ValueError("the service searches in hybrid mode only")
        return self

    @classmethod
    def from_index(cls, index_dir: str | Path, embedder_spec: str | None = None, **kwargs: Any) -> NotesQARetriever:
        """A retriever over the current snapshot of an index folder."""
        from index.embedders import DEFAULT_EMBEDDER
        from retrieval.pipeline import NotesQA

        return cls(qa=NotesQA.load(index_dir, embedder_spec or DEFAULT_EMBEDDER), **kwargs)

    # --- local -------------------------------------------------------------------------------
    def _local(self, query: str) -> list[Document]:
        hits = self.qa.search(query, top_k=self.top_k, mode=self.mode)
        return [Document(page_content=h.paragraph.text,
                         metadata={k: v for k, v in h.record(self.qa.title(h.paragraph.doc_id)).items() if k != "text"})
                for h in hits]

    # --- service -----------------------------------------------------------------------------
    def _request(self, query: str) -> tuple[str, dict, dict]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return f"{self.base_url.rstrip('/')}/v1/search", {"query": query, "top_k": self.top_k}, headers

    @staticmethod
    def _documents(payload: dict) -> list[Document]:
        return [Document(page_content=r["text"],
                         metadata={**{k: r.get(k) for k in CITATION_FIELDS}, "kind": r.get("kind")})
                for r in payload["results"]]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        if self.qa is not None:
            return self._local(query)
        url, body, headers = self._request(query)
        response = httpx.post(url, json=body, headers=headers, timeout=self.timeout)
        response.raise_for_status()
        return self._documents(response.json())

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun) -> list[Document]:
        if self.qa is not None:
            return self._local(query)  # the engine is in-process and synchronous
        url, body, headers = self._request(query)
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(url, json=body, headers=headers)
        response.raise_for_status()
        return self._documents(response.json())
