"""Metrics over per-question records; each function returns plain numbers or dicts.

Per question (see runner.score_item), then aggregated by `summarize`:

* retrieval: recall@k (share of the gold units - evidence strings, or gold documents when an item
  has no evidence - found in the top k), MRR, nDCG@10 (binary gains);
* answers: accuracy (a gold alternative contained in the answer after normalisation; every item
  for list questions), list-item recall, exact match and character F1 of the concise answer
  (for span datasets such as CMRC);
* citations: precision (share of cited paragraphs that hold gold evidence) and recall (share of
  the gold evidence found in the cited paragraphs);
* abstention on unanswerable questions, false abstention on answerable ones; latency p50/p95;
* calibration, for systems that report a confidence (NotesQA's /v1/ask "confidence"): expected
  calibration error, a reliability table, accuracy by confidence band and the accuracy/abstention
  trade-off of a confidence threshold; the median answer length.

Normalisation everywhere is `index.normalization.compact`: NFKC, lower case, traditional ->
simplified, no whitespace; exact match and F1 also drop punctuation.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from index.normalization import compact
from index.segmentation import clean_inline, split_sentences

RECALL_CURVE_DEPTH = 20
NDCG_K = 10
CALIBRATION_BINS = 10  # equal-width confidence bins of the ECE and the reliability table
CONFIDENCE_BANDS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # edges of the accuracy-by-confidence table
TRADEOFF_STEP = 0.05  # threshold grid of the accuracy/abstention trade-off: 0.0, 0.05, ..., 1.0

# "[1]", "[12]": the citation markers the answer composer appends to its sentences
_MARKER = re.compile(r"\[\d{1,3}\]")


_FOOTNOTE_MARK = re.compile(r"^(?:\^\w{1,3}|\*|[¹²³⁴⁵⁶⁷⁸⁹⁰]+)\s*")


def _pieces(evidence: str) -> list[str]:
    """A table-row evidence string is matched cell by cell; a footnote's mark is formatting, not content."""
    cells = (_FOOTNOTE_MARK.sub("", clean_inline(x)) for x in re.split(r"[\t\n]+", evidence))
    return [p for p in (compact(c) for c in cells) if p]


def evidence_in(evidence: str, paragraph_text: str) -> bool:
    target = compact(paragraph_text)
    pieces = _pieces(evidence)
    return bool(pieces) and all(p in target for p in pieces)


# --- retrieval ------------------------------------------------------------------------------

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


def first_ranks(units: Sequence[str], ranked: Sequence[str], contains: Callable[[str, str], bool]) -> list[int | None]:
    """For each gold unit, the 1-based rank of the first result that holds it (None: not retrieved)."""
    out: list[int | None] = []
    for unit in units:
        out.append(next((rank for rank, item in enumerate(ranked, start=1) if contains(unit, item)), None))
    return out


def evidence_ranks(evidence: Sequence[str], ranked_texts: Sequence[str]) -> list[int | None]:
    return first_ranks(evidence, ranked_texts, evidence_in)


def doc_ranks(doc_ids: Sequence[str], ranked_doc_ids: Sequence[str]) -> list[int | None]:
    return first_ranks(doc_ids, ranked_doc_ids, lambda unit, item: unit == item)


