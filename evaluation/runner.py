"""Run a dataset through the pipeline (in-process or over HTTP) and score it."""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Protocol

import httpx
from tqdm.auto import tqdm

from evaluation.datasets import EvalItem
from evaluation.metrics import (answer_correct, doc_hit_at_k, evidence_recall_at_k, reciprocal_rank,
                                summarize)

RANK_DEPTH = 20
KS = (1, 3, 5, 10, 20)


class QAClient(Protocol):
    def ask(self, question: str, top_k: int) -> tuple[dict, list[dict], float]:
        """-> (the /v1/ask answer object, the ranked paragraphs for retrieval metrics, ask latency in ms)"""


class InProcessClient:
    def __init__(self, qa) -> None:  # qa: retrieval.pipeline.NotesQA
        self.qa = qa

    def ask(self, question: str, top_k: int) -> tuple[dict, list[dict], float]:
        started = time.perf_counter()
        answer = self.qa.ask(question, top_k=RANK_DEPTH)  # one call gives the answer and a deep ranking
        latency = (time.perf_counter() - started) * 1000
        ranked = [{"doc_id": h.paragraph.doc_id, "text": h.paragraph.text} for h in answer.hits]
        return answer.to_dict(), ranked, latency


class HTTPClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def ask(self, question: str, top_k: int) -> tuple[dict, list[dict], float]:
        started = time.perf_counter()
        answer = self._http.post("/v1/ask", json={"question": question, "top_k": top_k})
        latency = (time.perf_counter() - started) * 1000
        answer.raise_for_status()
        search = self._http.post("/v1/search", json={"query": question, "top_k": RANK_DEPTH})
        search.raise_for_status()
        return answer.json(), search.json()["results"], latency


def score_item(item: EvalItem, answer: dict, ranked: Sequence[dict], latency_ms: float) -> dict:
    texts = [r["text"] for r in ranked]
    docs = [r["doc_id"] for r in ranked]
    correct = (not answer["abstained"]) and answer_correct(answer["answer"], item.answers, item.list_items)
    return {
        "id": item.id, "question": item.question, "type": item.type, "lang": item.lang,
        "answerable": item.answerable, "gold": item.answers, "answer": answer["answer"],
        "abstained": answer["abstained"], "correct": correct if item.answerable else None,
        "citations": [{k: c[k] for k in ("marker", "doc_id", "paragraph_id", "paragraph_number")}
                      for c in answer["citations"]],
        "has_evidence": bool(item.evidence),
        "evidence_recall": {str(k): evidence_recall_at_k(item.evidence, texts, k) for k in KS},
        "doc_hit": {str(k): doc_hit_at_k(item.doc_ids, docs, k) for k in KS},
        "reciprocal_rank": reciprocal_rank(item.evidence, texts),
        "latency_ms": round(latency_ms, 2),
    }


def evaluate(items: Iterable[EvalItem], client: QAClient, top_k: int = 5,
             show_progress: bool = True) -> tuple[dict, list[dict]]:
    items = list(items)
    records = []
    for item in tqdm(items, desc="evaluating", unit="q", disable=not show_progress):
        answer, ranked, latency_ms = client.ask(item.question, top_k)
        records.append(score_item(item, answer, ranked, latency_ms))
    return summarize(records, ks=KS), records
