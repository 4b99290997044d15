"""NotesQARetriever: a LangChain retriever over a local snapshot or a running service."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ValidationError

from retrieval.langchain_retriever import CITATION_FIELDS, NotesQARetriever

QUESTION = "资产追回工作组2018年的会议是哪天开幕的？"
GOLD_DOC = "000_eb96d92128743acc"


@pytest.fixture(scope="module")
def local(sample_index: Path) -> NotesQARetriever:
    return NotesQARetriever.from_index(sample_index, top_k=3)


def check_documents(docs: list[Document], top_k: int) -> None:
    assert 1 <= len(docs) <= top_k
    for doc in docs:
        assert isinstance(doc, Document) and doc.page_content.strip()
        assert set(CITATION_FIELDS) <= set(doc.metadata)
        assert isinstance(doc.metadata["start"], int) and doc.metadata["end"] > doc.metadata["start"]
    assert docs[0].metadata["doc_id"] == GOLD_DOC
    assert "开幕" in docs[0].page_content
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.unit
@pytest.mark.parametrize("kwargs,message", [
    ({}, "exactly one"),
    ({"qa": object(), "base_url": "http://x"}, "exactly one"),
    ({"base_url": "http://x", "mode": "dense"}, "hybrid mode only"),
    ({"base_url": "http://x", "mode": "fuzzy"}, "mode must be"),
    ({"base_url": "http://x", "top_k": 0}, "greater than or equal to 1"),
])
def test_configuration_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NotesQARetriever(**kwargs)


@pytest.mark.slow
def test_local_snapshot(local: NotesQARetriever, sample_index: Path) -> None:
    assert isinstance(local, BaseRetriever)
    docs = local.invoke(QUESTION)
    check_documents(docs, 3)
    meta = docs[0].metadata
    snapshot = local.qa.snapshot
    paragraph = next(p for p in snapshot.paragraphs if p.paragraph_id == meta["paragraph_id"])
    assert paragraph.text == docs[0].page_content
    assert (meta["start"], meta["end"], meta["section"]) == (paragraph.start, paragraph.end, paragraph.section)
    assert meta["title"] == snapshot.documents[GOLD_DOC]["title"]
    source = (Path(__file__).resolve().parents[2] / "corpus" / f"{GOLD_DOC}.txt").read_text(encoding="utf-8")
    assert "2018 年 6 月 6 日" in source[meta["start"]:meta["end"]]  # offsets point into the source note


@pytest.mark.slow
def run_async(coroutine):
    """asyncio.run in a thread of its own: the session's browser fixture keeps a loop running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_local_modes_and_async(local: NotesQARetriever) -> None:
    keyword = NotesQARetriever(qa=local.qa, top_k=2, mode="keyword").invoke("全球联络点举措")
    assert len(keyword) == 2 and all("联络点" in d.page_content for d in keyword)
    docs = run_async(local.ainvoke(QUESTION))
    check_documents(docs, 3)


@pytest.mark.slow
@pytest.mark.integration
def test_service(api_server: str, local: NotesQARetriever) -> None:
    remote = NotesQARetriever(base_url=api_server, top_k=3)
    docs = remote.invoke(QUESTION)
    check_documents(docs, 3)
    # the service serves the same snapshot: the same paragraphs, in the same order
    assert [d.metadata["paragraph_id"] for d in docs] == [d.metadata["paragraph_id"] for d in local.invoke(QUESTION)]
    assert [d.metadata["paragraph_id"] for d in run_async(remote.ainvoke(QUESTION))] == \
        [d.metadata["paragraph_id"] for d in docs]


@pytest.mark.slow
@pytest.mark.integration
def test_service_errors_surface(api_server: str) -> None:
    import httpx

    with pytest.raises(httpx.HTTPStatusError):
        NotesQARetriever(base_url=api_server, top_k=10_000).invoke(QUESTION)  # over the server's max_top_k
