"""Run a dataset through one or more systems (in-process or over HTTP) and score every answer.

A system is anything with `ask(question, top_k, doc_ids=None, history=()) -> (answer, ranked, latency_ms)`:
    answer:  the /v1/ask object: {"answer", "abstained", "citations": [{marker, doc_id,
             paragraph_id, paragraph_number, text, quote}, ...]}, and from NotesQA also "fact"
             (the concise answer, or None), "fact_citation" and "confidence" (the probability
             that the answer is right); a baseline's answer has none of these: absent = None
    ranked:  the ranking the retrieval metrics are computed on, best first, RANK_DEPTH deep:
             [{"doc_id", "text", ...}, ...]
    latency: milliseconds of the answering call alone.
    history: the conversation's earlier turns, oldest first, as a chat client sends them to /v1/ask:
             [{"question", "answer", "paragraph_ids"}, ...]; NotesQA completes a follow-up from them,
             the baselines have no notion of a conversation and ignore it.
Systems: this project's pipeline (NotesQA.ask, or a running service), the keyword-only and
dense-only searches of the same index, and the LangChain pipeline (evaluation.langchain_baseline).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import httpx
from tqdm.auto import tqdm

from evaluation.datasets import EvalItem
from evaluation.scoring import (answer_correct, char_f1, citation_precision, citation_recall, citation_supports,
                                concise_answer, doc_hit_at_k, doc_ranks, evidence_in, evidence_ranks,
                                evidence_recall_at_k,
                                exact_match, list_item_recall, mrr_from_ranks, ndcg_at_k, recall_at_k,
                                strip_markers, summarize)

RANK_DEPTH = 20
KS = (1, 3, 5, 10, 20)
BASELINE_CITATIONS = 4  # a baseline cites its top passages (LangChain's default retriever k)
SYSTEM_LABELS = {
    "notesqa": "NotesQA (hybrid + extractive answer)",
    "keyword": "keyword only (jieba BM25)",
    "dense": "dense only (same embedder)",
    "langchain": "LangChain FAISS + text splitter",
    "notesqa-llm": "NotesQA + LLM (claims verified)",  # evaluation/llm_client.py; not in ALL_SYSTEMS: needs a server
}
ALL_SYSTEMS = ("notesqa", "keyword", "dense", "langchain")


HistoryTurns = Sequence[dict]  # [{"question", "answer", "paragraph_ids"}, ...], oldest first (AskRequest.history)


class QAClient(Protocol):
    def ask(self, question: str, top_k: int, doc_ids: Sequence[str] | None = None, *,
            history: HistoryTurns = ()) -> tuple[dict, list[dict], float]:
        """-> (the /v1/ask answer object, the ranked paragraphs for retrieval metrics, ask latency in ms);
        `doc_ids`: only those documents are searched; `history`: the conversation's earlier turns."""


def ranked_paragraphs(hits) -> list[dict]:
    return [{k: record[k] for k in ("doc_id", "paragraph_id", "paragraph_number", "text")}
            for record in (h.record() for h in hits)]


class InProcessClient:
    """This project's pipeline: NotesQA.ask (hybrid search, extractive answer, citations).

    Like HTTPClient: the answer is what a user gets with `top_k` (timed), the ranking for the
    retrieval metrics comes from a RANK_DEPTH-deep hybrid search (not timed). One ask with
    top_k=RANK_DEPTH would be cheaper but searches deeper candidate lists than the service
    does at its default top_k, which can change the answer.
    """

    name = "notesqa"

    def __init__(self, qa) -> None:  # qa: retrieval.pipeline.NotesQA
        self.qa = qa

    def ask(self, question: str, top_k: int, doc_ids: Sequence[str] | None = None, *,
            history: HistoryTurns = ()) -> tuple[dict, list[dict], float]:
        from retrieval.conversation import Turn

        turns = [Turn(t["question"], t.get("answer", ""), tuple(t.get("paragraph_ids") or ())) for t in history]
        started = time.perf_counter()
        answer = self.qa.ask(question, top_k=top_k, doc_ids=doc_ids, history=turns).to_dict()
        latency = (time.perf_counter() - started) * 1000
        # the ranking of the question answered: a follow-up's own words would rank for the wrong thing
        searched = answer.get("resolved_question") or question
        ranked = ranked_paragraphs(self.qa.search(searched, top_k=RANK_DEPTH, doc_ids=doc_ids))
        return answer, ranked, latency


