"""The LLM engine as an evaluation system ("notesqa-llm"): NotesQA's reading, then the language model's
answer with its claims verified (retrieval/generation/), in-process, beside the extractive engine.

    NOTESQA_LLM_BASE_URL=http://127.0.0.1:8081/v1 notesqa eval run DATASET --systems notesqa,notesqa-llm

Besides the common metrics it reports, per dataset (`llm_figures`): the share of questions the model
answered (rather than the extractive fallback), fallbacks by reason, the unsupported-claim rate (claims
dropped by verification over all claims the model made), generation tokens/s, and for every system the
share of answers within 80 characters.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from evaluation.runner import RANK_DEPTH, HistoryTurns, ranked_paragraphs

LLM_SYSTEM = "notesqa-llm"
SHORT_ANSWER_CHARS = 80  # "answer within 80 characters": the extractive engine's own answer budget


class LLMClient:
    name = LLM_SYSTEM

    def __init__(self, qa, answerer) -> None:  # qa: NotesQA; answerer: retrieval.generation.GroundedAnswerer
        self.qa = qa
        self.answerer = answerer
        self.calls: list[dict] = []

    @classmethod
    def from_settings(cls, qa, settings) -> LLMClient:
        """The LLM the service settings name (NOTESQA_LLM_*); ValueError when none is configured."""
        from service.domain.qa_service import llm_answers

        llm = llm_answers(settings)
        if llm is None:
            raise ValueError("the notesqa-llm system needs a language model: set NOTESQA_LLM_BASE_URL "
                             "(e.g. python scripts/llm_server.py starts one)")
        return cls(qa, llm.answerer)

    def ask(self, question: str, top_k: int, doc_ids: Sequence[str] | None = None, *,
            history: HistoryTurns = ()) -> tuple[dict, list[dict], float]:
        from retrieval.conversation import Turn
        from retrieval.generation import Outcome

        turns = [Turn(t["question"], t.get("answer", ""), tuple(t.get("paragraph_ids") or ())) for t in history]
        started = time.perf_counter()
        answer = self.qa.ask(question, top_k=top_k, doc_ids=doc_ids, history=turns)
        plan = self.answerer.plan(answer.resolved_question or question, answer, self.qa.title)
        outcome = plan if isinstance(plan, Outcome) else self.answerer.answer(plan, self.qa.embedder.encode_query)
        body = outcome.apply(answer.to_dict())
        latency = (time.perf_counter() - started) * 1000
        generation = outcome.generation
        self.calls.append({"engine": outcome.engine, "reason": outcome.reason, "claims": outcome.claims,
                           "unsupported": len(outcome.unsupported),
                           "tokens": generation.completion_tokens if generation else None,
                           "seconds": generation.seconds if generation else None})
        searched = answer.resolved_question or question
        ranked = ranked_paragraphs(self.qa.search(searched, top_k=RANK_DEPTH, doc_ids=doc_ids))
        return body, ranked, latency

    def take_figures(self, questions: int) -> dict:
        """The figures of the last `questions` calls (a run's warm-up call comes before them), then forgets."""
        calls, self.calls = self.calls[-questions:] if questions else [], []
        claims = sum(c["claims"] for c in calls)
        timed = [c for c in calls if c["tokens"] and c["seconds"]]
        seconds = sum(c["seconds"] for c in timed)
        return {
            "llm_answered": _share(sum(c["engine"] == "llm" for c in calls), len(calls)),
            "llm_fallbacks": dict(Counter(c["reason"] for c in calls if c["reason"])),
            "llm_claims": claims,
            "unsupported_claim_rate": _share(sum(c["unsupported"] for c in calls), claims),
            "llm_tokens_per_s": round(sum(c["tokens"] for c in timed) / seconds, 1) if seconds else None,
            "llm_generation_s_p50": _median([c["seconds"] for c in timed]),
        }


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 3) if whole else None


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    return round(values[len(values) // 2], 2) if values else None


def answer_within(records: Sequence[dict], chars: int = SHORT_ANSWER_CHARS) -> float | None:
    """Share of the answers given (not abstentions) that are at most `chars` characters without markers."""
    lengths = [r["answer_chars"] for r in records if r.get("answer_chars") is not None]
    return _share(sum(n <= chars for n in lengths), len(lengths))


def add_figures(results: list, clients: dict, questions: int) -> None:
    """Put `answer_within_80` on each of one dataset's results, and the LLM figures on the LLM's."""
    for result in results:
        result.metrics["answer_within_80"] = answer_within(result.records)
        client = clients.get(result.system)
        if isinstance(client, LLMClient):
            result.metrics["llm_figures"] = client.take_figures(questions)


def figures_table(results: list) -> list[tuple[str, ...]]:
    """Rows (metric, value per system) of the figures the common table does not show."""
    rows = [("answer within 80 chars", *(_fmt(r.metrics.get("answer_within_80")) for r in results))]
    labels = {"llm_answered": "answered by the LLM", "unsupported_claim_rate": "unsupported-claim rate",
              "llm_tokens_per_s": "generation tokens/s", "llm_generation_s_p50": "generation s p50",
              "llm_fallbacks": "fallbacks by reason"}
    for key, label in labels.items():
        rows.append((label, *(_fmt((r.metrics.get("llm_figures") or {}).get(key)) for r in results)))
    return rows


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "none"
    return f"{value:.3f}" if isinstance(value, float) and value <= 1 else str(value)
