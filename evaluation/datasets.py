"""Evaluation datasets: this project's JSONL format and CMRC 2018 (SQuAD-style JSONL).

Project format, one object per line:
    {"id", "question", "answers": [alternatives], "list_items": [all required],
     "evidence": [verbatim source substrings], "doc_ids": [...], "answerable": bool,
     "type": str, "lang": "zh"|"en", "tags": [optional labels, e.g. "traditional"]}
The format is documented in evaluation/README.md.
CMRC 2018 lines ({"id", "question", "answers", "doc_id", "evidence", ...}) are
read into the same record; every CMRC question is answerable.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EvalItem:
    id: str
    question: str
    answers: list[str]
    evidence: list[str]
    doc_ids: list[str]
    answerable: bool = True
    list_items: list[str] = field(default_factory=list)
    type: str = "other"
    lang: str = "zh"
    tags: list[str] = field(default_factory=list)


class DatasetError(ValueError):
    pass


def load_dataset(path: str | Path, limit: int | None = None) -> list[EvalItem]:
    path = Path(path)
    items: list[EvalItem] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if isinstance(record, dict) and "turns" in record:
                    raise ValueError("a conversation (it has `turns`): read it with "
                                     "evaluation.conversations.load_conversations")
                items.append(item_from_record(record))
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{path}:{number}: {exc}") from exc
            if limit and len(items) >= limit:
                break
    if not items:
        raise DatasetError(f"{path}: no questions")
    return items


def item_from_record(record: dict) -> EvalItem:
    """One line of either format -> EvalItem (KeyError/TypeError/ValueError when a required field is bad).

    A record with `doc_ids` or `answerable` is read as the project format, any other as CMRC 2018."""
    if "doc_ids" in record or "answerable" in record:
        return EvalItem(
            id=str(record["id"]), question=record["question"], answers=list(record.get("answers", [])),
            evidence=list(record.get("evidence", [])), doc_ids=list(record.get("doc_ids", [])),
            answerable=bool(record.get("answerable", True)), list_items=list(record.get("list_items", [])),
            type=record.get("type", "other"), lang=record.get("lang", "zh"), tags=list(record.get("tags", [])))
    # CMRC 2018 / SQuAD-style record
    evidence = record.get("evidence") or ""
    return EvalItem(id=str(record["id"]), question=record["question"], answers=list(record["answers"]),
                    evidence=[evidence] if evidence else [], doc_ids=[record["doc_id"]],
                    type=record.get("answer_type", "span"), lang="zh")


SCOPED_SUFFIX = " (scoped to its documents)"  # every question asked of its own doc_ids only (`--scoped`)
WITHHELD_SUFFIX = " (evidence withheld)"  # a dataset asked with each question's evidence withheld (evaluation.withheld)
GENERIC_STEMS = frozenset({"qa", "dev", "test", "train", "questions", "data", "dataset", "eval"})


def dataset_name(path: str | Path) -> str:
    """A short name for reports: the file stem, or its folder's name for generic stems (cmrc2018/qa.jsonl)."""
    path = Path(path)
    if path.stem.lower() in GENERIC_STEMS and path.resolve().parent.name:
        return path.resolve().parent.name
    return path.stem