class SearchOnlyClient:
    """A baseline on the same index: NotesQA.search in one mode; the answer is the top paragraph.

    keyword: jieba BM25 alone (the searcher is called without the query embedding that
             NotesQA.search computes for every mode but the keyword side never uses);
    dense:   the embedder's cosine alone.
    """

    def __init__(self, qa, mode: str, cite_k: int = BASELINE_CITATIONS) -> None:
        if mode not in ("keyword", "dense"):
            raise ValueError(f"unknown search mode {mode!r}")
        self.qa = qa
        self.mode = mode
        self.name = mode
        self.cite_k = cite_k

    def ask(self, question: str, top_k: int, doc_ids: Sequence[str] | None = None, *,
            history: HistoryTurns = ()) -> tuple[dict, list[dict], float]:
        from evaluation.langchain_baseline import top_passage_answer
        from retrieval.query_analysis import expand_query

        started = time.perf_counter()
        if self.mode == "keyword":
            hits = self.qa.searcher.search(expand_query(question), RANK_DEPTH, mode="keyword", doc_ids=doc_ids)
        else:
            hits = self.qa.search(question, top_k=RANK_DEPTH, mode="dense", doc_ids=doc_ids)
        latency = (time.perf_counter() - started) * 1000
        ranked = ranked_paragraphs(hits)
        return top_passage_answer(ranked, self.cite_k), ranked, latency


class HTTPClient:
    """A running service: POST /v1/ask (timed) and /v1/search (the ranking, not timed)."""

    name = "notesqa"

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def ask(self, question: str, top_k: int, doc_ids: Sequence[str] | None = None, *,
            history: HistoryTurns = ()) -> tuple[dict, list[dict], float]:
        scope = {"doc_ids": list(doc_ids)} if doc_ids is not None else {}
        turns = {"history": [{"question": t["question"], "answer": t.get("answer", ""),
                              "paragraph_ids": list(t.get("paragraph_ids") or [])} for t in history]} if history else {}
        started = time.perf_counter()
        answer = self._http.post("/v1/ask", json={"question": question, "top_k": top_k, **scope, **turns})
        latency = (time.perf_counter() - started) * 1000
        answer.raise_for_status()
        body = answer.json()
        # as InProcessClient: rank for the question the service answered
        searched = body.get("resolved_question") or question
        search = self._http.post("/v1/search", json={"query": searched, "top_k": RANK_DEPTH, **scope})
        search.raise_for_status()
        return body, search.json()["results"], latency

    def close(self) -> None:
        self._http.close()


