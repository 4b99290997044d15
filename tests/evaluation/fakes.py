"""Small hand-made datasets, answers and clients for the evaluation tests (no index, no model)."""
from __future__ import annotations

from evaluation.datasets import EvalItem
from evaluation.runner import score_item

ITEMS = [
    EvalItem(id="q1", question="会议哪天开幕？", answers=["6月6日"], evidence=["会议将于6月6日开幕"], doc_ids=["d1"],
             type="date"),
    EvalItem(id="q2", question="有几个国家？", answers=["13个国家"], evidence=["由13个国家组成"], doc_ids=["d2"],
             type="number", tags=["typo"]),
    EvalItem(id="q3", question="预算有多少？", answers=[], evidence=[], doc_ids=[], answerable=False,
             type="unanswerable"),
]
PARAGRAPHS = {
    "d1": "会议将于6月6日开幕。会期两天。",
    "d2": "网络由13个国家组成。",
    "d3": "无关的段落。",
}


class FakeClient:
    """Answers from a script: {question id: (answer text or None to abstain, ranked doc ids)}."""

    def __init__(self, script: dict[str, tuple[str | None, list[str]]], latency: float = 10.0,
                 name: str = "fake") -> None:
        self.script = script
        self.latency = latency
        self.name = name
        self.calls: list[str] = []
        self.scopes: list[list[str] | None] = []

    def ask(self, question: str, top_k: int, doc_ids: list[str] | None = None) -> tuple[dict, list[dict], float]:
        self.calls.append(question)
        self.scopes.append(doc_ids)
        qid = next(i.id for i in ITEMS if i.question == question)
        text, docs = self.script[qid]
        docs = [d for d in docs if doc_ids is None or d in doc_ids]  # as the service restricts its search
        ranked = [{"doc_id": d, "paragraph_id": f"p-{d}", "text": PARAGRAPHS[d]} for d in docs]
        if text is None:
            return {"answer": "资料中没有找到相关内容。", "abstained": True, "citations": []}, ranked, self.latency
        citations = [{"marker": 1, "doc_id": docs[0], "paragraph_id": f"p-{docs[0]}", "paragraph_number": None,
                      "text": PARAGRAPHS[docs[0]], "quote": PARAGRAPHS[docs[0]].split("。")[0] + "。"}]
        return {"answer": text, "abstained": False, "citations": citations}, ranked, self.latency


GOOD = {"q1": ("6月6日。会议将于6月6日开幕。[1]", ["d1", "d3"]),
        "q2": ("网络由13个国家组成。[1]", ["d2", "d1"]),
        "q3": (None, ["d3"])}
WORSE = {"q1": ("会期两天。[1]", ["d3", "d1"]),  # wrong answer, evidence at rank 2
         "q2": ("网络由13个国家组成。[1]", ["d2"]),
         "q3": ("无关的段落。[1]", ["d3"])}  # answers an unanswerable question


def records_for(script: dict, latency: float = 10.0) -> list[dict]:
    client = FakeClient(script, latency)
    return [score_item(item, *client.ask(item.question, 5)) for item in ITEMS]