def recall_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Share of gold units whose first rank is within k (0.0 when there are no units)."""
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr_from_ranks(ranks: Sequence[int | None]) -> float:
    """Reciprocal rank of the first result holding any gold unit."""
    found = [r for r in ranks if r is not None]
    return 1.0 / min(found) if found else 0.0


def ndcg_at_k(ranks: Sequence[int | None], k: int = NDCG_K) -> float:
    """Binary nDCG: a result gains 1 when it is the first to hold one or more gold units.

    The ideal ranking puts min(units, k) such results at the top. (When two gold units sit in
    the same paragraph the best achievable value is a little below 1.)
    """
    if not ranks:
        return 0.0
    gain_ranks = {r for r in ranks if r is not None and r <= k}
    dcg = sum(1.0 / math.log2(r + 1) for r in gain_ranks)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(ranks), k) + 1))
    return dcg / ideal if ideal else 0.0


# --- answers --------------------------------------------------------------------------------

def answer_correct(answer: str, answers: Sequence[str], list_items: Sequence[str] = ()) -> bool:
    """A gold answer contained in the answer after normalisation; every item for lists."""
    got = compact(answer)
    if list_items:
        return all(compact(i) in got for i in list_items)
    return any(compact(a) and compact(a) in got for a in answers)


def list_item_recall(answer: str, list_items: Sequence[str]) -> float:
    """Share of the required list items contained in the answer (after normalisation)."""
    if not list_items:
        return 0.0
    got = compact(answer)
    return sum(1 for i in list_items if compact(i) and compact(i) in got) / len(list_items)


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()


def concise_answer(answer: str, first_quote: str | None = None) -> str:
    """The direct fact the composer puts first, else its first sentence, without markers.

    The composer writes "{fact}。{sentence}[1]..." when it isolated a fact (". " after the fact
    for English questions) and "{sentence}[1]..." otherwise. The concise answer is the text
    before the sentence that carries the first marker; when nothing precedes that sentence it
    is the sentence itself. `first_quote` (the quote of the first citation, which starts with
    that sentence) locates the sentence exactly; without it the head is cut at the last Chinese
    sentence end. An answer without markers (a baseline's passage) is returned whole.
    """
    match = _MARKER.search(answer)
    if not match:
        return answer.strip()
    head = answer[:match.start()]
    fact = ""
    if first_quote:
        quote = first_quote.strip()
        for start in range(len(head)):
            tail = head[start:].strip()
            if tail and quote.startswith(tail):
                fact = head[:start]
                break
    else:
        pieces = [p for p in split_sentences(head) if p.strip()]
        if len(pieces) > 1:
            fact = "".join(pieces[:-1])
    fact = fact.strip().rstrip("。.").strip()
    return fact if fact else strip_markers(head)


def normalize_span(text: str) -> str:
    """`compact` without punctuation: the comparison exact match and F1 use."""
    return "".join(ch for ch in compact(text) if not unicodedata.category(ch).startswith("P"))


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the prediction equals one gold alternative after normalisation."""
    got = normalize_span(prediction)
    return float(any(got == normalize_span(g) for g in golds if normalize_span(g)))


def char_f1(prediction: str, golds: Sequence[str]) -> float:
    """Character-level F1 (SQuAD's token F1 with characters as tokens), best over the golds."""
    got = Counter(normalize_span(prediction))
    best = 0.0
    for gold in golds:
        want = Counter(normalize_span(gold))
        common = sum((got & want).values())
        if not common:
            continue
        precision = common / sum(got.values())
        recall = common / sum(want.values())
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


# --- citations ------------------------------------------------------------------------------

def citation_supports(citation_text: str, citation_doc: str, evidence: Sequence[str],
                      doc_ids: Sequence[str]) -> bool:
    """A citation is correct when its paragraph holds a gold evidence string (or, for an item
    without evidence, comes from a gold document)."""
    if evidence:
        return any(evidence_in(e, citation_text) for e in evidence)
    return citation_doc in doc_ids


def citation_precision(supports: Sequence[bool]) -> float | None:
    """Share of citations whose paragraph holds gold evidence; None without citations."""
    return sum(map(bool, supports)) / len(supports) if supports else None


def citation_recall(evidence: Sequence[str], doc_ids: Sequence[str], cited_texts: Sequence[str],
                    cited_docs: Sequence[str]) -> float:
    """Share of gold evidence strings (or gold documents) found among the cited paragraphs."""
    if evidence:
        return sum(any(evidence_in(e, t) for t in cited_texts) for e in evidence) / len(evidence)
    if doc_ids:
        return sum(d in set(cited_docs) for d in doc_ids) / len(doc_ids)
    return 0.0


# --- aggregation ----------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else 0.0


def abstention_rate(records: Iterable[dict]) -> float | None:
    values = [bool(r["abstained"]) for r in records]
    return _mean(values) if values else None


def _units_ranks(record: dict) -> list[int | None] | None:
    """The ranks recall is computed on: evidence strings, else gold documents."""
    if record.get("has_evidence") and "evidence_ranks" in record:
        return record["evidence_ranks"]
    if not record.get("has_evidence") and "doc_ranks" in record:
        return record["doc_ranks"]
    return None


def _recall_value(record: dict, k: int) -> float | None:
    ranks = _units_ranks(record)
    if ranks is not None:
        return recall_at_k(ranks, k) if ranks else None
    table = record["evidence_recall"] if record.get("has_evidence") else record.get("doc_hit", {})
    return table.get(str(k))


def recall_curve(records: Sequence[dict], depth: int = RECALL_CURVE_DEPTH) -> dict[str, float]:
    """Mean recall@k for k = 1..depth over answerable questions (needs the ranks in the records)."""
    answerable = [r for r in records if r["answerable"]]
    curve: dict[str, float] = {}
    for k in range(1, depth + 1):
        values = [v for r in answerable if (v := _recall_value(r, k)) is not None]
        curve[str(k)] = _mean(values)
    return curve


# --- calibration ----------------------------------------------------------------------------
#
# The outcome a confidence is judged against is "the answer is right". The system reports its
# confidence even when it abstains (it abstains *because* the confidence is low), but an
# abstained record of an answerable question does not say whether the suppressed answer would
# have been right. Calibration is therefore computed over the records with a confidence that
# were answered (outcome: the answer holds the gold answer) plus every unanswerable record
# (outcome 0: whatever the system would have said is wrong, abstained or not).

def calibration_outcome(record: dict) -> float | None:
    """1.0 / 0.0: was the answer this confidence stands for right; None: unknown or no confidence."""
    if record.get("confidence") is None:
        return None
    if not record["answerable"]:
        return 0.0
    if record["abstained"]:
        return None  # the suppressed answer is not in the record
    return float(bool(record.get("correct_any", record["correct"])))


def calibration_pairs(records: Iterable[dict]) -> tuple[list[float], list[float]]:
    """(confidences, outcomes) of the records calibration is computed over (see above)."""
    probs: list[float] = []
    outcomes: list[float] = []
    for record in records:
        outcome = calibration_outcome(record)
        if outcome is not None:
            probs.append(float(record["confidence"]))
            outcomes.append(outcome)
    return probs, outcomes


def _band_index(prob: float, edges: Sequence[float]) -> int:
    """The band [edges[i], edges[i+1]) holding prob; the last band also holds its upper edge."""
    for i in range(len(edges) - 2, -1, -1):
        if prob >= edges[i]:
            return i
    return 0


def _equal_width_edges(bins: int) -> list[float]:
    return [i / bins for i in range(bins + 1)]


def _band_members(probs: Sequence[float], edges: Sequence[float]) -> list[list[int]]:
    """For each band, the indices of the confidences that fall in it."""
    members: list[list[int]] = [[] for _ in range(len(edges) - 1)]
    for i, prob in enumerate(probs):
        members[_band_index(prob, edges)].append(i)
    return members


def _banded(probs: Sequence[float], outcomes: Sequence[float], edges: Sequence[float]) -> list[dict]:
    """Per band: {"low", "high", "count", "mean_confidence", "accuracy"} (None for an empty band)."""
    if len(probs) != len(outcomes):
        raise ValueError("probs and outcomes differ in length")
    rows = []
    for band, idx in enumerate(_band_members(probs, edges)):
        rows.append({"low": round(edges[band], 4), "high": round(edges[band + 1], 4), "count": len(idx),
                     "mean_confidence": _mean(probs[i] for i in idx) if idx else None,
                     "accuracy": _mean(outcomes[i] for i in idx) if idx else None})
    return rows


def expected_calibration_error(probs: Sequence[float], outcomes: Sequence[float],
                               bins: int = CALIBRATION_BINS) -> float | None:
    """ECE: over equal-width confidence bins, |accuracy - mean confidence| weighted by the bin's share.

    `outcomes` are 1/0 (the answer was right); None without any pair. Which records take part
    (answered ones, and unanswerable ones with outcome 0) is calibration_pairs' business.
    """
    if len(probs) != len(outcomes):
        raise ValueError("probs and outcomes differ in length")
    if not probs:
        return None
    error = 0.0
    for idx in _band_members(probs, _equal_width_edges(bins)):
        if idx:
            accuracy = sum(outcomes[i] for i in idx) / len(idx)
            confidence = sum(probs[i] for i in idx) / len(idx)
            error += len(idx) / len(probs) * abs(accuracy - confidence)
    return round(error, 4)


def reliability_table(probs: Sequence[float], outcomes: Sequence[float], bins: int = CALIBRATION_BINS) -> list[dict]:
    """The reliability diagram as rows: per equal-width bin, count, mean confidence and accuracy."""
    return _banded(probs, outcomes, _equal_width_edges(bins))


def accuracy_by_confidence(probs: Sequence[float], outcomes: Sequence[float],
                           bands: Sequence[float] = CONFIDENCE_BANDS) -> list[dict]:
    """Per confidence band ([0, 0.2), [0.2, 0.4), ..., [0.8, 1.0]): count and accuracy of the answers."""
    return [{k: row[k] for k in ("low", "high", "count", "accuracy")} for row in _banded(probs, outcomes, bands)]


def tradeoff_thresholds(step: float = TRADEOFF_STEP) -> list[float]:
    return [round(i * step, 4) for i in range(int(round(1.0 / step)) + 1)]


def abstention_tradeoff(records: Sequence[dict], thresholds: Sequence[float] | None = None) -> list[dict]:
    """What a confidence threshold t would trade: answer only where confidence >= t.

    Over the records with a confidence. The system's own abstentions stay abstentions at every
    threshold (their suppressed answers are not in the records), so t = 0 is the system as run
    and higher thresholds add abstentions. Per threshold: "answered" (count), "coverage" (share
    answered), "accuracy" (right answers to answerable questions / answered; an answered
    unanswerable question is wrong), "abstention" (share of unanswerable questions not answered)
    and "false_abstention" (share of answerable questions not answered); None where undefined.
    [] when no record has a confidence.
    """
    scored = [r for r in records if r.get("confidence") is not None]
    if not scored:
        return []
    answerable = [r for r in scored if r["answerable"]]
    unanswerable = [r for r in scored if not r["answerable"]]
    rows = []
    for threshold in (tradeoff_thresholds() if thresholds is None else thresholds):
        def answers(r: dict) -> bool:
            return not r["abstained"] and float(r["confidence"]) >= threshold

        answered = [r for r in scored if answers(r)]
        right = sum(1 for r in answered if r["answerable"] and r.get("correct_any", r["correct"]))
        rows.append({
            "threshold": threshold, "answered": len(answered),
            "coverage": round(len(answered) / len(scored), 4),
            "accuracy": round(right / len(answered), 4) if answered else None,
            "abstention": _mean(not answers(r) for r in unanswerable) if unanswerable else None,
            "false_abstention": _mean(not answers(r) for r in answerable) if answerable else None,
        })
    return rows


def median_answer_chars(records: Iterable[dict]) -> float | None:
    """Median length of the answers given (characters, without [n] markers); None without any."""
    lengths = [r["answer_chars"] for r in records if r.get("answer_chars") is not None and not r["abstained"]]
    return round(float(np.median(lengths)), 1) if lengths else None


def calibration_summary(records: Sequence[dict]) -> dict:
    """The calibration keys of `summarize`: "ece" (None without confidences) and, when there are
    confidences, "calibration_n", "reliability", "accuracy_by_confidence", "abstention_tradeoff"."""
    probs, outcomes = calibration_pairs(records)
    out: dict = {"ece": expected_calibration_error(probs, outcomes)}
    if probs:
        out.update(calibration_n=len(probs), reliability=reliability_table(probs, outcomes),
                   accuracy_by_confidence=accuracy_by_confidence(probs, outcomes),
                   abstention_tradeoff=abstention_tradeoff(records))
    return out


def summarize(records: Sequence[dict], ks: Sequence[int] = (1, 3, 5, 10)) -> dict:
    """Aggregate per-question records (see runner.score_item) into the metric table."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    with_evidence = [r for r in answerable if r["has_evidence"]]
    out: dict = {"questions": len(records), "answerable": len(answerable), "unanswerable": len(unanswerable)}
    if answerable:
        for k in ks:
            out[f"recall@{k}"] = _mean(v for r in answerable if (v := _recall_value(r, k)) is not None)
        for k in ks:
            out[f"evidence_recall@{k}"] = _mean(r["evidence_recall"][str(k)] for r in with_evidence)
            out[f"doc_hit@{k}"] = _mean(r["doc_hit"][str(k)] for r in answerable)
        out["mrr"] = _mean(r["reciprocal_rank"] for r in with_evidence)
        out["answer_accuracy"] = _mean(r["correct"] for r in answerable)
        lists = [r for r in answerable if r.get("list_recall") is not None]
        out["list_item_recall"] = _mean(r["list_recall"] for r in lists) if lists else None
    else:  # only unanswerable questions (e.g. evidence withheld): nothing to find, nothing to answer
        out.update({f"{m}@{k}": None for m in ("recall", "evidence_recall", "doc_hit") for k in ks},
                   mrr=None, answer_accuracy=None, list_item_recall=None)
    if any("ndcg@10" in r for r in answerable):
        out["ndcg@10"] = _mean(r["ndcg@10"] for r in answerable if "ndcg@10" in r)
    if any("exact_match" in r for r in answerable):
        out["exact_match"] = _mean(r["exact_match"] for r in answerable if "exact_match" in r)
        out["f1"] = _mean(r["f1"] for r in answerable if "f1" in r)
    precisions = [r["citation_precision"] for r in answerable if r.get("citation_precision") is not None]
    if any("citation_precision" in r for r in answerable):
        out["citation_precision"] = _mean(precisions) if precisions else None
        out["citation_recall"] = _mean(r["citation_recall"] for r in answerable
                                       if r.get("citation_recall") is not None)
    out["false_abstention"] = _mean(r["abstained"] for r in answerable) if answerable else None
    out["abstention"] = _mean(r["abstained"] for r in unanswerable) if unanswerable else None
    latencies = [r["latency_ms"] for r in records]
    out["latency_p50_ms"] = round(percentile(latencies, 50), 1)
    out["latency_p95_ms"] = round(percentile(latencies, 95), 1)
    out["latency_mean_ms"] = round(float(np.mean(latencies)), 1) if latencies else 0.0
    out["answer_chars_p50"] = median_answer_chars(records)
    out.update(calibration_summary(records))
    if any("evidence_ranks" in r or "doc_ranks" in r for r in answerable):
        out["recall_curve"] = recall_curve(records)
    out["accuracy_by_type"] = accuracy_by(records, "type")
    tagged = [r for r in records if r.get("tags")]
    if tagged:
        out["accuracy_by_tag"] = accuracy_by(records, "tags")
    return out


def question_ok(record: dict) -> bool:
    """Right answer to an answerable question, abstention on an unanswerable one."""
    return bool(record["correct"]) if record["answerable"] else bool(record["abstained"])


def accuracy_by(records: Sequence[dict], field: str) -> dict[str, dict]:
    """{group: {"n", "accuracy"}}: accuracy on answerable questions, abstention on unanswerable ones.

    `field` is a record key holding a string ("type") or a list of strings ("tags").
    """
    groups: dict[str, list[dict]] = {}
    for r in records:
        values = r.get(field)
        for value in (values if isinstance(values, list) else [values]):
            if value:
                groups.setdefault(str(value), []).append(r)
    return {name: {"n": len(rs), "accuracy": _mean(question_ok(r) for r in rs)}
            for name, rs in sorted(groups.items())}


def _mean(values) -> float:
    values = [float(v) for v in values]
    return round(sum(values) / len(values), 4) if values else 0.0


def abstention_threshold(answerable_probs: Sequence[float], rate: float) -> float:
    """The highest confidence threshold that abstains on at most `rate` of the answerable questions, given
    their held-out probabilities."""
    if len(answerable_probs) == 0:
        return 0.0
    ordered = sorted(answerable_probs)
    allowed = int(rate * len(ordered))
    return float(ordered[allowed]) if allowed < len(ordered) else float(ordered[-1])
