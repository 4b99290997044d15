"""evaluation.training's swapped near misses: a question's subject replaced by a name the index never holds."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation.training import subject_names, swap_subject
from retrieval.answer.question import analyse_question

pytestmark = pytest.mark.unit

DF = {"王小明": 1, "上海": 3, "足球队": 2}  # what the index holds, by document frequency


def test_the_rarest_name_the_index_holds_is_replaced_by_one_it_never_holds():
    question = "王小明在上海效力于哪支足球队？"
    swapped = swap_subject(question, ("王小明", "上海"), DF, ["上海", "李大华"], np.random.default_rng(0))
    assert swapped == "李大华在上海效力于哪支足球队？"  # 上海 is held by the index: no stranger


def test_no_swap_without_a_held_name_or_a_stranger():
    rng = np.random.default_rng(0)
    assert swap_subject("谁是冠军？", (), DF, ["李大华"], rng) is None
    assert swap_subject("张三是谁？", ("张三",), DF, ["李大华"], rng) is None  # the index never names 张三
    assert swap_subject("王小明是谁？", ("王小明",), DF, ["王小明", "上海"], rng) is None


def test_the_same_seed_gives_the_same_swaps():
    pool = [f"人名{i}" for i in "甲乙丙丁戊己庚辛"]
    swaps = [[swap_subject("王小明是谁？", ("王小明",), DF, pool, rng) for _ in range(5)]
             for rng in (np.random.default_rng(7), np.random.default_rng(7))]
    assert swaps[0] == swaps[1] and len(set(swaps[0])) > 1


def test_the_pool_holds_the_chinese_names_the_questions_give_in_a_fixed_order():
    questions = ["王小明在上海效力于哪支足球队？", "北京有多少人口？", "What is NATO?", "王小明是谁？"]
    assert subject_names(questions, analyse_question) == ["上海", "北京", "王小明"]
