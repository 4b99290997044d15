"""Convert other question sets into the project's dataset format (see evaluation/README.md).

* SQuAD-style JSON (CMRC 2018, DRCD, SQuAD 2.0): data[].paragraphs[].qas[].answers[].text.
  Each answer becomes an alternative; the evidence is the sentence of the context holding the
  first answer; the passage is the gold document. The passages can be written as a corpus
  (.jsonl: doc_id, title, text) so that the questions have something to be answered from.
* CSV that staff can write in a spreadsheet: columns question, answer, source (optional:
  evidence, type, id). UTF-8 with or without BOM. Several answers or sources in one cell are
  separated by "|"; an empty answer marks an unanswerable question.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path

from index.loading import SourceError, make_doc_id
from index.segmentation import split_sentences

_EVIDENCE_ENDS = "。！？!?；\n"  # a dataset's evidence sentence ends at a list item's "；" and a line too
_SEPARATOR = re.compile(r"\s*[|｜]\s*")
MAX_REPORTED_ERRORS = 20

CSV_COLUMNS = {  # canonical name -> accepted header spellings (case- and space-insensitive)
    "question": ("question", "问题", "問題", "q"),
    "answer": ("answer", "answers", "答案", "a"),
    "source": ("source", "sources", "doc_id", "doc_ids", "document", "来源", "來源", "文件", "文档"),
    "evidence": ("evidence", "证据", "證據", "原文"),
    "type": ("type", "类型", "類型"),
    "id": ("id", "编号", "編號"),
}


class ConversionError(ValueError):
    """The input cannot be converted; the message names the file and the rows at fault."""


# --- SQuAD-style JSON -----------------------------------------------------------------------

def evidence_sentence(context: str, answer: str, answer_start: int | None = None) -> str:
    """The sentence(s) of `context` that hold the answer span ('' when the answer is not in it)."""
    start = answer_start if answer_start is not None and answer_start >= 0 else -1
    if start < 0 or context[start:start + len(answer)] != answer:
        start = context.find(answer)
        if start < 0:
            return ""
    last = max(start + len(answer) - 1, start)  # the answer's last character
    ends, offset = [], 0  # offsets just after each sentence end
    for piece in split_sentences(context, _EVIDENCE_ENDS):
        offset += len(piece)
        if piece[-1] in _EVIDENCE_ENDS:
            ends.append(offset)
    left = max((e for e in ends if e <= start), default=0)
    right = min((e for e in ends if e > last), default=len(context))
    return context[left:right].strip()


def convert_squad(path: str | Path, *, lang: str = "zh", skip_bad: bool = False) -> tuple[list[dict], list[dict]]:
    """-> (questions in the project format, passages as corpus records).

    A bad row (empty question, missing context) fails the conversion, naming every one, unless
    `skip_bad`: then it is left out (a training run takes a raw public file as it is)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConversionError(f"{path}: not a readable UTF-8 JSON file ({exc})") from exc
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise ConversionError(f"{path}: expected a SQuAD-style object with a 'data' list")
    questions: list[dict] = []
    passages: list[dict] = []
    seen_docs: set[str] = set()
    seen_questions: set[str] = set()
    errors: list[str] = []
    for a_index, article in enumerate(articles):
        title = str(article.get("title") or "").strip()
        for p_index, paragraph in enumerate(article.get("paragraphs") or []):
            where = f"data[{a_index}].paragraphs[{p_index}]"
            context = paragraph.get("context")
            if not isinstance(context, str) or not context.strip():
                errors.append(f"{where}: missing context")
                continue
            if paragraph.get("id"):
                raw_id = str(paragraph["id"])
            elif article.get("id"):
                raw_id = f"{article['id']}_{p_index}"
            else:
                raw_id = f"{title or 'doc'}_{a_index}_{p_index}"
            try:
                doc_id = make_doc_id(str(raw_id))
            except SourceError:
                doc_id = f"doc_{a_index}_{p_index}"
            if doc_id in seen_docs:
                doc_id = f"{doc_id}_{a_index}_{p_index}"
            seen_docs.add(doc_id)
            passages.append({"doc_id": doc_id, "title": title, "text": context})
            for q_index, qa in enumerate(paragraph.get("qas") or []):
                question = str(qa.get("question") or "").strip()
                qid = str(qa.get("id") or f"{doc_id}_q{q_index}")
                if not question:
                    errors.append(f"{where}.qas[{q_index}]: empty question")
                    continue
                if qid in seen_questions:
                    errors.append(f"{where}.qas[{q_index}]: duplicate id {qid!r}")
                    continue
                seen_questions.add(qid)
                answers_raw = [a for a in qa.get("answers") or [] if str(a.get("text") or "").strip()]
                impossible = bool(qa.get("is_impossible")) or not answers_raw
                if impossible:
                    questions.append(_record(qid, question, [], [], [], False, "unanswerable", lang))
                    continue
                answers = list(dict.fromkeys(str(a["text"]).strip() for a in answers_raw))
                # annotation debris (spreadsheet numbers such as "39764.0") is not in the passage
                answers = [a for a in answers if a in context or not re.fullmatch(r"\d+\.0", a)] or answers
                first = answers_raw[0]
                evidence = evidence_sentence(context, str(first["text"]).strip(), first.get("answer_start"))
                questions.append(_record(qid, question, answers, [evidence] if evidence else [], [doc_id],
                                         True, "span", lang))
    if errors and not skip_bad:
        raise ConversionError(_error_summary(path, errors))
    if not questions:
        raise ConversionError(f"{path}: no questions found")
    return questions, passages


