"""What a question asks for and what a fact of each kind looks like: the patterns behind the signals.

These rules no longer decide an answer: each is a *signal* (a candidate generator or a feature) that
the fitted answer model weighs (see retrieval/answer/model.py).
"""
from __future__ import annotations

import re
from functools import lru_cache

from index.normalization import compact, normalize
from index.tokenization import ORGANISATION_TAGS, PERSON_TAGS, STOPWORDS, segment

CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
QUESTION_CHARS = set("的了是在吗呢吧么什哪谁几多少怎如何为请问和与及或有个次")

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
ASKED_MEASURE = re.compile(rf"(?<![第哪])(?:多少|几)\s*([{_MEASURE_WORDS}])")

# "主席叫什么名字" is answered by a person's name, "谁负责审查全权证书" by a person or a body (主席团): jieba's
# person (and organisation) tags, a Latin-script name or a 《title》
_ASKS_NAME = re.compile(r"叫什么名字|姓名|名字叫什么|what is (?:his|her|the) name", re.I)
_ASKS_WHO = re.compile(r"谁|\bwho\b", re.I)
LATIN_NAME_OR_TITLE = re.compile(r"[A-Za-z]{2,}|《[^》]+》")
# a year (or year and month) the question shares with a paragraph: every schedule row of a meeting has one
BARE_YEAR = re.compile(r"\d{4}年(?:\d{1,2}月)?")

# how precise a date the question wants: "哪天" is not answered by a year
DATE_GRAIN = [("日", re.compile(r"哪天|哪一天|几号|哪几天|几月几日|什么日子|日期|which day|what date|what day", re.I)),
               ("月", re.compile(r"几月|哪个月|哪月|which month|what month", re.I))]

# question type -> (patterns in the question, pattern of the fact in the evidence)
QUESTION_TYPES: list[tuple[str, re.Pattern, re.Pattern]] = [
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


# question types whose answer is the fact itself: a paragraph without one cannot answer
FACT_REQUIRED = frozenset({"date", "number", "money", "time", "symbol", "resolution", "url", "email", "ordinal",
                            "place"})
# "在哪个酒店举行": the kind of thing a which-question picks; notes that never mention one cannot pick it.
# "Mention" is loose: an instance usually shares a character of its kind (民主党 of 党派, 维也纳州 of 州), so
# the kind counts as unmentioned only when none of its characters occur. A kind that is a type of answer
# ("哪一个城市", "哪个时段") is left out: the notes name the city, not the word 城市
_WHICH_KIND = re.compile(r"哪(?:一)?[个座家所位种类份项条些间]([\u4e00-\u9fff]{2,8})")
_ANSWER_KINDS = frozenset("城市 国家 地方 地点 场所 会场 地区 区域 省份 时段 时间 日子 日期 月份 年份 名字 姓名 名称 邮箱 "
                          "电话 网址 网站".split())


def question_type(question: str) -> str | None:
    question = normalize(question)  # "第 几 次" and full-width forms read like their plain spelling
    for name, pattern, _ in QUESTION_TYPES:
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


def who_answers(question: str) -> frozenset[str] | None:
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




# The question word and the phrase it heads ("哪两个公司", "什么时候", "多少名"): a span of the text that
# stands where it stands in the question, between the same words, is the classic reading of an answer.
WH_PHRASE = re.compile(
    r"(?:为什么|为何|怎么样|怎样|怎么|如何|什么时候|什么|甚么|啥|谁|何时|何地|何处|何人|何种|何|"
    r"哪(?:一|两|几|些)?(?:个|座|家|所|位|种|类|份|项|条|间|年|天|里|儿|国|部|次|届|本|首|支)?|"
    r"多少|几)"
    r"(?:[个名次项场届家位份所种条座批类件首颗只头匹本部辆架张篇枚艘台块支棵间层年月日号]?)"
)
# a question word ending so ("什么", "哪个", "几种") is followed by the noun it asks about
ASKING_ENDS = ("什么", "甚么", "啥", "何种", "哪") + tuple(f"{w}" for w in _MEASURE_WORDS)
# particles and punctuation that end a question without carrying content
QUESTION_TAIL = re.compile(r"[呢吗呀啊吧么嘛]?[？?。！!\s]*$")
# typed spans beyond the question types' fact patterns: titles, quotations, Latin-script names
TITLE_SPAN = re.compile(r"《[^》]{1,40}》|“[^”]{1,40}”|「[^」]{1,40}」|『[^』]{1,40}』")
LATIN_SPAN = re.compile(r"[A-Za-z][A-Za-z0-9.\-'& ]{1,40}[A-Za-z0-9]")
# what a span of the answer has to be cut at: sentence and clause punctuation
CLAUSE_PUNCTUATION = set("，,；;：:。！？!?、（）()《》“”「」")


def fact_pattern(qtype: str) -> re.Pattern | None:
    return next((p for name, _, p in QUESTION_TYPES if name == qtype), None)
