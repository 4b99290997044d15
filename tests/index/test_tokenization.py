"""index.tokenization: jieba with a domain dictionary; symbols, resolutions, URLs and dates kept whole."""
from __future__ import annotations

import pytest

from index.tokenization import PERSON_TAGS, STOPWORDS, content_terms, named_entities, protected_terms, tokenize

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("for_search", [True, False])
def test_document_symbol_is_one_lower_case_token(for_search):
    tokens = tokenize("见 CAC/COSP/WG.2/2018/5 号文件", for_search=for_search)
    assert "cac/cosp/wg.2/2018/5" in tokens
    # not cut into pieces
    assert not {"cac", "cosp", "wg.2", "2018", "5", "CAC/COSP/WG.2/2018/5"} & set(tokens)
    assert tokenize("CAC/COSP/WG.2/2018/5") == ["cac/cosp/wg.2/2018/5"]


def test_symbol_with_suffix_and_trailing_full_stop():
    assert "cac/cosp/wg.2/2017/crp.1" in tokenize("载于 CAC/COSP/WG.2/2017/CRP.1 号文件")
    # the sentence-final "。" (NFKC keeps it) and an ASCII "." are not part of the symbol
    assert "cac/cosp/eg.1/2018/2" in tokenize("的报告（CAC/COSP/EG.1/2018/2）。")
    assert "cac/cosp/eg.1/2018/2" in tokenize("see CAC/COSP/EG.1/2018/2.")


@pytest.mark.parametrize("text", ["第 7/1 号决议", "第7/1号决议", "在第 7/1 号决议中，缔约国会议"])
def test_resolution_number_yields_whole_and_core_tokens(text):
    tokens = tokenize(text)
    assert "第7/1号决议" in tokens
    assert "7/1" in tokens
    assert protected_terms(text) == ["7/1"]


def test_bare_resolution_number_in_question():
    assert "7/1" in tokenize("7/1 决议说了什么")


@pytest.mark.parametrize("term", ["资产追回", "缔约国会议", "追回被盗资产举措", "毒品和犯罪问题办公室", "司法协助"])
def test_domain_terms_stay_whole(term):
    sentence = f"工作组讨论了{term}的问题"
    assert term in tokenize(sentence, for_search=False)
    assert term in tokenize(sentence, for_search=True)  # search mode adds sub-words but keeps the whole


def test_precise_mode_does_not_split_domain_terms():
    assert tokenize("资产追回", for_search=False) == ["资产追回"]
    assert tokenize("缔约国会议", for_search=False) == ["缔约国会议"]


@pytest.mark.parametrize("text", ["２０１８年６月６日", "2018 年 6 月 6 日", "2018年6月6日"])
def test_date_forms_yield_the_same_tokens_including_month_day(text):
    tokens = tokenize(text)
    assert "6月6日" in tokens
    assert "2018年6月6日" in tokens
    assert "2018年" in tokens
    assert tokens == tokenize("2018年6月6日")


def test_date_inside_a_sentence():
    tokens = tokenize("会议将于 2018 年 6 月 6 日星期三上午 10 时开幕")
    assert "6月6日" in tokens and "开幕" in tokens
    assert "会议" in tokens


def test_question_about_a_day_matches_the_indexed_date():
    assert set(tokenize("6月6日上午安排了什么")) & set(tokenize("2018 年 6 月 6 日"))


def test_stop_words_and_punctuation_are_dropped():
    tokens = tokenize("缔约国会议的报告是什么？请问，这是哪些？")
    assert "报告" in tokens
    for word in ("的", "是", "什么", "请问", "这", "哪些", "？", "，", "?", ","):
        assert word not in tokens
    english = tokenize("What is the role of the Working Group?")
    assert english == ["role", "working", "group"]


def test_no_token_is_whitespace_or_a_stop_word():
    text = "在 2016 年 6 月实施情况审议机制第二周期正式开始前后，毒品和犯罪问题办公室定期回应各缔约国的技术援助请求。"
    tokens = tokenize(text)
    assert tokens and all(t.strip() == t and t for t in tokens)
    assert not set(tokens) & STOPWORDS
    assert {"实施情况审议机制", "技术援助", "毒品和犯罪问题办公室", "2016年"} <= set(tokens)


def test_url_is_one_token():
    tokens = tokenize("¹ 参见 www.track.unodc.org/assetrecovery/Pages/home.aspx。")
    assert "www.track.unodc.org/assetrecovery/pages/home.aspx" in tokens
    assert "https://star.worldbank.org/star/content/beneficial-ownership-guides" in tokenize(
        "指南可在 <https://star.worldbank.org/star/content/beneficial-ownership-guides> 上查阅。")


def test_traditional_text_tokenises_like_simplified():
    assert tokenize("資產追回問題", for_search=False) == tokenize("资产追回问题", for_search=False)


def test_protected_terms_lists_symbols_resolutions_urls_dates():
    text = "缔约国会议在第 7/1 号决议中请秘书处于 2018 年 6 月 6 日前提交 CAC/COSP/WG.2/2018/5 号文件，参见 www.unodc.org。"
    assert protected_terms(text) == ["7/1", "2018年6月6日", "cac/cosp/wg.2/2018/5", "www.unodc.org"]


def test_content_terms_are_distinct_precise_tokens_in_order():
    terms = content_terms("缔约国会议在第 7/1 号决议中对缔约国会议说了什么？")
    assert terms[0] == "缔约国会议"
    assert terms.count("缔约国会议") == 1
    assert "第7/1号决议" in terms and "7/1" in terms
    assert "什么" not in terms


@pytest.mark.parametrize("question, names", [
    ("张伟在工作组会议上提出了什么建议？", ("张伟",)),  # a person jieba has never seen
    ("马来西亚资产追回机构的负责人是谁？", ("马来西亚",)),
    ("世界卫生组织参加了第七次专家会议吗？", ("世界卫生组织",)),
    ("缔约国会议第八届会议在哪个城市开？", ("缔约国会议",)),  # 城市 is asked for, not named
    ("我们部门要向领导汇报，麻烦帮我查一下，谢谢！", ()),  # 汇报 is tagged nz, 谢谢 nr: neither is a name
])
def test_named_entities(question, names):
    assert named_entities(question) == names


def test_person_names_only():
    assert named_entities("会议由张伟主持，在维也纳举行。", PERSON_TAGS) == ("张伟",)
    assert named_entities("会议由主席主持，在维也纳举行。", PERSON_TAGS) == ()