# --- CSV ------------------------------------------------------------------------------------

def _decode(data: bytes, path: Path) -> str:
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        raise ConversionError(f"{path}: UTF-16 text; save the sheet as 'CSV UTF-8' instead")
    try:
        return data.decode("utf-8-sig")  # with or without the BOM spreadsheets write
    except UnicodeDecodeError as exc:
        raise ConversionError(f"{path}: not UTF-8 text (byte {exc.start}); save the sheet as 'CSV UTF-8'") from exc


def _header_map(header: list[str], path: Path) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        key = re.sub(r"\s+", "", name).lower()
        for canonical, spellings in CSV_COLUMNS.items():
            if key in spellings:
                if canonical in index:
                    raise ConversionError(f"{path}: column {canonical!r} appears twice in the header")
                index[canonical] = position
    missing = [c for c in ("question", "answer", "source") if c not in index]
    if missing:
        raise ConversionError(f"{path}: the header must name the columns question, answer, source "
                              f"(missing: {', '.join(missing)}; found: {', '.join(header) or 'nothing'})")
    return index


def convert_csv(path: str | Path, *, lang: str = "zh") -> list[dict]:
    """Rows (question, answer, source[, evidence, type, id]) -> questions in the project format."""
    path = Path(path)
    try:
        text = _decode(path.read_bytes(), path)
    except OSError as exc:
        raise ConversionError(f"{path}: cannot be read ({exc})") from exc
    if not text.strip():
        raise ConversionError(f"{path}: the file is empty")
    first_line = text.splitlines()[0]
    delimiter = max(",;\t", key=first_line.count) if any(d in first_line for d in ",;\t") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    columns = _header_map([c.strip() for c in rows[0]], path)
    records: list[dict] = []
    errors: list[str] = []
    seen_ids: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank spreadsheet rows
        if len(row) > len(rows[0]) and any(c.strip() for c in row[len(rows[0]):]):
            errors.append(f"row {number}: {len(row)} cells but the header has {len(rows[0])} "
                          f"(an unquoted '{delimiter}' inside a cell?)")
            continue

        def cell(name: str) -> str:
            position = columns.get(name)
            return row[position].strip() if position is not None and position < len(row) else ""

        question = cell("question")
        answers = [a for a in _SEPARATOR.split(cell("answer")) if a]
        sources = [s for s in re.split(r"\s*[|｜;；]\s*", cell("source")) if s]
        if not question:
            errors.append(f"row {number}: the question is empty")
            continue
        try:
            doc_ids = [make_doc_id(Path(s).stem if Path(s).suffix in (".txt", ".md") else s) for s in sources]
        except SourceError as exc:
            errors.append(f"row {number}: bad source ({exc})")
            continue
        if answers and not doc_ids:
            errors.append(f"row {number}: an answer needs a source (the document it comes from)")
            continue
        qid = cell("id") or f"csv{number - 1:03d}"
        if qid in seen_ids:
            errors.append(f"row {number}: duplicate id {qid!r}")
            continue
        seen_ids.add(qid)
        evidence = [e for e in _SEPARATOR.split(cell("evidence")) if e]
        answerable = bool(answers)
        qtype = cell("type") or ("other" if answerable else "unanswerable")
        records.append(_record(qid, question, answers, evidence if answerable else [],
                               doc_ids if answerable else [], answerable, qtype, lang))
    if errors:
        raise ConversionError(_error_summary(path, errors))
    if not records:
        raise ConversionError(f"{path}: no question rows under the header")
    return records


# --- shared ---------------------------------------------------------------------------------

def _record(qid: str, question: str, answers: list[str], evidence: list[str], doc_ids: list[str],
            answerable: bool, qtype: str, lang: str) -> dict:
    return {"id": qid, "question": question, "answers": answers, "list_items": [], "evidence": evidence,
            "doc_ids": doc_ids, "answerable": answerable, "type": qtype, "lang": lang}


def _error_summary(path: Path, errors: list[str]) -> str:
    shown = errors[:MAX_REPORTED_ERRORS]
    more = f"\n  ... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
    return f"{path}: {len(errors)} bad row(s):\n  " + "\n  ".join(shown) + more


def write_jsonl(records: Iterable[dict], path: str | Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
