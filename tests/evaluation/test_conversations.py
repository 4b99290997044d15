"""Conversation sets: the format and its errors, the run on the real sample index (in-process and over the
API), the results it gives and the README table made from them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.conversations import (FIRST_TURNS_SUFFIX, FOLLOW_UPS_SUFFIX, IN_FULL_SUFFIX, conversation_results,
                                      gap_verdict, is_conversation_dataset, load_conversations, run_conversations)
from evaluation.datasets import DatasetError, load_dataset
from evaluation.readme_table import render
from evaluation.report import save_results
from evaluation.runner import HTTPClient, InProcessClient
from retrieval.pipeline import NotesQA

DATASETS = Path(__file__).resolve().parents[2] / "evaluation" / "datasets"
CONVERSATIONS = DATASETS / "sample_conversations.jsonl"
SAMPLE_DEV = DATASETS / "sample_dev.jsonl"

FIRST = {"question": "缔约国会议第八届会议在哪个城市开？", "answers": ["阿布扎比"], "doc_ids": ["002_9b7261b858c1689a"],
         "evidence": ["将于 2019 年 12 月 16 日至 20 日在阿布扎比举行第八届会议"], "answerable": True, "type": "name"}
FOLLOW_UP = {"question": "那第一届呢？", "full_question": "缔约国会议第一届会议在哪个城市开？", "answers": ["安曼"],
             "doc_ids": ["002_9b7261b858c1689a"], "evidence": ["2006 年 12 月 10 日至 14 日在安曼举行了缔约国会议第一届会议"],
             "answerable": True, "type": "name"}


def write_lines(path: Path, *records: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n"
                            for r in records), encoding="utf-8")
    return path


# --- the format -------------------------------------------------------------------------------

@pytest.mark.unit
def test_the_sample_conversations_load_with_their_follow_ups() -> None:
    conversations = load_conversations(CONVERSATIONS)
    assert len(conversations) >= 30 and len({c.id for c in conversations}) == len(conversations)
    assert sum(c.follow_ups for c in conversations) >= 30
    assert all(2 <= len(c.turns) <= 3 for c in conversations)
    first = conversations[0]
    assert [t.item.id for t in first.turns] == ["c01.1", "c01.2"]
    assert first.turns[1].item.question == "那第一届呢？"
    assert first.turns[1].full_question == "缔约国会议第一届会议在哪个城市开？"
    assert first.turns[0].full_question == first.turns[0].item.question  # a first turn stands for itself
    assert first.turns[1].item.answers == ["安曼"] and first.turns[1].item.lang == "zh"
    english = next(c for c in conversations if c.turns[1].item.question.startswith("What about"))
    assert english.turns[1].item.lang == "en"  # each turn takes its conversation's language
    assert len(load_conversations(CONVERSATIONS, limit=3)) == 3


@pytest.mark.unit
def test_a_conversation_set_is_told_from_a_question_set(tmp_path: Path) -> None:
    assert is_conversation_dataset(CONVERSATIONS)
    assert not is_conversation_dataset(SAMPLE_DEV)
    assert not is_conversation_dataset(write_lines(tmp_path / "broken.jsonl", "{not json"))
    assert not is_conversation_dataset(write_lines(tmp_path / "empty.jsonl", ""))
    with pytest.raises(DatasetError, match="a conversation .*load_conversations"):
        load_dataset(CONVERSATIONS)  # the question loader says which loader reads it


@pytest.mark.unit
@pytest.mark.parametrize("record,message", [
    ({"id": "x", "turns": []}, "`turns` must be a non-empty list"),
    ({"id": "x", "turns": "那第一届呢？"}, "`turns` must be a non-empty list"),
    ({"id": "x"}, "`turns` must be a non-empty list"),
    ({"turns": [FIRST]}, "needs an `id`"),
    (["not", "an", "object"], "is a JSON object"),
    ({"id": "x", "turns": [FIRST, "那第一届呢？"]}, "turn 2: a turn is a JSON object"),
    ({"id": "x", "turns": [{**FIRST, "question": "  "}]}, "turn 1: `question` must be a non-empty string"),
    ({"id": "x", "turns": [FIRST, {k: v for k, v in FOLLOW_UP.items() if k != "full_question"}]},
     "turn 2: a follow-up needs `full_question`"),
    ({"id": "x", "turns": [{"question": "第八届会议在哪里开？", "answers": ["阿布扎比"]}]},
     "turn 1: needs the gold fields"),
    ({"id": "x", "turns": [FIRST, {**FOLLOW_UP, "answers": []}]}, "turn 2: an answerable turn needs `answers`"),
])
def test_a_bad_conversation_is_named_with_its_file_and_line(tmp_path: Path, record: object, message: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", {"id": "ok", "turns": [FIRST, FOLLOW_UP]}, record)
    with pytest.raises(DatasetError) as raised:
        load_conversations(path)
    assert str(raised.value).startswith(f"{path}:2: ")
    assert message in str(raised.value)


@pytest.mark.unit
def test_duplicate_ids_bad_json_and_an_empty_file_are_refused(tmp_path: Path) -> None:
    twice = write_lines(tmp_path / "twice.jsonl", {"id": "a", "turns": [FIRST]}, "", {"id": "a", "turns": [FIRST]})
    with pytest.raises(DatasetError, match=r"twice.jsonl:3: conversation id a is used twice"):
        load_conversations(twice)
    with pytest.raises(DatasetError, match=r"broken.jsonl:1: "):
        load_conversations(write_lines(tmp_path / "broken.jsonl", '{"id": "a", "turns": ['))
    with pytest.raises(DatasetError, match="no conversations"):
        load_conversations(write_lines(tmp_path / "empty.jsonl", ""))
    unanswerable = {"question": "在阿布扎比哪个酒店举行？", "full_question": "第八届会议在阿布扎比哪个酒店举行？",
                    "answers": [], "evidence": [], "doc_ids": [], "answerable": False, "type": "unanswerable"}
    (loaded,) = load_conversations(write_lines(tmp_path / "ok.jsonl", {"id": 7, "turns": [FIRST, unanswerable]}))
    assert loaded.id == "7" and loaded.turns[1].item.answerable is False


@pytest.mark.unit
def test_the_gap_verdict() -> None:
    assert gap_verdict({"follow_up_accuracy_gap": 0.03, "gap_target": 0.05}) == "0.030 (target ≤ 0.05: met)"
    assert gap_verdict({"follow_up_accuracy_gap": 0.0606, "gap_target": 0.05}) == "0.061 (target ≤ 0.05: not met)"
    assert gap_verdict({"follow_up_accuracy_gap": None}).startswith("n/a")


# --- on the real sample index ----------------------------------------------------------------

class RecordingClient(InProcessClient):
    """The real in-process client, keeping what each call was asked with."""

    def __init__(self, qa: NotesQA) -> None:
        super().__init__(qa)
        self.calls: list[tuple[str, list[dict]]] = []

    def ask(self, question, top_k, doc_ids=None, *, history=()):
        self.calls.append((question, [dict(t) for t in history]))
        return super().ask(question, top_k, doc_ids, history=history)


@pytest.fixture(scope="module")
def qa(sample_index: Path) -> NotesQA:
    return NotesQA.load(sample_index)


@pytest.fixture(scope="module")
def sample_run(qa: NotesQA) -> tuple[list, dict, dict[str, list[dict]], RecordingClient]:
    conversations = load_conversations(CONVERSATIONS)
    client = RecordingClient(qa)
    metrics, records = run_conversations(conversations, client, show_progress=False)
    return conversations, metrics, records, client


@pytest.mark.integration
@pytest.mark.slow
def test_run_conversations_on_the_sample_index(sample_run) -> None:
    conversations, metrics, records, _ = sample_run
    follow_ups = sum(c.follow_ups for c in conversations)
    assert len(records["first_turns"]) == len(conversations) == metrics["conversations"]
    assert len(records["follow_ups"]) == len(records["follow_ups_in_full"]) == follow_ups
    assert [r["id"] for r in records["follow_ups"]] == [r["id"] for r in records["follow_ups_in_full"]]
    # each follow-up is asked as in the conversation, its counterpart in full
    full = {f"{c.id}.{i + 1}": t.full_question for c in conversations for i, t in enumerate(c.turns)}
    assert all(r["question"] == full[r["id"]] for r in records["follow_ups_in_full"])
    assert all(r["question"] != r["full_question"] for r in records["follow_ups"])
    # the issue's own case: "那第一届呢？" after the eighth session is read as the first session and answered
    c01 = next(r for r in records["follow_ups"] if r["id"] == "c01.2")
    assert "第一届" in c01["resolved_question"] and "缔约国会议" in c01["resolved_question"]
    assert c01["correct"] is True
    follow, in_full = metrics["follow_ups"], metrics["follow_ups_in_full"]
    assert metrics["follow_up_accuracy_gap"] == round(in_full["answer_accuracy"] - follow["answer_accuracy"], 4)
    assert follow["answer_accuracy"] >= 0.6 and in_full["answer_accuracy"] >= 0.6
    assert metrics["gap_target"] == 0.05
    resolved = sum(1 for r in records["follow_ups"] if r["resolved_question"])
    assert 0 < resolved < follow_ups and metrics["resolved_rate"] == resolved / follow_ups


@pytest.mark.integration
@pytest.mark.slow
def test_each_turn_carries_the_systems_own_earlier_answers(sample_run) -> None:
    conversations, _, records, client = sample_run
    three = next(c for c in conversations if len(c.turns) == 3)
    asked = [(q, h) for q, h in client.calls if h and h[0]["question"] == three.turns[0].item.question]
    third = next(h for q, h in asked if q == three.turns[2].item.question and len(h) == 2)
    earlier = [r for part in ("first_turns", "follow_ups") for r in records[part] if r["conversation"] == three.id]
    earlier = sorted(earlier, key=lambda r: r["turn"])[:2]
    assert [t["question"] for t in third] == [t.item.question for t in three.turns[:2]]
    assert [t["answer"] for t in third] == [r["answer"] for r in earlier]  # what the system said, not the gold
    assert [t["paragraph_ids"] for t in third] == [[c["paragraph_id"] for c in r["citations"]] for r in earlier]
    # only follow-ups go with a history; the warm-up, first turns and questions asked in full go without
    follow_ups = sum(c.follow_ups for c in conversations)
    assert sum(1 for _, h in client.calls if h) == follow_ups
    assert sum(1 for _, h in client.calls if not h) == 1 + len(conversations) + follow_ups


@pytest.mark.integration
@pytest.mark.slow
def test_the_results_the_file_and_the_readme_table(sample_run, tmp_path: Path) -> None:
    _, metrics, records, _ = sample_run
    results = conversation_results("sample_conversations", "notesqa", metrics, records)
    assert [r.dataset for r in results] == ["sample_conversations" + s
                                            for s in (FOLLOW_UPS_SUFFIX, IN_FULL_SUFFIX, FIRST_TURNS_SUFFIX)]
    follow = results[0].metrics
    assert follow["answer_accuracy"] == metrics["follow_ups"]["answer_accuracy"]
    assert follow["in_full_accuracy"] == results[1].metrics["answer_accuracy"]
    assert follow["first_turn_accuracy"] == results[2].metrics["answer_accuracy"]
    assert follow["follow_up_accuracy_gap"] == metrics["follow_up_accuracy_gap"]
    save_results(tmp_path / "sample_conversations.json", results, {"machine": "2 CPU(s)"})
    text = render(tmp_path)
    assert "#### Conversations: follow-up questions" in text
    assert f"{len(records['follow_ups'])} follow-ups, asked in-process" in text
    assert "| metric | follow-ups (" in text and "| asked in full (" in text and "| first turns (" in text
    assert f"(in full − follow-up): {metrics['follow_up_accuracy_gap']:.3f} (target ≤ 0.05: " in text
    resolved = sum(1 for r in records["follow_ups"] if r["resolved_question"])
    assert f"({resolved} of {len(records['follow_ups'])})" in text


@pytest.mark.integration
@pytest.mark.slow
def test_the_http_client_sends_the_history(api_server: str) -> None:
    """Against the real server: the same follow-up is completed only when the history goes with it."""
    client = HTTPClient(api_server)
    try:
        first, _, _ = client.ask(FIRST["question"], 5)
        history = [{"question": FIRST["question"], "answer": first["answer"],
                    "paragraph_ids": [c["paragraph_id"] for c in first["citations"]]}]
        alone, _, _ = client.ask(FOLLOW_UP["question"], 5)
        followed, ranked, _ = client.ask(FOLLOW_UP["question"], 5, history=history)
    finally:
        client.close()
    assert alone.get("resolved_question") is None
    assert "第一届" in followed["resolved_question"] and "缔约国会议" in followed["resolved_question"]
    assert "安曼" in followed["answer"]
    # the ranking is that of the question answered, so the evidence is found
    assert any("安曼" in r["text"] for r in ranked[:5])
