"""Conversations: follow-up questions scored against the same questions asked in full.

Dataset format (JSONL), one conversation per line:
    {"id", "lang", "turns": [{"question", "full_question", "answers", "list_items", "evidence", "doc_ids",
                              "answerable", "type"}, ...]}
`question` is the turn as a person asks it in the conversation ("那第一届呢？"); `full_question` the same
question asked on its own ("缔约国会议第一届会议在哪个城市开？"); the gold fields are those of a dataset item
(evaluation/datasets.py). Each conversation is asked turn by turn, every turn with the history of the
system's own earlier answers (question, answer, cited paragraph ids), as a chat client sends it; every
follow-up's `full_question` is also asked alone. The report compares the two: a follow-up should be
answered as well as the question it stands for.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from evaluation.datasets import DatasetError, EvalItem, item_from_record
from evaluation.runner import KS, QAClient, score_item
from evaluation.scoring import summarize


@dataclass(frozen=True)
class ConversationTurn:
    item: EvalItem  # `question` as asked in the conversation
    full_question: str


@dataclass(frozen=True)
class Conversation:
    id: str
    turns: tuple[ConversationTurn, ...]


def is_conversation_dataset(path: str | Path) -> bool:
    """Whether the file's first record has `turns`."""
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    return isinstance(json.loads(line), dict) and "turns" in json.loads(line)
                except ValueError:
                    return False
    return False


def load_conversations(path: str | Path, limit: int | None = None) -> list[Conversation]:
    path = Path(path)
    conversations: list[Conversation] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                turns = []
                for index, turn in enumerate(record["turns"], start=1):
                    item = item_from_record({"id": f"{record['id']}.{index}", "lang": record.get("lang", "zh"),
                                             **turn})
                    turns.append(ConversationTurn(item, turn.get("full_question") or turn["question"]))
                if not turns:
                    raise ValueError("a conversation needs at least one turn")
                conversations.append(Conversation(str(record["id"]), tuple(turns)))
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{path}:{number}: {exc}") from exc
            if limit and len(conversations) >= limit:
                break
    if not conversations:
        raise DatasetError(f"{path}: no conversations")
    return conversations


def run_conversations(conversations: Sequence[Conversation], client: QAClient, top_k: int = 5,
                      show_progress: bool = True) -> tuple[dict, dict[str, list[dict]]]:
    """-> (metrics, records) with records {"first_turns", "follow_ups", "follow_ups_in_full"}.

    metrics: the summary of each of the three, and `follow_up_accuracy_gap` (the in-full accuracy less the
    follow-ups'; the target is at most 0.05)."""
    records: dict[str, list[dict]] = {"first_turns": [], "follow_ups": [], "follow_ups_in_full": []}
    total = sum(len(c.turns) + len(c.turns) - 1 for c in conversations)
    with tqdm(total=total, desc="conversations", unit="q", disable=not show_progress) as bar:
        for conversation in conversations:
            history: list[dict] = []
            for index, turn in enumerate(conversation.turns):
                answer, ranked, latency = client.ask(turn.item.question, top_k, history=history)
                record = {**score_item(turn.item, answer, ranked, latency), "conversation": conversation.id,
                          "turn": index + 1, "resolved_question": answer.get("resolved_question")}
                records["first_turns" if index == 0 else "follow_ups"].append(record)
                history.append({"question": turn.item.question, "answer": answer["answer"],
                                "paragraph_ids": [c["paragraph_id"] for c in answer.get("citations") or []]})
                bar.update(1)
                if index:
                    alone = EvalItem(**{**turn.item.__dict__, "question": turn.full_question})
                    answer, ranked, latency = client.ask(alone.question, top_k)
                    records["follow_ups_in_full"].append({**score_item(alone, answer, ranked, latency),
                                                          "conversation": conversation.id, "turn": index + 1})
                    bar.update(1)
    metrics = {name: summarize(rows, ks=KS) for name, rows in records.items()}
    in_full, follow = metrics["follow_ups_in_full"], metrics["follow_ups"]
    if in_full.get("answer_accuracy") is not None and follow.get("answer_accuracy") is not None:
        metrics["follow_up_accuracy_gap"] = round(in_full["answer_accuracy"] - follow["answer_accuracy"], 4)
    metrics["conversations"] = len(conversations)
    return metrics, records
