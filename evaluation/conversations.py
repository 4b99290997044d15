"""Conversations: follow-up questions scored against the same questions asked in full.

Dataset format (JSONL), one conversation per line:
    {"id", "lang", "turns": [{"question", "full_question", "answers", "list_items", "evidence", "doc_ids",
                              "answerable", "type"}, ...]}
`question` is the turn as a person asks it in the conversation ("那第一届呢？"); `full_question` the same
question asked on its own ("缔约国会议第一届会议在哪个城市开？"), required from the second turn on; the gold
fields are those of a dataset item (evaluation/datasets.py). Each conversation is asked turn by turn, every
turn with the history of the system's own earlier answers (question, answer, cited paragraph ids), as a chat
client sends it; every follow-up's `full_question` is also asked alone. The report compares the two: a
follow-up should be answered as well as the question it stands for.

    notesqa eval run evaluation/datasets/sample_conversations.jsonl [--api URL]
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from evaluation.datasets import DatasetError, EvalItem, item_from_record
from evaluation.report import Result
from evaluation.runner import KS, QAClient, score_item
from evaluation.scoring import summarize

# the three parts of a conversation run, each its own result (dataset name + suffix)
FOLLOW_UPS_SUFFIX = " (follow-ups)"
IN_FULL_SUFFIX = " (follow-ups asked in full)"
FIRST_TURNS_SUFFIX = " (first turns)"
PARTS = {"follow_ups": FOLLOW_UPS_SUFFIX, "follow_ups_in_full": IN_FULL_SUFFIX, "first_turns": FIRST_TURNS_SUFFIX}
# the conversation figures the follow-ups' result carries on top of the usual metrics (report.METRIC_LABELS)
CONVERSATION_KEYS = ("in_full_accuracy", "follow_up_accuracy_gap", "first_turn_accuracy", "resolved_rate")


@dataclass(frozen=True)
class ConversationEvalSettings:
    # a follow-up should be answered as well as the question it stands for: the in-full answer accuracy
    # may exceed the follow-ups' by at most this much (issue 15)
    gap_target: float = 0.05


@dataclass(frozen=True)
class ConversationTurn:
    item: EvalItem  # `question` as asked in the conversation
    full_question: str


@dataclass(frozen=True)
class Conversation:
    id: str
    turns: tuple[ConversationTurn, ...]

    @property
    def follow_ups(self) -> int:
        return len(self.turns) - 1


def is_conversation_dataset(path: str | Path) -> bool:
    """Whether the file's first record has `turns`."""
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    record = json.loads(line)
                except ValueError:
                    return False
                return isinstance(record, dict) and "turns" in record
    return False


def _conversation(record: object) -> Conversation:
    """One line -> Conversation; ValueError naming what is wrong."""
    if not isinstance(record, dict):
        raise TypeError("a conversation is a JSON object")
    if record.get("id") in (None, ""):
        raise ValueError("a conversation needs an `id`")
    raw_turns = record.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        raise ValueError(f"conversation {record['id']}: `turns` must be a non-empty list")
    turns: list[ConversationTurn] = []
    for number, turn in enumerate(raw_turns, start=1):
        where = f"conversation {record['id']}, turn {number}"
        if not isinstance(turn, dict):
            raise TypeError(f"{where}: a turn is a JSON object")
        if not isinstance(turn.get("question"), str) or not turn["question"].strip():
            raise ValueError(f"{where}: `question` must be a non-empty string")
        full = turn.get("full_question")
        if number > 1 and (not isinstance(full, str) or not full.strip()):
            # without it there is nothing to compare the follow-up with
            raise ValueError(f"{where}: a follow-up needs `full_question`, the same question asked on its own")
        if "doc_ids" not in turn and "answerable" not in turn:
            raise ValueError(f"{where}: needs the gold fields of a dataset item (answers, evidence, doc_ids, "
                             "answerable)")
        item = item_from_record({"lang": record.get("lang", "zh"), **turn, "id": f"{record['id']}.{number}"})
        if item.answerable and not (item.answers or item.list_items):
            raise ValueError(f"{where}: an answerable turn needs `answers` (or `list_items`)")
        turns.append(ConversationTurn(item, full if isinstance(full, str) and full.strip() else item.question))
    return Conversation(str(record["id"]), tuple(turns))


def load_conversations(path: str | Path, limit: int | None = None) -> list[Conversation]:
    """The conversations of a JSONL file (the first `limit` only); DatasetError "file:line: what" if one is bad."""
    path = Path(path)
    conversations: list[Conversation] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                conversation = _conversation(json.loads(line))
                if conversation.id in seen:
                    raise ValueError(f"conversation id {conversation.id} is used twice")
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{path}:{number}: {exc}") from exc
            seen.add(conversation.id)
            conversations.append(conversation)
            if limit and len(conversations) >= limit:
                break
    if not conversations:
        raise DatasetError(f"{path}: no conversations")
    return conversations


