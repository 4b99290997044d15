"""index.normalization: the canonical matching form shared by indexing and querying."""
from __future__ import annotations

import pytest

from index.normalization import compact, is_cjk_char, mostly_latin, normalize, to_simplified

pytestmark = pytest.mark.unit


def test_full_width_and_spaced_dates_normalise_to_the_same_string():
    full_width = normalize("２０１８年６月６日")
    spaced = normalize("2018 年 6 月 6 日")
    assert full_width == spaced == "2018年6月6日"


def test_spaces_around_numbers_inside_chinese_are_removed():
    # exactly as the PDF conversion prints it in 001, paragraph 20
    assert normalize("于 2011 年 9 月 1 日推出的") == "于2011年9月1日推出的"
    assert normalize("收录了全世界 180 多个法域") == "收录了全世界180多个法域"


def test_traditional_characters_normalise_to_simplified():
    assert normalize("資產追回") == "资产追回"
    assert to_simplified("締約國會議") == "缔约国会议"
    assert normalize("聯合國反腐敗公約") == normalize("联合国反腐败公约")


def test_case_and_full_width_latin_fold():
    assert normalize("ＣＡＣ／ＣＯＳＰ／ＷＧ．２／２０１８／５") == "cac/cosp/wg.2/2018/5"
    assert normalize("CAC/COSP/WG.2/2018/5") == "cac/cosp/wg.2/2018/5"


def test_spaces_between_latin_words_survive_but_collapse():
    assert normalize("  Asset \t Recovery\u00a0 Watch ") == "asset recovery watch"
    # a space next to CJK goes, a space between two Latin words stays
    assert normalize("参见 www.track.unodc.org 网站") == "参见www.track.unodc.org网站"
    assert normalize("Stolen Asset 追回") == "stolen asset追回"


def test_ideographic_space_and_punctuation_spacing():
    assert normalize("资产\u3000追回") == "资产追回"
    assert normalize("会议开幕 ， 维也纳") == "会议开幕,维也纳"  # NFKC turns the full-width comma into ","


def test_compact_drops_every_space_including_line_breaks():
    assert compact("6. 关于资产追回\n方面的 知识积累") == "6.关于资产追回方面的知识积累"
    assert compact("Asset Recovery\nWatch") == "assetrecoverywatch"


def test_is_cjk_char_and_mostly_latin():
    assert is_cjk_char("资") and is_cjk_char("資")
    assert not is_cjk_char("a") and not is_cjk_char("，") and not is_cjk_char("1")
    assert mostly_latin("Which room is the meeting in? 会议")
    assert not mostly_latin("会议在哪个房间举行？room")
    assert not mostly_latin("2018 / 6 / 6")  # no letters at all


def test_to_simplified_skips_opencc_only_where_it_would_change_nothing():
    from index.normalization import _T2S, to_simplified

    samples = ["资产追回工作组的会议于6月6日开幕。", "資產追回工作組的會議於6月6日開幕。", "他反覆思量，沈默不語。",
               "一目瞭然", "反覆", "English only, 2018.", "", "大熊猫生活在四川"]
    for text in samples:
        assert to_simplified(text) == _T2S.convert(text), text
    assert to_simplified("反覆") == "反复"  # a phrase t2s changes though none of its characters is traditional
