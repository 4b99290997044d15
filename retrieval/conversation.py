"""Follow-up questions completed from the conversation before retrieval.

Staff ask in conversations: "缔约国会议第八届会议在哪个城市开？" then "那第一届呢？". A follow-up lacks what the
earlier question said, and the general repair is to carry it over:
  * a bare focus ("那第一届呢？", "what about the eighth session?") keeps the earlier question and puts the
    focus where the earlier question had a thing of the same kind (an ordinal, a date, a half-day, a
    year, a number, a symbol), or else in place of the earlier question's subject or object, whichever
    it resembles more;
  * an anaphor ("它", "这次会议", "it") stands for the earlier question's subject, or, when the earlier
    question asked for that thing itself ("哪个国家…"), for the name its answer gave;
  * a short question with a question word but no subject of its own ("有多少名专家参加？") gets the earlier
    question's subject in front.
Earlier turns are completed the same way first, so a third turn reads the second as it was answered.
The documents the last turn cited are preferred by retrieval (`preferred_paragraph_ids`).

A follow-up that looks complete may still lean on the conversation ("12月18日下午讨论哪些议程项目？" after a
question about one session): when it names no session, symbol or date of its own, it is answered as asked
and, as an `alternative`, with the earlier question's (`_missing_anchors`) in front; the facade keeps the reading its calibrated confidence trusts more.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import jieba.posseg

from index.normalization import mostly_latin, normalize
from index.tokenization import event_ordinals, protected_terms
from retrieval.answer.patterns import WH_PHRASE

# particles and punctuation that close a question ("么" is not one: it ends "什么")
QUESTION_TAIL = re.compile(r"[呢吗呀啊吧嘛]?[？?。！!\s]*$")
_ENGLISH_WH = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.I)
_CHINESE_WH = re.compile(WH_PHRASE.pattern + r"|是否|有没有|吗")
_LEADING_LINK = re.compile(r"^(?:那么|那|还有|另外|再请问|请问|再问一下|and\s+|so\s+)\s*", re.I)
_WHAT_ABOUT = re.compile(r"^(?:and\s+)?(?:what|how)\s+about\s+(?P<focus>.+?)[\s?.!？。]*$", re.I)
_BARE_FOCUS = re.compile(r"^(?P<focus>[^？?]+?)(?:呢|怎么样|如何)[？?。!！\s]*$")
_ANAPHOR = re.compile(
    r"(?:这|那|此|本|该)(?:次|届|个|份|项|些)?(?:会议|论坛|会|网络|决议|文件|报告|举措|机构|组织|工作组|项目|准则)|"
    r"(?:这|那|此|本)(?:次|届|个|份|项)|它们|它|其|该(?=[\u4e00-\u9fff])|"
    r"\b(?:it|its|they|their|them|this|that)\b(?!\s+(?:is|was)\s+(?:not|the\s+case))", re.I)
# the kinds of thing a bare focus may stand for, each found in the earlier question to be replaced
_SLOT_KINDS = (
    re.compile(r"(?:(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日|第[一二三四五六七]天|最后一天|首日)\s*"
               r"(?:上午|下午|晚上|中午)|(?:第[一二三四五六七]天|最后一天|首日)"),
    re.compile(r"第\s*(?:[一二两三四五六七八九十百]+|\d+)\s*(?:次|届|项|条|章|段|期)"),
    re.compile(r"(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日"),
    re.compile(r"\d{4}\s*年"),
    re.compile(r"(?:第[一二三四五]天|最后一天)?(?:上午|下午|晚上|中午)"),
    re.compile(r"[A-Z]{2,}(?:/[A-Z0-9.\-]+)+"),
    re.compile(r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
               r"\d+(?:st|nd|rd|th))\b(?:\s+(?:session|meeting|day))?", re.I),
    re.compile(r"\b(?:morning|afternoon|evening)\b", re.I),
    re.compile(r"\b(?:19|20)\d{2}\b"),
)


@dataclass(frozen=True)
class Turn:
    """One earlier turn, as callers send it: the question, the answer shown, the paragraphs it cited."""
    question: str
    answer: str = ""
    paragraph_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConversationSettings:
    # only the last turns are read: a conversation drifts, and an old subject is rarely the one meant
    max_history_turns: int = 4
    # a question at most this long (characters, punctuation excluded) with a question word and few
    # content words of its own is read as lacking its subject
    subjectless_max_chars: int = 14
    # content words (two or more characters, question words excluded) a question needs to stand alone
    own_terms_to_stand_alone: int = 3
    # character bigrams a bare focus must share with the earlier subject to replace it rather than the
    # thing asked about ("那资产追回工作组呢" after "预防腐败工作组…": "工作", "作组")
    subject_overlap_to_replace: int = 2


@dataclass(frozen=True)
class ResolvedQuestion:
    text: str  # the question answered
    asked: str  # the question as asked
    how: str | None = None  # "focus" | "anaphor" | "subject" when completed from an earlier turn
    antecedent: str | None = None  # the earlier question (as completed) it was completed from
    preferred_paragraph_ids: tuple[str, ...] = field(default_factory=tuple)
    alternatives: tuple[str, ...] = ()  # other readings of a question left as asked, to be tried as well

    @property
    def resolved(self) -> bool:
        return self.text != self.asked


def resolve(question: str, history: Sequence[Turn], settings: ConversationSettings | None = None
            ) -> ResolvedQuestion:
    """`question` completed from `history` (oldest first) when it is a follow-up; else unchanged."""
    settings = settings or ConversationSettings()
    turns = [t for t in history if t.question.strip()][-settings.max_history_turns:]
    if not turns:
        return ResolvedQuestion(question, question)
    antecedent = turns[0].question
    for earlier, turn in zip(turns, turns[1:]):
        antecedent = _complete(turn.question, antecedent, earlier.answer, settings)[0]
    text, how = _complete(question, antecedent, turns[-1].answer, settings)
    alternatives: tuple[str, ...] = ()
    if how is None and (anchors := _missing_anchors(question, antecedent)):
        alternatives = (f"{' '.join(anchors)}{' ' if mostly_latin(question) else '，'}{question.strip()}",)
    return ResolvedQuestion(text, question, how, antecedent if how else None, tuple(turns[-1].paragraph_ids),
                            alternatives)


def _missing_anchors(question: str, antecedent: str) -> list[str]:
    """What pinned the earlier question to one meeting or document and the question lacks: its session
    ordinals ("第八届") when the question names none, its exact-lookup terms (document symbols, resolution
    numbers, dates) when the question has none of its own."""
    missing = []
    for kind in (event_ordinals, protected_terms):
        if not kind(question):
            missing += kind(antecedent)
    return missing


def _complete(question: str, antecedent: str, antecedent_answer: str,
              settings: ConversationSettings) -> tuple[str, str | None]:
    asked = question.strip()
    if (focus := _bare_focus(asked)) is not None:
        return _put_focus(focus, antecedent, settings), "focus"
    if (anaphor := _ANAPHOR.search(asked)) is not None:
        stand_in = _referent(antecedent, antecedent_answer)
        if stand_in:
            after = asked[anaphor.end():]
            # "那次特别会议…" for "…特别会议": the words the stand-in ends with are not said twice
            shared = next((n for n in range(min(len(stand_in), len(after)), 1, -1)
                           if stand_in.endswith(after[:n])), 0)
            return asked[:anaphor.start()] + stand_in + after[shared:], "anaphor"
    if _lacks_subject(asked, settings):
        subject = _subject(antecedent)
        if subject and subject not in asked:
            return f"{subject}{'' if mostly_latin(asked) else '，'}{asked}", "subject"
    return asked, None


def _bare_focus(question: str) -> str | None:
    """"那第一届呢？" -> "第一届"; "What about the eighth session?" -> "the eighth session"; else None."""
    if (m := _WHAT_ABOUT.match(question)) is not None:
        return m.group("focus")
    if (m := _BARE_FOCUS.match(question)) is None:
        return None
    focus = _LEADING_LINK.sub("", m.group("focus")).strip("，, ")
    if not focus or _CHINESE_WH.search(focus) or _ENGLISH_WH.search(focus):
        return None
    return focus


def _put_focus(focus: str, antecedent: str, settings: ConversationSettings) -> str:
    for kind in _SLOT_KINDS:
        wanted = kind.search(focus)
        if wanted is None:
            continue
        if (slot := kind.search(antecedent)) is not None:
            return antecedent[:slot.start()] + wanted.group() + antecedent[slot.end():]
    subject, wh, rest = _split(antecedent)
    if not wh:
        return f"{focus}，{antecedent}"
    tail = _tail(antecedent)
    # the focus replaces the thing asked about (after the question word) unless it is plainly of the
    # subject's kind: sharing more of its words ("预防腐败工作组" -> "资产追回工作组")
    by_subject, by_rest = _overlap(focus, subject), _overlap(focus, rest)
    if rest and not (by_subject >= settings.subject_overlap_to_replace and by_subject > by_rest):
        return f"{subject}{wh}{_leading_predicate(rest)}{focus}{tail}"
    topic, comma, clause = subject.rpartition("，")
    if comma:  # "<topic>，文号是多少": the topic goes, the clause that asks stays
        return f"{focus}，{clause}{wh}{rest}{tail}"
    head, of, attribute = subject.rpartition("的")
    if of:  # "<thing>的文号是什么": the thing goes, the attribute asked about stays
        return f"{focus}的{attribute}{wh}{rest}{tail}"
    return f"{focus}{_trailing_predicate(subject)}{wh}{rest}{tail}"


def _referent(antecedent: str, answer: str) -> str:
    subject = _subject(antecedent)
    if subject:
        return subject
    # the earlier question asked for the thing itself ("哪个国家提出…"): its answer names it
    for word, tag in jieba.posseg.lcut(re.sub(r"\[\d+\]", "", answer)):
        if tag in ("ns", "nt", "nz", "nr") and len(word) >= 2:
            return word
    return ""


def _lacks_subject(question: str, settings: ConversationSettings) -> bool:
    if not (_CHINESE_WH.search(question) or _ENGLISH_WH.search(question)):
        return False
    body = QUESTION_TAIL.sub("", question)
    if mostly_latin(body):
        return len(re.findall(r"[A-Za-z]{3,}", body)) <= settings.own_terms_to_stand_alone
    if len(body) > settings.subjectless_max_chars:
        return False
    stripped = _CHINESE_WH.sub(" ", body)
    own = [w for w, tag in jieba.posseg.lcut(stripped) if len(w) >= 2 and tag[:1] in ("n", "v", "m", "t")]
    return len(own) < settings.own_terms_to_stand_alone


def _split(question: str) -> tuple[str, str, str]:
    """(subject, question phrase, rest) around the first question word; rest without the closing tail."""
    body = QUESTION_TAIL.sub("", question)
    # the last question word is the one asked ("…怎么管理的那份准则，文号是多少")
    found = list(_CHINESE_WH.finditer(body)) or list(_ENGLISH_WH.finditer(body))
    if not found:
        return body, "", ""
    m = found[-1]
    return body[:m.start()], m.group(), body[m.end():]


def _subject(question: str) -> str:
    """The earlier question's subject: what stands before its question word, less the predicate's words."""
    if mostly_latin(question):
        m = re.search(r"\b(?:the|of)\s+(?P<np>[A-Za-z][A-Za-z\s\-]+?)(?:\s+(?:held|take|took|start|begin|open|"
                      r"adopted|set up|established)\b|[?]|$)", question)
        return m.group("np").strip() if m else ""
    subject = _split(question)[0]
    words = jieba.posseg.lcut(subject)
    while words and _is_predicate_word(words[-1].word, words[-1].flag):
        words.pop()
    while words and words[0].word in ("如果", "那么", "请问", "想", "要"):
        words.pop(0)
    text = "".join(w.word for w in words).strip("，, ")
    return text if len(text) >= 2 else ""


def _is_predicate_word(word: str, tag: str) -> bool:
    """A word closing a subject that belongs to the predicate: function words, one-character verbs ("是",
    "有", "在", "开"), adverbs of quantity ("总共"); a two-character verb can be a noun ("举措")."""
    return word in "，,的了" or tag[:1] in ("p", "d", "u", "c", "r", "y", "e") or (tag[:1] == "v" and len(word) == 1)


def _leading_predicate(rest: str) -> str:
    """The verbs that open `rest` ("专题讨论紧急…" -> "专题讨论"), kept when the object is replaced."""
    kept = []
    for word, tag in jieba.posseg.lcut(rest):
        if tag[:1] == "v" or (tag[:1] in ("n", "l") and _ends_in_verb(word)):
            return "".join(kept + [word])
        if tag[:1] in ("d", "p") or (not kept and len(word) <= 2 and tag[:1] == "n"):
            kept.append(word)
            continue
        break
    return ""


def _ends_in_verb(word: str) -> bool:
    """"专题讨论" (a noun to jieba) ends in the verb "讨论"."""
    return len(word) > 2 and jieba.posseg.dt.word_tag_tab.get(word[-2:], "").startswith("v")


def _trailing_predicate(subject: str) -> str:
    words = jieba.posseg.lcut(subject)
    tail = []
    while words and _is_predicate_word(words[-1].word, words[-1].flag):
        tail.insert(0, words.pop().word)
    return "".join(tail)


def _tail(question: str) -> str:
    m = QUESTION_TAIL.search(question)
    return m.group() if m and m.group().strip() else ("?" if mostly_latin(question) else "？")


def _overlap(a: str, b: str) -> int:
    """Shared character bigrams: how much two phrases are about the same kind of thing."""
    def grams(s: str) -> set[str]:
        s = normalize(s)
        return {s[i:i + 2] for i in range(len(s) - 1)}
    return len(grams(a) & grams(b))
