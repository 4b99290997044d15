"""The grounded answer's outcomes on hand-made model outputs: verified, refusal, all unsupported, disagreement."""
from __future__ import annotations

import pytest

from retrieval.answer.render import ABSTAIN_MESSAGE
from retrieval.generation.base import Generation, GenerationError
from retrieval.generation.grounded import GroundedAnswerer, Plan
from retrieval.generation.llm import partial_answer, unwrap
from retrieval.generation.settings import GenerationSettings
from retrieval.pipeline import Answer, Citation

pytestmark = pytest.mark.unit
QUESTION = "资产追回工作组2018年的会议是哪天开幕的？"


def extractive(numbered, *, abstained=False, fact="2018 年 6 月 6 日", confidence=0.9) -> Answer:
    p = numbered[0].paragraph
    citations = [] if abstained else [Citation(1, p.doc_id, "t", p.paragraph_id, None, None, p.text, p.text, 0, 1, 1.0)]
    return Answer(QUESTION, "资料中没有找到相关内容。" if abstained else p.text + "[1]", abstained, citations,
                  confidence, fact=None if abstained else fact)


def finish(numbered, embed, text: str, answer: Answer):
    answerer = GroundedAnswerer(generator=None)  # finish() reads no generator
    plan = Plan(QUESTION, answer, numbered, structured=False)
    return answerer.finish(plan, Generation(text, 12, 1.0, False), embed)


def test_a_verified_answer_is_the_llm_s(numbered, embed):
    outcome = finish(numbered, embed, "会议于2018年6月6日开幕。[1]", extractive(numbered))
    fields = outcome.apply(extractive(numbered).to_dict())
    assert fields["engine"] == "llm" and not fields["abstained"]
    assert fields["answer"] == "会议于2018年6月6日开幕[1]。"
    assert [c["paragraph_id"] for c in fields["citations"]] == ["p1"]
    assert fields["confidence"] == pytest.approx(0.9) and fields["unsupported"] == []
    assert fields["fact"] == "2018 年 6 月 6 日"


def test_a_refusal_gives_back_the_extractive_abstention(numbered, embed):
    answer = extractive(numbered, abstained=True, confidence=0.05)
    outcome = finish(numbered, embed, "NO_ANSWER", answer)
    fields = outcome.apply(answer.to_dict())
    assert fields["engine"] == "extractive" and fields["abstained"]
    assert fields["answer"] == ABSTAIN_MESSAGE and fields["engine_note"].startswith("llm_refused")


def test_an_answer_with_no_supported_claim_becomes_an_abstention(numbered, embed):
    answer = extractive(numbered)
    outcome = finish(numbered, embed, "会议于2019年3月1日在巴黎开幕。[1]", answer)
    fields = outcome.apply(answer.to_dict())
    assert fields["engine"] == "llm" and fields["abstained"] and fields["citations"] == []
    assert fields["answer"] == ABSTAIN_MESSAGE
    assert fields["unsupported"][0]["claim"] == "会议于2019年3月1日在巴黎开幕。"
    assert fields["engine_note"].startswith("llm_unsupported")
    assert fields["closest"]  # the paragraphs to read instead


def test_disagreeing_with_the_extractive_fact_lowers_confidence(numbered, embed):
    answer = extractive(numbered, fact="上午 10 时")
    outcome = finish(numbered, embed, "会议于2018年6月6日开幕。[1]", answer)
    assert outcome.fields["confidence"] == pytest.approx(0.45)
    assert "上午 10 时" in outcome.note and outcome.fields["fact"] is None


def test_structured_output_is_unwrapped_and_its_sources_become_markers():
    assert unwrap('{"answer": "2009年1月", "sources": [3]}', True) == "2009年1月[3]"
    assert unwrap('{"answer": "A[1]。", "sources": [2]}', True) == "A[1]。"
    assert unwrap("  plain [1] ", False) == "plain [1]"
    with pytest.raises(GenerationError) as error:
        unwrap('{"answer": 3}', True)
    assert error.value.reason == "llm_malformed"
    assert partial_answer('{"answer": "2009年') == "2009年"
    assert partial_answer('{"ans') is None


def test_the_model_is_not_asked_when_the_reader_abstained(numbered):
    answer = extractive(numbered, abstained=True)
    answer.hits = [object()]  # a reading with paragraphs: only the setting decides
    assert GroundedAnswerer(None).plan(QUESTION, answer, str).reason == "llm_skipped"
    asked = GroundedAnswerer(None, GenerationSettings(ask_when_extractive_abstains=True))
    answer.hits = []
    assert asked.plan(QUESTION, answer, str).note == "llm_skipped: no paragraph was found"