def score_item(item: EvalItem, answer: dict, ranked: Sequence[dict], latency_ms: float) -> dict:
    """One answer -> its per-question record (what metrics.summarize aggregates).

    Besides the retrieval, answer and citation fields: "fact" and "confidence" as the system
    gave them (None for a baseline), "answer_chars" (the answer's length without [n] markers;
    None when abstained) and "correct_any" (the answer given holds a gold answer; always False
    for an unanswerable question, where nothing said is right). The concise answer that exact
    match and F1 are computed on is the system's "fact" when it gave one, else it is cut from
    the answer text (concise_answer), so that EM/F1 still mean something without a fact.
    """
    texts = [r["text"] for r in ranked]
    docs = [r["doc_id"] for r in ranked]
    citations = answer.get("citations") or []
    abstained = bool(answer["abstained"])
    first_quote = citations[0].get("quote") if citations else None
    fact = answer.get("fact") or None
    confidence = answer.get("confidence")
    if abstained:
        concise = ""
    else:
        concise = fact if fact is not None else concise_answer(answer["answer"], first_quote)
    correct = (not abstained) and answer_correct(answer["answer"], item.answers, item.list_items)
    ev_ranks = evidence_ranks(item.evidence, texts)
    d_ranks = doc_ranks(item.doc_ids, docs)
    units = ev_ranks if item.evidence else d_ranks
    supports = [citation_supports(c.get("text", ""), c["doc_id"], item.evidence, item.doc_ids) for c in citations]
    record = {
        "id": item.id, "question": item.question, "type": item.type, "lang": item.lang, "tags": item.tags,
        "answerable": item.answerable, "gold": item.answers, "list_items": item.list_items,
        "answer": answer["answer"], "concise_answer": concise, "abstained": abstained,
        "correct": correct if item.answerable else None,
        "correct_any": correct,
        "fact": fact,
        "confidence": None if confidence is None else float(confidence),
        "answer_chars": None if abstained else len(strip_markers(answer["answer"])),
        "citations": [{**{k: c.get(k) for k in ("marker", "doc_id", "paragraph_id", "paragraph_number")},
                       "supports": s} for c, s in zip(citations, supports)],
        "has_evidence": bool(item.evidence),
        "evidence_ranks": ev_ranks,
        "doc_ranks": d_ranks,
        "evidence_recall": {str(k): evidence_recall_at_k(item.evidence, texts, k) for k in KS},
        "doc_hit": {str(k): doc_hit_at_k(item.doc_ids, docs, k) for k in KS},
        "hits": [any(evidence_in(e, t) for e in item.evidence) if item.evidence else doc in item.doc_ids
                 for t, doc in zip(texts, docs)],  # per rank: does this result hold gold evidence
        "reciprocal_rank": mrr_from_ranks(ev_ranks),
        "recall@5": recall_at_k(units, 5),
        "ndcg@10": ndcg_at_k(units, 10),
        "latency_ms": round(latency_ms, 2),
    }
    if item.answerable:
        record["list_recall"] = list_item_recall(answer["answer"], item.list_items) if item.list_items else None
        record["exact_match"] = 0.0 if abstained else exact_match(concise, item.answers)
        record["f1"] = 0.0 if abstained else char_f1(concise, item.answers)
        record["citation_precision"] = citation_precision(supports)
        record["citation_recall"] = citation_recall(item.evidence, item.doc_ids,
                                                    [c.get("text", "") for c in citations],
                                                    [c["doc_id"] for c in citations])
    return record


def run_systems(items: Iterable[EvalItem], systems: dict[str, QAClient], top_k: int = 5,
                show_progress: bool = True, concurrency: int = 1, warm_up: bool = True,
                scoped: bool = False) -> dict[str, list[dict]]:
    """Every question through every system -> {system: records in dataset order}.

    `scoped`: each question is asked of its own documents only (its doc_ids), which scores reading and
    abstention apart from retrieval; a question that names none (an unanswerable one) is asked of all.
    The systems take turns question by question (the first system rotates), so that a slower
    or busier moment of the machine falls on all of them alike. `concurrency` > 1 sends that
    many questions at once (for a service; in-process engines are not thread-safe). Each
    system answers the first question once, unscored, before the timed run.
    """
    items = list(items)
    names = list(systems)
    results: dict[str, list[dict | None]] = {name: [None] * len(items) for name in names}
    bar = tqdm(total=len(items) * len(names), desc="evaluating", unit="q", disable=not show_progress)
    lock = threading.Lock()

    def scope(item: EvalItem) -> list[str] | None:
        return list(item.doc_ids) if scoped and item.doc_ids else None

    def one(index: int) -> None:
        item = items[index]
        order = names[index % len(names):] + names[:index % len(names)]
        for name in order:
            answer, ranked, latency = systems[name].ask(item.question, top_k, scope(item))
            record = score_item(item, answer, ranked, latency)
            with lock:
                results[name][index] = record
                bar.update(1)

    if items and warm_up:  # lazy loading and first-call setup are not what latency measures
        for client in systems.values():
            client.ask(items[0].question, top_k, scope(items[0]))
    try:
        if concurrency > 1:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                for future in [pool.submit(one, i) for i in range(len(items))]:
                    future.result()
        else:
            for i in range(len(items)):
                one(i)
    finally:
        bar.close()
    return {name: [r for r in records if r is not None] for name, records in results.items()}


def evaluate(items: Iterable[EvalItem], client: QAClient, top_k: int = 5,
             show_progress: bool = True, concurrency: int = 1) -> tuple[dict, list[dict]]:
    """One system on one dataset -> (metrics, per-question records)."""
    records = run_systems(items, {"system": client}, top_k, show_progress, concurrency)["system"]
    return summarize(records, ks=KS), records
