"""Extractive answer composition: the sentences that answer, the fact, the citations.

No language model runs offline, so the answer is built from the source:
the sentence(s) in the top paragraphs that best cover the question, headed by
the direct fact (date, number, symbol, place) where one can be isolated, each
claim marked [n] against the citation list.  Weak evidence means abstaining.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from index.embedders import Embedder
from index.models import Paragraph
from index.normalization import compact, mostly_latin, normalize
from index.tokenization import (ORGANISATION_TAGS, PERSON_TAGS, PLACE_TAGS, STOPWORDS, content_terms, event_ordinals,
                                named_entities, protected_terms, segment)
from retrieval.query_analysis import rendered_share
from retrieval.search import SearchHit

ABSTAIN_MESSAGE = "资料中没有找到相关内容。"
SENTENCE_EMBED_CHARS = 80  # the head of a sentence carries its gist; embedding cost grows with length
SENTENCE_CACHE_SIZE = 50_000
ABSTAIN_MESSAGE_EN = "The notes do not contain an answer to this question."

_SENTENCE_END = re.compile(r"(?<=[。！？!?])|\n")  # not "；": it separates the items of one list
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_QUESTION_CHARS = set("的了是在吗呢吧么什哪谁几多少怎如何为请问和与及或有个次")

_DATE = (r"(?:\d{4}\s*年\s*)?(?:\d{1,2}\s*月\s*)?\d{1,2}\s*日(?:\s*(?:至|和|到|-)\s*(?:\d{4}\s*年\s*)?"
         r"(?:\d{1,2}\s*月\s*)?\d{1,2}\s*日)?|\d{4}\s*年\s*\d{1,2}\s*月|\d{4}\s*年")
_TIME = r"(?:上午|下午|中午|晚上)\s*\d{1,2}\s*时(?:\s*\d{1,2}\s*分)?(?:\s*至\s*(?:上午|下午)?\s*\d{1,2}\s*时(?:\s*\d{1,2}\s*分)?)?"
_CN_NUM = r"[一二两三四五六七八九十百千]+"
_NUMBER = (rf"(?:(?<![\d/.])(?<!第)(?<!第\s)(?<!项目)(?<!项目\s)\d[\d,.]*(?![\d/]|\s*[(（][a-z]{{1,3}}[)）]|\s*年|\s*月|\s*日|\s*时(?!间))\s*(?:多|余)?\s*(?:个|名|次|项|国|家|场|届|人|份|天|分钟|%|％)?"
           rf"(?:\s*[\u4e00-\u9fff]{{0,6}}?(?:国家|缔约国|法域|案例|案件|专家|成员国|组织|联络点))?|"
           rf"(?<![第一二两三四五六七八九十百千])(?:{_CN_NUM}(?:个|名|次|项|场|届|条|章)(?:会议)?|(?!一位){_CN_NUM}位))")
# not counts: a Chinese numeral right after 第 or inside a larger numeral (ordinals: "第八届", "第六十七条"),
# an agenda item's label ("项目 4", "1(f)") and "一位", which is "a" ("是一位歌手"); but "首六位" counts
_SYMBOL = r"[A-Z]{2,}(?:/[A-Z0-9.\-]+)+"
_RESOLUTION = r"第\s*\d{1,2}/\d{1,2}\s*号(?:决议|决定)"
# "在维也纳举行", or the venue line of a front page: "2018年6月6日和7日，维也纳"
_PLACE = r"(?<=在)[\u4e00-\u9fff]{2,12}?(?=(?:共同)?(?:举行|召开|举办|主办|开幕|设立))|(?<=日，)[\u4e00-\u9fff]{2,8}(?=$|\n)"
_ORDINAL = rf"第\s*(?:{_CN_NUM}|\d+)\s*(?:次|届|项|条|章|段|部|集|季|名|期|代|任)"
_URL = r"(?:https?://|www\.)[A-Za-z0-9./_\-?=&%#]+"
_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"
_CURRENCY = r"(?:美元|欧元|英镑|日元|港元|港币|加元|澳元|新元|韩元|人民币|新台币|台币|卢布|卢比|法郎|马克|比索|泰铢|令吉|元|圆)"
_MONEY = (rf"(?:\d[\d,.]*\s*亿\s*)?(?:\d[\d,.]*|{_CN_NUM})\s*(?:多|余)?\s*(?:千|百万|千万|万|亿)?\s*{_CURRENCY}|"
          r"(?:US\$|\$|€|£)\s*\d[\d,.]*(?:\s*(?:million|billion|万|亿))?")
_REASON = r"(?:为了|以便|以期|旨在|目的是|是为了|由于|因为|鉴于)[^。；！？]{2,80}"
_ITEM = r"[\u4e00-\u9fffA-Za-z0-9（）()]{2,20}"
_ENUMERATION = rf"{_ITEM}(?:、{_ITEM})+(?:(?:和|及|以及|与){_ITEM})?"

# "多少个代表团出席" counts 代表团.  "投资金额是多少" names no counted thing: 金额 is paraphrased freely
_MEASURE_WORDS = "个名次项场届家位份所种条座批类件首颗只头匹本部辆架张篇枚艘台块支棵间层"
_COUNTED = re.compile(rf"(?<![第哪])(?:多少|几)\s*(?>(?:[{_MEASURE_WORDS}]\s*)?)([\u4e00-\u9fff]{{2,12}})")
# "开过几次会" counts in 次: "13 次" answers it, "四个工作领域" does not
_ASKED_MEASURE = re.compile(rf"(?<![第哪])(?:多少|几)\s*([{_MEASURE_WORDS}])")

# "主席叫什么名字" is answered by a person's name, "谁负责审查全权证书" by a person or a body (主席团): jieba's
# person (and organisation) tags, a Latin-script name or a 《title》
_ASKS_NAME = re.compile(r"叫什么名字|姓名|名字叫什么|what is (?:his|her|the) name", re.I)
_ASKS_WHO = re.compile(r"谁|\bwho\b", re.I)
_LATIN_NAME_OR_TITLE = re.compile(r"[A-Za-z]{2,}|《[^》]+》")
# a year (or year and month) the question shares with a paragraph: every schedule row of a meeting has one
_BARE_YEAR = re.compile(r"\d{4}年(?:\d{1,2}月)?")

# how precise a date the question wants: "哪天" is not answered by a year
_DATE_GRAIN = [("日", re.compile(r"哪天|哪一天|几号|哪几天|几月几日|什么日子|日期|which day|what date|what day", re.I)),
               ("月", re.compile(r"几月|哪个月|哪月|which month|what month", re.I))]

# question type -> (patterns in the question, pattern of the fact in the evidence)
_QUESTION_TYPES: list[tuple[str, re.Pattern, re.Pattern]] = [
    ("resolution", re.compile(r"哪(?:一)?(?:项|个|份|号)?决议|第几号|几号决议|which resolution|resolution number", re.I),
     re.compile(_RESOLUTION)),
    ("symbol", re.compile(r"文号|文件号|编号|文件标号|哪份文件|哪个文件|symbol|document number|which document", re.I),
     re.compile(_SYMBOL)),
    ("email", re.compile(r"邮箱|电子邮件|邮件地址|e-?mail", re.I), re.compile(_EMAIL)),
    ("url", re.compile(r"网址|网站|链接|网页|website|url|web address", re.I), re.compile(_URL)),
    ("ordinal", re.compile(r"第几|哪一届|哪一次|which session|which meeting", re.I), re.compile(_ORDINAL)),
    ("time", re.compile(r"几点|什么时间段|时段|几时|what time", re.I), re.compile(_TIME)),
    ("date", re.compile(r"何时|什么时候|哪天|哪一天|几号|几月|哪年|哪一年|日期|哪几天|时间|when|what date|which day|"
                        r"what year|which year", re.I), re.compile(_DATE)),
    # an amount of money: "一年的预算有多少" is not answered by a count
    ("money", re.compile(r"多少钱|(?:预算|金额|经费|资金|费用|成本|造价|价格|售价|票价|投资|耗资|捐款|拨款)[^。？?，,]{0,8}?(?:多少|几)|"
                         r"(?:多少|几)[^。？?，,]{0,4}(?:预算|金额|经费|资金|费用|成本|投资)|"
                         r"how much (?:money|funding)|\b(?:budget|cost)\b|total (?:value|amount)", re.I),
     re.compile(_MONEY)),
    ("number", re.compile(r"多少|(?<!哪)几(?:个|名|次|项|场|届|家|位|分钟)|数量|how many|how much|number of", re.I),
     re.compile(_NUMBER)),
    # not "应用在哪些领域": a which-phrase after 在 asks for a place only when its noun is one
    ("place", re.compile(r"哪里|哪儿|何地|地点|哪一?[个座](?:城市|地方)|在哪一?[个座些](?:国家|地区|地方|城市|省份?|州)|"
                         r"在哪(?![些一个种类项方座位家所])|where|which city", re.I), re.compile(_PLACE)),
    ("reason", re.compile(r"为什么|为何|什么原因|原因是|目的是什么|什么目的|出于什么|why|what (?:is|was) the purpose", re.I),
     re.compile(_REASON)),
    ("list", re.compile(r"哪些|哪几|列举|有什么|which (?:countries|organizations|items)|list", re.I),
     re.compile(_ENUMERATION)),
]


@dataclass(frozen=True)
class AnswerSettings:
    max_sentences: int = 2
    second_sentence_ratio: float = 0.82  # a second claim must score this close to the best
    abstain_below: float = 0.42  # confidence under which the service abstains
    dense_sentence_rerank: bool = True  # also for Chinese questions (costs ~40 ms; English always)


@dataclass
class Sentence:
    hit_index: int
    text: str
    start: int  # offset inside the paragraph text
    score: float = 0.0


@dataclass
class Claim:
    hit: SearchHit
    quote: str
    marker: int


@dataclass
class ComposedAnswer:
    answer: str
    abstained: bool
    claims: list[Claim] = field(default_factory=list)
    confidence: float = 0.0
    question_type: str | None = None


# question types whose answer is the fact itself: a paragraph without one cannot answer
_FACT_REQUIRED = frozenset({"date", "number", "money", "time", "symbol", "resolution", "url", "email", "ordinal",
                            "place"})
# "在哪个酒店举行": the kind of thing a which-question picks; notes that never mention one cannot pick it.
# "Mention" is loose: an instance usually shares a character of its kind (民主党 of 党派, 维也纳州 of 州), so
# the kind counts as unmentioned only when none of its characters occur. A kind that is a type of answer
# ("哪一个城市", "哪个时段") is left out: the notes name the city, not the word 城市
_WHICH_KIND = re.compile(r"哪(?:一)?[个座家所位种类份项条些间]([\u4e00-\u9fff]{2,8})")
_ANSWER_KINDS = frozenset("城市 国家 地方 地点 场所 会场 地区 区域 省份 时段 时间 日子 日期 月份 年份 名字 姓名 名称 邮箱 "
                          "电话 网址 网站".split())
# causal wording is a weaker sign of the answer than a date or a number is
_FACT_BONUS = {"reason": 0.1}
_LOOSE_FACT_BONUS = 0.1


def question_type(question: str) -> str | None:
    question = normalize(question)  # "第 几 次" and full-width forms read like their plain spelling
    for name, pattern, _ in _QUESTION_TYPES:
        if pattern.search(question):
            return name
    return None


@lru_cache(maxsize=4096)  # asked for every candidate sentence of one answer
def counted_noun(question: str) -> str | None:
    """What a "how many" question counts: the figure in an answer has to be a count of it."""
    if not (match := _COUNTED.search(normalize(question))) or match.group(1).startswith("的"):
        return None  # "水深为多少的水域" counts nothing: 水深 is a measure
    phrase = match.group(1).rsplit("的", 1)[-1]  # the head: "有口译的全体会议" counts 全体会议
    return next((w for w in segment(phrase) if len(w) > 1 and w not in STOPWORDS), None)


def _who_answers(question: str) -> frozenset[str] | None:
    """The jieba tags of the names that answer a who-question (None: the question asks for no one)."""
    if _ASKS_NAME.search(question):
        return PERSON_TAGS
    return PERSON_TAGS | ORGANISATION_TAGS if _ASKS_WHO.search(question) else None


@lru_cache(maxsize=4096)
def asked_kind(question: str) -> str | None:
    """The noun a which-question picks one of: "哪个酒店" -> 酒店, "哪些机构" -> 机构."""
    if not (match := _WHICH_KIND.search(normalize(question))):
        return None
    kind = next((compact(w) for w in segment(match.group(1)) if len(w) > 1 and w not in STOPWORDS), None)
    return None if kind in _ANSWER_KINDS else kind


def _spelled_in(name: str, text: str) -> bool:
    """Whether `text` names `name`, allowing for a word jieba cut across a boundary ("张静美的" -> 美的)
    or a variant transliteration: most of its character pairs have to be missing to call it absent."""
    if name in text:
        return True
    pairs = [name[i:i + 2] for i in range(len(name) - 1)]
    return sum(p not in text for p in pairs) <= len(pairs) / 2


def _narrowed(candidates: list[re.Match], keep: Callable[[re.Match], bool], strict: bool) -> list[re.Match]:
    """The candidates `keep` prefers; if there are none, all of them, unless `strict` accepts nothing else."""
    preferred = [m for m in candidates if keep(m)]
    return preferred if preferred or strict else candidates


def _mentions(target: str, word: str) -> bool:
    return compact(word) in target


def split_sentences(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for piece in _SENTENCE_END.split(text):
        if piece is None:
            continue
        stripped = piece.strip()
        if len(compact(stripped)) >= 2:
            out.append((text.find(stripped, pos), stripped))
        pos += len(piece)
    return out or [(0, text)]


def _quote(sentences: list[Sentence]) -> str:
    """The sentences used from one paragraph, in reading order; "…" marks a gap between them."""
    ordered = sorted(sentences, key=lambda s: s.start)
    quote = ordered[0].text
    for previous, s in zip(ordered, ordered[1:]):
        adjacent = s.start <= previous.start + len(previous.text) + 2
        quote += s.text if adjacent else f"…{s.text}"
    return quote


def _matchable(question: str, analysed: str | None, english: bool) -> str:
    """The question as the notes could word it: English terms only match through their Chinese equivalents."""
    if not analysed or "\n" not in analysed:
        return question
    equivalents = analysed.split("\n", 1)[1]
    if english:
        return equivalents + " " + " ".join(re.findall(r"\d[\d/.\-]*", question))
    return f"{question} {equivalents}"  # Chinese with English terms mixed in: both parts count


def _bigrams(text: str) -> list[str]:
    grams = []
    for run in _CJK_RUN.findall(normalize(text)):
        grams.extend(run[i:i + 2] for i in range(len(run) - 1))
    return [g for g in grams if not (g[0] in _QUESTION_CHARS and g[1] in _QUESTION_CHARS)]


class AnswerComposer:
    def __init__(self, keyword_df: dict[str, int], paragraphs: Sequence[Paragraph], embedder: Embedder | None = None,
                 settings: AnswerSettings | None = None, titles: dict[str, str] | None = None) -> None:
        """`paragraphs`: the searchable ones (keyword_df counts over them); `titles` by doc_id."""
        self._df = keyword_df
        self._titles = titles or {}
        self._n = max(len(paragraphs), 1)
        by_document: dict[str, list[str]] = {}
        for paragraph in paragraphs:
            by_document.setdefault(paragraph.doc_id, []).append(compact(paragraph.text))
        self._document_text = {doc_id: "\x1f".join(texts) for doc_id, texts in by_document.items()}
        self.embedder = embedder
        self.settings = settings or AnswerSettings()
        self._sentence_cache: dict[str, np.ndarray] = {}

    def _idf(self, term: str) -> float:
        return math.log(1 + self._n / (1 + self._df.get(term, 0)))

    def coverage(self, question: str, text: str) -> float:
        """IDF-weighted share of the question's terms and character bigrams found in `text`."""
        target = compact(text)
        terms = [t for t in content_terms(question) if len(t) > 1 or not t.isascii()]
        weights = [self._idf(t) for t in terms]
        term_cov = (sum(w for t, w in zip(terms, weights) if compact(t) in target) / sum(weights)) if terms else 0.0
        grams = _bigrams(question)
        gram_cov = (sum(1 for g in grams if g in target) / len(grams)) if grams else term_cov
        return 0.5 * term_cov + 0.5 * gram_cov

    def _local_coverage(self, question: str, texts: list[str], topics: list[str]) -> list[float]:
        """Coverage of the question by each candidate sentence, weighting what tells them apart.

        A term every candidate shares (usually the subject: the meeting, the person) says
        little about which sentence answers; the rarer it is among the candidates the more
        it counts, on top of its corpus IDF.  A sentence also covers what its document's
        title and its section name: every sentence of an article on 杨群 is about 杨群,
        whether or not it repeats the name.
        """
        # an ordinal or a figure in a title ("第八届会议") is not implied: the text may be on another session
        topics = [re.sub(r"第?[\d一二三四五六七八九十百]+", "\x1f", compact(topic)) for topic in topics]
        targets = [compact(text) + "\x1f" + topic for text, topic in zip(texts, topics)]
        n = len(targets)

        def local(term: str) -> float:
            return math.log(1 + n / (1 + sum(term in t for t in targets)))

        terms = [compact(t) for t in content_terms(question) if len(t) > 1 or not t.isascii()]
        term_w = [self._idf(t) * local(t) for t in terms]
        grams = list(dict.fromkeys(_bigrams(question)))
        gram_w = [local(g) for g in grams]
        out = []
        for target in targets:
            term_cov = sum(w for t, w in zip(terms, term_w) if t in target) / sum(term_w) if sum(term_w) else 0.0
            gram_cov = sum(w for g, w in zip(grams, gram_w) if g in target) / sum(gram_w) if sum(gram_w) else term_cov
            out.append(0.5 * term_cov + 0.5 * gram_cov)
        return out

    def compose(self, question: str, hits: list[SearchHit], query_vector: np.ndarray | None = None,
                analysed: str | None = None) -> ComposedAnswer:
        """`analysed` is the question after query analysis (English terms given in Chinese)."""
        cfg = self.settings
        english = mostly_latin(question)
        qtype = question_type(question)
        names = named_entities(question)  # of the question as asked: a glossary rendering is no sentence
        who = _who_answers(question)
        rendered = rendered_share(question, lambda word: word in self._df) if english else 1.0
        question = _matchable(question, analysed, english)
        if not hits:
            return ComposedAnswer(ABSTAIN_MESSAGE_EN if english else ABSTAIN_MESSAGE, True, question_type=qtype)
        pool = hits[:5]
        sentences = [Sentence(hi, text, start) for hi, hit in enumerate(pool)
                     for start, text in split_sentences(hit.paragraph.text)]
        topics = [f"{self._titles.get(hit.paragraph.doc_id, '')}\n{hit.paragraph.context}" for hit in pool]
        local_cov = self._local_coverage(question, [s.text for s in sentences], [topics[s.hit_index] for s in sentences])
        para_cov = [self.coverage(question, f"{hit.paragraph.context}\n{hit.paragraph.text}") for hit in pool]
        for s, cov in zip(sentences, local_cov):
            # the paragraph's own rank and its coverage with context both vouch for the sentence
            s.score = (0.55 * cov + 0.25 * para_cov[s.hit_index]
                       + 0.2 * pool[s.hit_index].score / max(pool[0].score, 1e-6))
            if qtype and self.extract_fact(qtype, s.text, question, strict=True):
                s.score += _FACT_BONUS.get(qtype, 0.25)  # holds the kind of fact the question asks for
            elif qtype and self._fact_in(qtype, s.text, question):
                s.score += _LOOSE_FACT_BONUS  # a figure or date, though not the count or precision asked
        if self.embedder is not None and query_vector is not None and (english or cfg.dense_sentence_rerank):
            self._dense_rerank(sentences, query_vector, english)
        sentences.sort(key=lambda s: -s.score)
        best = sentences[0]
        fact = self.extract_fact(qtype, best.text, question) if qtype else None
        confidence = self._confidence(question, qtype, best, pool, english, names, who, rendered, fact)
        if confidence < cfg.abstain_below:
            return ComposedAnswer(ABSTAIN_MESSAGE_EN if english else ABSTAIN_MESSAGE, True,
                                  confidence=confidence, question_type=qtype)
        chosen = [best]
        for s in sentences[1:]:
            if len(chosen) >= cfg.max_sentences or s.score < cfg.second_sentence_ratio * best.score:
                break
            if any(s.hit_index == c.hit_index and s.text == c.text for c in chosen):
                continue
            if compact(s.text) in compact(best.text) or compact(best.text) in compact(s.text):
                continue
            chosen.append(s)
        marker_of: dict[int, int] = {}
        for s in chosen:
            marker_of.setdefault(s.hit_index, len(marker_of) + 1)
        claims = [Claim(pool[hi], _quote([s for s in chosen if s.hit_index == hi]), marker)
                  for hi, marker in marker_of.items()]
        parts = [f"{s.text}[{marker_of[s.hit_index]}]" for s in chosen]
        answer = "".join(parts)
        if fact and compact(fact) != compact(best.text):
            answer = f"{fact}。{answer}" if not english else f"{fact}. {answer}"
        return ComposedAnswer(answer, False, claims, confidence, qtype)

    def _dense_rerank(self, sentences: list[Sentence], query_vector: np.ndarray, english: bool) -> None:
        """Blend in sentence-level cosine; it weighs more for English questions, where overlap is thin."""
        ranked = sorted(range(len(sentences)), key=lambda i: -sentences[i].score)[:3 if not english else 8]
        weight = 0.6 if english else 0.15
        if len(ranked) < 2 or sentences[ranked[0]].score - sentences[ranked[1]].score > weight:
            return  # no cosine can overturn a lead wider than its weight, so the embedding is saved
        vectors = self._sentence_vectors([sentences[i].text for i in ranked])
        cosines = vectors @ query_vector
        top = float(cosines.max()) if len(cosines) else 0.0
        for i, c in zip(ranked, cosines):
            closeness = max(0.0, 1 - (top - float(c)) * 10)  # 1 for the best, 0 when 0.1 below it
            sentences[i].score += weight * closeness

    def _sentence_vectors(self, texts: list[str]) -> np.ndarray:
        """Embeddings of candidate sentences, cut to their head and remembered across questions."""
        heads = [t[:SENTENCE_EMBED_CHARS] for t in texts]
        missing = [h for h in dict.fromkeys(heads) if h not in self._sentence_cache]
        if missing:
            if len(self._sentence_cache) > SENTENCE_CACHE_SIZE:
                self._sentence_cache.clear()
            self._sentence_cache.update(zip(missing, self.embedder.encode_document(missing)))
        return np.vstack([self._sentence_cache[h] for h in heads])

    def _confidence(self, question: str, qtype: str | None, best: Sentence, pool: list[SearchHit],
                    english: bool, names: tuple[str, ...], who: frozenset[str] | None, rendered: float,
                    fact: str | None) -> float:
        """`who`: see _who_answers; `rendered`: the share of an English question the glossary renders;
        `fact`: the fact of the asked type in the best sentence, if it holds one."""
        hit = pool[best.hit_index]
        text = f"{hit.paragraph.context}\n{hit.paragraph.text}"
        lexical = covered = self.coverage(question, text)
        # e5 cosines cluster in 0.75-0.95; across languages they sit lower
        floor = 0.72 if english else 0.78
        dense = max(0.0, min(1.0, (hit.dense - floor) / 0.14))
        exact = [t for t in protected_terms(question) if not _BARE_YEAR.fullmatch(t)]
        if exact and all(compact(t) in compact(text) for t in exact):
            lexical = max(lexical, 0.8)
        lexical *= 0.5 + 0.5 * rendered  # the English words the glossary could not render went unchecked
        confidence = 0.35 * dense + 0.65 * lexical
        found_docs = {h.paragraph.doc_id for h in pool}
        if self._unknown_specifics(question, hit.paragraph.doc_id, found_docs):
            confidence *= 0.5  # asks about a year or session the documents found never mention
        if self._unknown_names(names, found_docs):
            confidence *= 0.7  # names someone or something the documents found never mention
        if who and not (_LATIN_NAME_OR_TITLE.search(best.text) or named_entities(best.text, who)):
            confidence *= 0.7  # asks who, and the sentence names no one
        if not self._counts_asked_thing(qtype, text, question):
            confidence *= 0.5  # the figures here count something other than what is asked about
        if qtype in _FACT_REQUIRED and fact is None and not self._holds_fact(qtype, hit.paragraph.text, question):
            confidence *= 0.6  # the question asks for a fact this paragraph does not hold
        if qtype in _FACT_REQUIRED and fact is not None:
            title = self._titles.get(hit.paragraph.doc_id, "")
            lead = f"{title}\n{hit.paragraph.context}\n{hit.paragraph.text[:best.start]}{best.text}"
            if self.coverage(question, lead) < 0.5 * covered:
                confidence *= 0.6  # what the question names comes after the fact's sentence: the fact is another's
        if qtype in (None, "list") and not who and (kind := asked_kind(question)) and not self._df.get(kind) \
                and not any(ch in self._document_text.get(d, "") for d in found_docs for ch in kind):
            confidence *= 0.5  # asks which one of a kind of thing the notes never mention
        return confidence

    def _unknown_specifics(self, question: str, cited_doc: str, found_docs: set[str]) -> list[str]:
        """Dates and ordinals ("2025年", "第十一届") of the question that the documents found never mention.

        Not the whole collection: in an index that also holds unrelated articles, some article
        mentions almost any "第十一届".  The cited document has to mention one of them; a
        question on two meetings may find the other one's in a second document.
        """
        specific = [compact(t) for t in protected_terms(question) if re.search(r"\d", t)]
        specific += [compact(t) for t in event_ordinals(question)]
        if specific and not any(t in self._document_text.get(cited_doc, "") for t in specific):
            return specific
        return [t for t in specific if not any(t in self._document_text.get(d, "") for d in found_docs)]

    def _unknown_names(self, names: tuple[str, ...], found_docs: set[str]) -> list[str]:
        """Proper names of the question (people, places, organisations) absent from the documents found.

        A milder sign than an unknown date: jieba's tagger also calls some common words names.
        """
        found_text = "\x1f".join(f"{compact(self._titles.get(d, ''))}\x1f{self._document_text.get(d, '')}"
                                  for d in found_docs)
        return [name for name in names if not _spelled_in(name, found_text)]

    @staticmethod
    def _counts_asked_thing(qtype: str, text: str, question: str) -> bool:
        """For "how many X": whether the text speaks of X at all (else its figures count something else)."""
        noun = counted_noun(question) if qtype == "number" else None
        return noun is None or _mentions(compact(text), noun)

    def _fact_in(self, qtype: str, text: str, question: str) -> bool:
        return self.extract_fact(qtype, text, question) is not None

    def _holds_fact(self, qtype: str, paragraph: str, question: str) -> bool:
        """Whether any sentence of `paragraph` holds a fact of the asked type; a place may be any place name
        (the extraction patterns know only "在X举行" and a venue line: "生于比利时迪南" names one too)."""
        if any(self._fact_in(qtype, s, question) for _, s in split_sentences(paragraph)):
            return True
        return qtype == "place" and bool(named_entities(paragraph, PLACE_TAGS))

    @staticmethod
    def extract_fact(qtype: str, sentence: str, question: str, strict: bool = False) -> str | None:
        """The fact of the asked type nearest to the words the sentence shares with the question.

        A count of the asked thing and a date as precise as asked are preferred; `strict`
        accepts nothing else.
        """
        pattern = next((p for name, _, p in _QUESTION_TYPES if name == qtype), None)
        if pattern is None:
            return None
        qnorm = compact(question)
        body = re.sub(r"^\d{1,3}\.\s*", lambda m: " " * len(m.group(0)), sentence)  # printed paragraph number
        candidates = [m for m in pattern.finditer(body)
                      if compact(m.group(0)) and compact(m.group(0)) not in qnorm]
        if qtype == "number":  # a count of the asked thing first; then a count with its unit beats a bare figure
            if noun := counted_noun(question):  # "234 个特设联络点" counts them; "80 个缔约国的…联络点" counts states
                candidates = [m for m in candidates if _mentions(compact(m.group(0)), noun)] or _narrowed(
                    candidates, lambda m: _mentions(compact(body[m.start():m.end() + 12]), noun), strict)
            if measure := _ASKED_MEASURE.search(normalize(question)):
                candidates = _narrowed(candidates, lambda m: measure.group(1) in m.group(0), strict)
            candidates = [m for m in candidates if not re.fullmatch(r"[\d,.\s]+", m.group(0))] or candidates
        if qtype == "date" and (grain := next((unit for unit, asks in _DATE_GRAIN if asks.search(question)), None)):
            candidates = _narrowed(candidates, lambda m: grain in m.group(0), strict)
        if not candidates:
            return None
        anchors = [m.start() for t in content_terms(question) if len(t) > 1
                   for m in re.finditer(re.escape(t), body)]
        if not anchors:
            return candidates[0].group(0).strip()
        best = min(candidates, key=lambda m: min(abs(m.start() - a) for a in anchors))
        fact = best.group(0).strip()
        if qtype == "number" and (noun := counted_noun(question)) and body[best.end():].lstrip().startswith(noun):
            fact += noun  # "364.6" is read as "364.6公里"
        return fact
