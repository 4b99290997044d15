"""Metrics over per-question records; each function returns plain numbers or dicts."""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from index.normalization import compact
from index.segmentation import clean_inline


_FOOTNOTE_MARK = re.compile(r"^(?:\^\w{1,3}|\*|[¹²³⁴⁵⁶⁷⁸⁹⁰]+)\s*")


def _pieces(evidence: str) -> list[str]:
    """A table-row evidence string is matched cell by cell; a footnote's mark is formatting, not content."""
    cells = (_FOOTNOTE_MARK.sub("", clean_inline(x)) for x in re.split(r"[\t\n]+", evidence))
    return [p for p in (compact(c) for c in cells) if p]


def evidence_in(evidence: str, paragraph_text: str) -> bool:
    target = compact(paragraph_text)
    pieces = _pieces(evidence)
    return bool(pieces) and all(p in target for p in pieces)


def evidence_recall_at_k(evidence: Sequence[str], ranked_texts: Sequence[str], k: int) -> float:
    """Share of gold evidence strings found in the top-k paragraphs."""
    if not evidence:
        return 0.0
    top = ranked_texts[:k]
    return sum(any(evidence_in(e, t) for t in top) for e in evidence) / len(evidence)


def doc_hit_at_k(doc_ids: Sequence[str], ranked_doc_ids: Sequence[str], k: int) -> float:
    """Share of gold documents present in the top-k results (CMRC: gold passage in top k)."""
    if not doc_ids:
        return 0.0
    top = set(ranked_doc_ids[:k])
    return sum(d in top for d in doc_ids) / len(doc_ids)


def reciprocal_rank(evidence: Sequence[str], ranked_texts: Sequence[str]) -> float:
    for rank, text in enumerate(ranked_texts, start=1):
        if any(evidence_in(e, text) for e in evidence):
            return 1.0 / rank
    return 0.0


def answer_correct(answer: str, answers: Sequence[str], list_items: Sequence[str] = ()) -> bool:
    """A gold answer contained in the answer after normalisation; every item for lists."""
    got = compact(answer)
    if list_items:
        return all(compact(i) in got for i in list_items)
    return any(compact(a) and compact(a) in got for a in answers)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else 0.0


def summarize(records: Sequence[dict], ks: Sequence[int] = (1, 3, 5, 10)) -> dict:
    """Aggregate per-question records (see runner.evaluate) into the metric table."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    out: dict = {"questions": len(records), "answerable": len(answerable), "unanswerable": len(unanswerable)}
    for k in ks:
        out[f"evidence_recall@{k}"] = _mean(r["evidence_recall"][str(k)] for r in answerable if r["has_evidence"])
        out[f"doc_hit@{k}"] = _mean(r["doc_hit"][str(k)] for r in answerable)
    out["mrr"] = _mean(r["reciprocal_rank"] for r in answerable if r["has_evidence"])
    out["answer_accuracy"] = _mean(r["correct"] for r in answerable)
    out["false_abstention"] = _mean(r["abstained"] for r in answerable)
    out["abstention"] = _mean(r["abstained"] for r in unanswerable) if unanswerable else None
    latencies = [r["latency_ms"] for r in records]
    out["latency_p50_ms"] = round(percentile(latencies, 50), 1)
    out["latency_p95_ms"] = round(percentile(latencies, 95), 1)
    return out


def _mean(values) -> float:
    values = [float(v) for v in values]
    return round(sum(values) / len(values), 4) if values else 0.0
