"""The grounded prompt: the best-ranked paragraphs, numbered, and the rules of the answer."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from index.models import Paragraph
from index.normalization import mostly_latin
from retrieval.generation.base import Prompt
from retrieval.generation.settings import PromptSettings
from retrieval.search import SearchHit

_RULES_ZH = ("你是资料问答助手。只根据下面编号的资料回答问题，不用资料以外的知识。"
             "回答要简短（一两句话），用中文，每句话末尾用 [编号] 标明它依据的资料，例如 [1]。"
             "如果资料中没有答案，只回答 {refusal}。")
_RULES_EN = ("You answer questions from the numbered notes below only, never from other knowledge. "
             "Answer briefly (one or two sentences) in English, and end each sentence with the number of the "
             "note it comes from in brackets, e.g. [1]. If the notes do not contain the answer, answer only "
             "{refusal}.")
_JSON_ZH = "以 JSON 输出：{{\"answer\": \"回答[1]\", \"sources\": [1]}}，sources 是回答依据的资料编号。"
_JSON_EN = ("Reply in JSON: {{\"answer\": \"your answer [1]\", \"sources\": [1]}}, sources being the numbers of the "
            "notes the answer comes from.")


@dataclass(frozen=True)
class Source:
    """One numbered paragraph of the prompt: its marker, the paragraph, and the text the model saw."""
    marker: int
    paragraph: Paragraph
    title: str
    shown: str
    score: float  # the search hit's fused score

    def record(self) -> dict:
        """As SearchHit.record gives it (the shape of the response's `closest`)."""
        p = self.paragraph
        return {"doc_id": p.doc_id, "title": self.title, "paragraph_id": p.paragraph_id,
                "paragraph_number": p.paragraph_number, "section": p.section, "text": p.text,
                "start": p.start, "end": p.end, "score": round(self.score, 4), "kind": p.kind}


def window(text: str, around: str | None, budget: int) -> str:
    """`text` cut to `budget` characters, centred on `around` when the text holds it, else its head."""
    if len(text) <= budget:
        return text
    at = text.find(around) if around else -1
    if at < 0:
        return text[:budget] + "…"
    start = max(0, min(at + len(around) // 2 - budget // 2, len(text) - budget))
    return ("…" if start else "") + text[start:start + budget] + ("…" if start + budget < len(text) else "")


def sources(hits: Sequence[SearchHit], titles: Sequence[str], quotes: dict[str, str],
            settings: PromptSettings) -> list[Source]:
    """The first `settings.paragraphs` hits numbered from 1; `quotes`: paragraph_id -> the extractive
    answer's quote there, which the window keeps in view."""
    return [Source(i, h.paragraph, title, window(h.paragraph.text, quotes.get(h.paragraph.paragraph_id),
                                                 settings.paragraph_max_chars), h.score)
            for i, (h, title) in enumerate(zip(hits[:settings.paragraphs], titles), start=1)]


def build_prompt(question: str, numbered: Sequence[Source], settings: PromptSettings,
                 structured: bool) -> Prompt:
    english = mostly_latin(question)
    rules = (_RULES_EN if english else _RULES_ZH).format(refusal=settings.refusal_token)
    if structured:
        rules += " " + (_JSON_EN if english else _JSON_ZH).format()
    # the rules come first and never change, so a server's prompt cache keeps them between questions
    notes = "\n\n".join(f"[{s.marker}] {('《' + s.title + '》') if s.title else ''}{s.shown}" for s in numbered)
    user = (f"Notes:\n{notes}\n\nQuestion: {question}" if english else f"资料：\n{notes}\n\n问题：{question}")
    return Prompt(rules, user)


def is_refusal(answer: str, settings: PromptSettings) -> bool:
    """The model said the paragraphs do not answer (alone, or the token with some words around it)."""
    text = answer.strip()
    return not text or settings.refusal_token.lower() in text.lower()