def _ask_conversation(conversation: Conversation, client: QAClient, top_k: int, bar) -> dict[str, list[dict]]:
    records: dict[str, list[dict]] = {part: [] for part in PARTS}
    history: list[dict] = []
    for index, turn in enumerate(conversation.turns):
        answer, ranked, latency = client.ask(turn.item.question, top_k, history=list(history))
        record = {**score_item(turn.item, answer, ranked, latency), "conversation": conversation.id,
                  "turn": index + 1, "resolved_question": answer.get("resolved_question")}
        if index:
            record["full_question"] = turn.full_question
        records["follow_ups" if index else "first_turns"].append(record)
        # the history a chat client keeps: what the system said, not the gold answer
        history.append({"question": turn.item.question, "answer": answer["answer"],
                        "paragraph_ids": [c["paragraph_id"] for c in answer.get("citations") or []]})
        bar.update(1)
        if index:
            alone = dataclasses.replace(turn.item, question=turn.full_question)
            answer, ranked, latency = client.ask(alone.question, top_k)
            records["follow_ups_in_full"].append({**score_item(alone, answer, ranked, latency),
                                                  "conversation": conversation.id, "turn": index + 1,
                                                  "asked_in_conversation": turn.item.question})
            bar.update(1)
    return records


def run_conversations(conversations: Sequence[Conversation], client: QAClient, top_k: int = 5,
                      show_progress: bool = True, concurrency: int = 1, warm_up: bool = True,
                      settings: ConversationEvalSettings | None = None) -> tuple[dict, dict[str, list[dict]]]:
    """-> (metrics, records) with records {"first_turns", "follow_ups", "follow_ups_in_full"} in dataset order.

    metrics: the summary of each of the three; `follow_up_accuracy_gap` (the in-full answer accuracy less the
    follow-ups'), `gap_target`, `resolved_rate` (the share of follow-ups the system answered as a completed
    question: `resolved_question` set), `conversations`. `concurrency` > 1 asks that many conversations at
    once, each turn by turn (for a service; in-process engines are not thread-safe)."""
    settings = settings or ConversationEvalSettings()
    total = sum(1 + 2 * c.follow_ups for c in conversations)
    if conversations and warm_up:  # lazy loading and first-call setup are not what latency measures
        client.ask(conversations[0].turns[0].item.question, top_k)
    with tqdm(total=total, desc="conversations", unit="q", disable=not show_progress) as bar:
        if concurrency > 1:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                per_conversation = list(pool.map(lambda c: _ask_conversation(c, client, top_k, bar), conversations))
        else:
            per_conversation = [_ask_conversation(c, client, top_k, bar) for c in conversations]
    records = {part: [r for one in per_conversation for r in one[part]] for part in PARTS}
    metrics: dict = {part: summarize(rows, ks=KS) for part, rows in records.items() if rows}
    in_full, follow = metrics.get("follow_ups_in_full", {}), metrics.get("follow_ups", {})
    if in_full.get("answer_accuracy") is not None and follow.get("answer_accuracy") is not None:
        metrics["follow_up_accuracy_gap"] = round(in_full["answer_accuracy"] - follow["answer_accuracy"], 4)
    metrics["gap_target"] = settings.gap_target
    follow_ups = records["follow_ups"]
    metrics["resolved_rate"] = (sum(1 for r in follow_ups if r["resolved_question"]) / len(follow_ups)
                                if follow_ups else None)
    metrics["conversations"] = len(conversations)
    return metrics, records


def conversation_results(dataset: str, system: str, metrics: dict, records: dict[str, list[dict]]) -> list[Result]:
    """run_conversations' output as results (follow-ups, the same asked in full, first turns), for the run
    folder and the result file. The follow-ups' result carries the conversation figures (CONVERSATION_KEYS,
    `gap_target`, `conversations`) beside the usual metrics, so that `eval compare` and the README read them."""
    extra = {"in_full_accuracy": metrics.get("follow_ups_in_full", {}).get("answer_accuracy"),
             "follow_up_accuracy_gap": metrics.get("follow_up_accuracy_gap"),
             "first_turn_accuracy": metrics.get("first_turns", {}).get("answer_accuracy"),
             "resolved_rate": metrics.get("resolved_rate"),
             "gap_target": metrics.get("gap_target"), "conversations": metrics.get("conversations")}
    results = []
    for part, suffix in PARTS.items():
        if part not in metrics:  # no follow-ups at all: only first turns
            continue
        summary = {**metrics[part], **extra} if part == "follow_ups" else metrics[part]
        results.append(Result(dataset + suffix, system, summary, records[part]))
    return results


def is_follow_ups_result(result: Result) -> bool:
    return result.dataset.endswith(FOLLOW_UPS_SUFFIX) and "follow_up_accuracy_gap" in result.metrics


def conversation_parts(results: Sequence[Result], follow_ups: Result) -> list[Result]:
    """The results of `follow_ups`' conversation set and system, in PARTS order (follow-ups first)."""
    base = follow_ups.dataset.removesuffix(FOLLOW_UPS_SUFFIX)
    by_name = {r.dataset: r for r in results if r.system == follow_ups.system}
    return [by_name[base + suffix] for suffix in PARTS.values() if base + suffix in by_name]


PART_NAMES = {"follow_ups": "follow-ups", "follow_ups_in_full": "asked in full", "first_turns": "first turns"}


def part_name(result: Result) -> str:
    """The column heading of a conversation run's part ("follow-ups", "asked in full", "first turns")."""
    return next((PART_NAMES[part] for part, suffix in PARTS.items() if result.dataset.endswith(suffix)),
                result.dataset)


def gap_verdict(metrics: dict) -> str:
    """"0.026 (target ≤ 0.05: met)" for the follow-ups' result's metrics."""
    gap, target = metrics.get("follow_up_accuracy_gap"), metrics.get("gap_target")
    if gap is None:
        return "n/a (no answerable follow-ups)"
    if target is None:
        return f"{gap:.3f}"
    return f"{gap:.3f} (target ≤ {target:g}: {'met' if gap <= target + 1e-9 else 'not met'})"
