"""Keyword-side tokenisation: jieba with a domain dictionary.

Document symbols (CAC/COSP/WG.2/2018/5), resolution numbers (第 7/1 号决议)
and URLs are cut out before jieba sees them, so they stay whole tokens.
"""
from __future__ import annotations

import importlib
import logging
import os
import re
from functools import lru_cache
from pathlib import Path

import jieba

from index.normalization import compact, normalize

DOMAIN_DICTIONARY = Path(__file__).parent / "resources" / "domain_terms.txt"

# Applied to normalised (lower-case, CJK-space-free) text.
DOCUMENT_SYMBOL = re.compile(r"[a-z]{2,}(?:/[a-z0-9.\-]+)+")
RESOLUTION_NUMBER = re.compile(r"第?(\d{1,2}/\d{1,2})号?(?:决议|决定)?")
URL = re.compile(r"(?:https?://|www\.)[a-z0-9./_\-?=&%#]+")
DATE = re.compile(r"(?:\d{4}年)?\d{1,2}月\d{1,2}日|\d{4}年\d{1,2}月|\d{4}年")
_PROTECTED = re.compile(
    "|".join(f"(?P<{name}>{rx.pattern})" for name, rx in
             (("url", URL), ("symbol", DOCUMENT_SYMBOL), ("resolution", RESOLUTION_NUMBER), ("date", DATE)))
)
_WORD = re.compile(r"[\w.\-]+")

STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 或 对 于 为 以 将 其 该 这 那 此 有 也 就 都 而 并 由 从 向 被 把 给 上 下 中 内 等 之
    个 项 次 么 吗 呢 吧 啊 呀 哪 哪些 哪个 哪里 哪儿 哪次 哪位 哪一 哪天 什么 怎么 怎样 如何 为什么 为何 多少 几 几个
    谁 何时 何地 什么时候 是否 是不是 请问 请 告诉 我 我们 你 你们 一下 一 吗 呢 啥 咋 多久 多长 时候 哪几天 哪几个 哪几
    第几 几次 一共 总共 那次 那个 这个 那份 这份 这次 这样 那些 这些 哪座 哪国 哪方 几方 最后 分别 想 要 能 会 开 办 叫
    想问 知道 一下子 具体 到底 究竟 呢 吗 么 谢谢 麻烦 """
    .split()
) | frozenset(
    """a an the of to in on at for by with from and or is are was were be been what which who whom when where why how
    many much does do did that this these those it its as about into under than then there their please tell me""".split()
)

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _jieba() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    tokenizer.load_userdict(str(DOMAIN_DICTIONARY))
    return tokenizer


# "第六次", "第八届": which meeting or session is meant; two sessions differ only here
EVENT_ORDINAL = re.compile(r"第[一二三四五六七八九十百\d]+(?:次|届)")


def event_ordinals(text: str) -> list[str]:
    return list(dict.fromkeys(EVENT_ORDINAL.findall(compact(text))))


def protected_terms(text: str) -> list[str]:
    """Exact-lookup terms (symbols, resolution numbers, URLs, dates) in normalised form."""
    terms = []
    for m in _PROTECTED.finditer(normalize(text)):
        whole = m.group(0).rstrip(".")
        terms.append(_resolution_core(whole) if m.lastgroup == "resolution" else whole)
    return terms


def _date_parts(date: str) -> list[str]:
    parts = re.findall(r"\d{4}年|\d{1,2}月\d{1,2}日|\d{1,2}月", date)
    tail = [date[date.index("年") + 1:]] if "年" in date and date.endswith("日") else []
    return list(dict.fromkeys(parts + tail))


def _resolution_core(token: str) -> str:
    m = RESOLUTION_NUMBER.fullmatch(token)
    return m.group(1) if m else token


def tokenize(text: str, *, for_search: bool = True) -> list[str]:
    """Tokens for BM25: normalised, stop words and punctuation removed."""
    norm = normalize(text)
    tokens: list[str] = []
    pos = 0
    for m in _PROTECTED.finditer(norm):
        tokens.extend(_cut(norm[pos:m.start()], for_search))
        whole = m.group(0).rstrip(".")
        tokens.append(whole)
        if m.lastgroup == "resolution":
            core = _resolution_core(m.group(0))
            if core != whole:
                tokens.append(core)
        elif m.lastgroup == "date":  # "2018年6月6日" also matches a question about "6月6日"
            tokens.extend(t for t in _date_parts(whole) if t != whole)
        pos = m.end()
    tokens.extend(_cut(norm[pos:], for_search))
    return tokens


def segment(text: str) -> list[str]:
    """Precise-mode jieba words with the domain dictionary, stopwords kept (for parsing a question)."""
    return [w for w in (p.strip() for p in _jieba().cut(text)) if w]


# jieba's tags for people (nr, nrfg, nrt: transliterated), places (ns) and organisations (nt); not "other
# proper nouns" (nz), which its dictionary also gives to common words such as 汇报
_NAME_TAGS = frozenset({"nr", "nrfg", "nrt", "ns", "nt"})
PERSON_TAGS = frozenset({"nr", "nrfg", "nrt"})
PLACE_TAGS = frozenset({"ns"})
ORGANISATION_TAGS = frozenset({"nt"})


@lru_cache(maxsize=1)
def _pos_tagger():
    """jieba's POS tagger over our tokenizer, keeping only the dictionary's name tags (others read "x").

    The full table of 350,000 tags would cost the server ~40 MiB for tags it never asks about, and
    importing jieba.posseg builds one such table for jieba's default tokenizer: that one is pointed at
    an empty dictionary while the module loads.
    """
    default_dictionary = jieba.dt.dictionary
    jieba.dt.dictionary = os.devnull
    try:
        posseg = importlib.import_module("jieba.posseg")
    finally:
        jieba.dt.dictionary = default_dictionary

    class NameTagger(posseg.POSTokenizer):
        def load_word_tag(self, f) -> None:
            self.word_tag_tab = {}
            with f:
                for line in f:
                    parts = line.decode("utf-8").split()
                    if len(parts) == 3 and parts[2] in _NAME_TAGS:
                        self.word_tag_tab[parts[0]] = parts[2]

    return NameTagger(_jieba())


# "哪个城市": a noun the question asks for, not one it names
_ASKED_NOUN = re.compile(r"(?:哪|什么|何)[个座家所位一]?$")


@lru_cache(maxsize=4096)
def named_entities(text: str, tags: frozenset[str] = _NAME_TAGS) -> tuple[str, ...]:
    """Proper names jieba recognises in a question or sentence: people, places, organisations (normalised,
    compact), including the domain dictionary's organisations (缔约国会议 is tagged nt there)."""
    names, before = [], ""
    for word, tag in _pos_tagger().cut(normalize(text)):
        if tag in tags and len(word) > 1 and word not in STOPWORDS and not _ASKED_NOUN.search(before):
            names.append(compact(word))
        before += word
    return tuple(dict.fromkeys(names))


def word_offsets(text: str) -> list[tuple[int, int]]:
    """(start, end) of each precise-mode jieba word of `text`, spaces included as their own words."""
    return [(start, end) for _, start, end in _jieba().tokenize(text)]


def dictionary_name_tag(word: str) -> str | None:
    """The name tag (person, place, organisation) jieba's dictionary gives `word`, if any: a lookup, without
    the tagger's HMM pass over unknown words (ten milliseconds a sentence, too slow for every candidate)."""
    tag = _pos_tagger().word_tag_tab.get(word)
    return tag if tag in _NAME_TAGS else None


def _cut(text: str, for_search: bool) -> list[str]:
    if not text.strip():
        return []
    tk = _jieba()
    pieces = tk.cut_for_search(text) if for_search else tk.cut(text)
    return [p for p in (w.strip() for w in pieces) if p and p not in STOPWORDS and _WORD.search(p)]


_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


def keyword_tokens(text: str) -> list[str]:
    """What the BM25 side indexes and queries: jieba words plus CJK character bigrams.

    Bigrams keep paraphrases, typos and segmentation disagreements matchable.
    """
    tokens = tokenize(text)
    for run in _CJK_RUN.findall(normalize(text)):
        tokens.extend(run[i:i + 2] for i in range(len(run) - 1))
    return tokens


@lru_cache(maxsize=4096)  # asked once per candidate sentence while one answer is composed
def content_terms(text: str) -> tuple[str, ...]:
    """Distinct precise-mode tokens of a question, in order: the terms an answer must cover."""
    return tuple(dict.fromkeys(tokenize(text, for_search=False)))
