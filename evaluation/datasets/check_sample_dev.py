#!/usr/bin/env python3
"""Validate evaluation/datasets/sample_dev.jsonl against the corpus.

Stdlib only. Usage:

    python evaluation/datasets/check_sample_dev.py [path/to/file.jsonl] [--corpus DIR] [--no-minimums]

(--no-minimums: for small sets such as sample_dev_robustness.jsonl, skip the coverage minimums.)

Checks
------
* every line is a JSON object with the required keys and value types;
* ids are unique (and look like s001, s002, ..., or r001 and h001 in the robustness and holdout sets), questions
  are unique; the optional "tags" is a list of non-empty strings;
* every evidence string is a single-line, 10-40 character, verbatim substring
  of one of the documents named in ``doc_ids``; every named document is
  supported by at least one evidence string;
* every answer alternative and every list item occurs in at least one of the
  documents the evidence comes from, after removing all whitespace from both
  sides (so "2018年6月6日" matches "2018 年 6 月 6 日");
* unanswerable items have empty answers / list_items / evidence / doc_ids;
* list items only on type "list" (2-4 of them, one of them also in answers);
* multi_doc items name at least two documents;
* the coverage minimums of the dev-set brief are met (unless --no-minimums).

Prints counts by type, lang and document, plus warnings (answers that do not
sit on the same line as any evidence string — worth a manual look, but not an
error). Exits 1 on any error.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_JSONL = HERE / "sample_dev.jsonl"
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "corpus"

TYPES = {
    "date", "number", "name", "list", "reason", "table", "footnote",
    "symbol", "multi_doc", "english", "unanswerable", "other",
}
LANGS = {"zh", "en"}
REQUIRED = {
    "id": str,
    "question": str,
    "answers": list,
    "list_items": list,
    "evidence": list,
    "doc_ids": list,
    "answerable": bool,
    "type": str,
    "lang": str,
}
OPTIONAL = {"tags": list}  # free labels, e.g. "traditional", "typo" (the report groups by them)
# Minimum counts from the dev-set brief.
MIN_TOTAL = 60
MIN_BY_TYPE = {
    "date": 6, "number": 6, "name": 6, "list": 4, "reason": 4, "table": 5,
    "footnote": 3, "symbol": 4, "multi_doc": 3, "unanswerable": 10,
}
MIN_EN = 6
EVIDENCE_MIN_LEN, EVIDENCE_MAX_LEN = 10, 40

_WS = re.compile(r"\s+")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def squash(text: str) -> str:
    """Remove all whitespace (the comparison used for answers)."""
    return _WS.sub("", text)


def normalise(text: str) -> str:
    """The scorer's normalisation: NFKC, no whitespace, lower case."""
    return squash(unicodedata.normalize("NFKC", text)).lower()


def load_corpus(corpus_dir: Path) -> dict[str, str]:
    docs = {p.stem: p.read_text(encoding="utf-8") for p in sorted(corpus_dir.glob("*.txt"))}
    if not docs:
        raise SystemExit(f"no *.txt documents found in {corpus_dir}")
    return docs


def check_item(item: dict, docs: dict[str, str], squashed: dict[str, str],
               errors: list[str], warnings: list[str]) -> None:
    iid = item.get("id", "?")

    def err(msg: str) -> None:
        errors.append(f"{iid}: {msg}")

    for key, typ in REQUIRED.items():
        if key not in item:
            err(f"missing key {key!r}")
            return
        if not isinstance(item[key], typ):
            err(f"key {key!r} should be {typ.__name__}, got {type(item[key]).__name__}")
            return
    extra = set(item) - set(REQUIRED) - set(OPTIONAL)
    if extra:
        err(f"unexpected keys {sorted(extra)}")
    for key in ("answers", "list_items", "evidence", "doc_ids"):
        for value in item[key]:
            if not isinstance(value, str) or not value.strip():
                err(f"{key} must hold non-empty strings, got {value!r}")
                return
        if len(set(item[key])) != len(item[key]):
            err(f"duplicate entries in {key}")

    if not re.fullmatch(r"[srh]\d{3}", iid):
        err("id should look like s001 (r001, h001 in the robustness and holdout sets)")
    if "tags" in item and (not isinstance(item["tags"], list)
                           or not all(isinstance(t, str) and t.strip() for t in item["tags"])):
        err("tags must be a list of non-empty strings")
    if not item["question"].strip():
        err("empty question")
    if item["type"] not in TYPES:
        err(f"unknown type {item['type']!r}")
    if item["lang"] not in LANGS:
        err(f"unknown lang {item['lang']!r}")
    has_cjk = bool(_CJK.search(item["question"]))
    if item["lang"] == "zh" and not has_cjk:
        err("lang zh but the question has no Chinese characters")
    if item["lang"] == "en" and has_cjk:
        err("lang en but the question contains Chinese characters")
    if item["type"] == "english" and item["lang"] != "en":
        err("type english must have lang en")

    # ---- unanswerable ------------------------------------------------------
    if not item["answerable"]:
        if item["type"] != "unanswerable":
            err("answerable=false needs type 'unanswerable'")
        for key in ("answers", "list_items", "evidence", "doc_ids"):
            if item[key]:
                err(f"unanswerable item must have empty {key}")
        return
    if item["type"] == "unanswerable":
        err("type 'unanswerable' needs answerable=false")

    # ---- answerable --------------------------------------------------------
    if not item["answers"]:
        err("answerable item without answers")
    if not item["evidence"]:
        err("answerable item without evidence")
    if not item["doc_ids"]:
        err("answerable item without doc_ids")
    unknown = [d for d in item["doc_ids"] if d not in docs]
    if unknown:
        err(f"unknown doc_ids {unknown}")
        return

    # evidence: verbatim, single line, sensible length, inside a named doc
    evidence_docs: set[str] = set()
    evidence_lines: list[str] = []
    for ev in item["evidence"]:
        if "\n" in ev or "\r" in ev:
            err(f"evidence contains a line break: {ev!r}")
            continue
        if not EVIDENCE_MIN_LEN <= len(ev) <= EVIDENCE_MAX_LEN:
            err(f"evidence length {len(ev)} outside {EVIDENCE_MIN_LEN}-{EVIDENCE_MAX_LEN}: {ev!r}")
        found_in = [d for d in item["doc_ids"] if ev in docs[d]]
        if not found_in:
            err(f"evidence not found verbatim in {item['doc_ids']}: {ev!r}")
            continue
        evidence_docs.update(found_in)
        for d in found_in:
            evidence_lines.extend(line for line in docs[d].splitlines() if ev in line)
    missing_support = [d for d in item["doc_ids"] if d not in evidence_docs]
    if missing_support and item["evidence"]:
        err(f"doc_ids without any evidence string: {missing_support}")

    if item["type"] == "multi_doc" and len(item["doc_ids"]) < 2:
        err("multi_doc item must name at least two documents")

    # answers / list items must occur in the evidence documents (modulo whitespace)
    source_docs = sorted(evidence_docs) or item["doc_ids"]
    for key in ("answers", "list_items"):
        for value in item[key]:
            if not any(squash(value) in squashed[d] for d in source_docs):
                err(f"{key[:-1]} {value!r} not found in {source_docs} (whitespace-insensitive)")

    # answer sanity: the scorer uses containment after normalisation, so an
    # alternative that normalises to something tiny would match almost anything
    for value in item["answers"]:
        if len(normalise(value)) < 2:
            err(f"answer {value!r} is too short to be a meaningful containment target")

    # list items
    if item["type"] == "list":
        if not 2 <= len(item["list_items"]) <= 4:
            err("list questions need 2-4 list_items")
        if not set(item["answers"]) & set(item["list_items"]):
            err("a list question's answers should include one of its list_items")
    elif item["list_items"]:
        err("list_items must be empty unless type is 'list'")

    # soft check: is some answer on the same line as some evidence string?
    lines_sq = [squash(line) for line in evidence_lines]
    if lines_sq and not any(squash(a) in line for a in item["answers"] for line in lines_sq):
        warnings.append(f"{iid}: no answer alternative on an evidence line (check manually)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jsonl", nargs="?", type=Path, default=DEFAULT_JSONL)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print warnings")
    parser.add_argument("--no-minimums", action="store_true",
                        help="skip the coverage minimums (for small sets, e.g. the robustness set)")
    args = parser.parse_args(argv)

    docs = load_corpus(args.corpus)
    squashed = {k: squash(v) for k, v in docs.items()}
    errors: list[str] = []
    warnings: list[str] = []
    items: list[dict] = []

    with args.jsonl.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                errors.append(f"line {lineno}: blank line")
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                errors.append(f"line {lineno}: invalid JSON ({exc})")
                continue
            if not isinstance(obj, dict):
                errors.append(f"line {lineno}: not a JSON object")
                continue
            items.append(obj)

    ids = Counter(str(it.get("id")) for it in items)
    for iid, n in ids.items():
        if n > 1:
            errors.append(f"{iid}: duplicate id ({n} times)")
    questions = Counter(str(it.get("question")) for it in items)
    for q, n in questions.items():
        if n > 1:
            errors.append(f"duplicate question ({n} times): {q}")

    for it in items:
        check_item(it, docs, squashed, errors, warnings)

    by_type = Counter(str(it.get("type")) for it in items)
    by_lang = Counter(str(it.get("lang")) for it in items)
    by_doc = Counter(str(d) for it in items if isinstance(it.get("doc_ids"), list)
                     for d in it["doc_ids"])
    answerable = Counter(bool(it.get("answerable")) for it in items)

    # coverage minimums
    if not args.no_minimums:
        if len(items) < MIN_TOTAL:
            errors.append(f"coverage: {len(items)} questions < {MIN_TOTAL}")
        for typ, minimum in MIN_BY_TYPE.items():
            if by_type.get(typ, 0) < minimum:
                errors.append(f"coverage: type {typ} has {by_type.get(typ, 0)} < {minimum}")
        if by_lang.get("en", 0) < MIN_EN:
            errors.append(f"coverage: {by_lang.get('en', 0)} English questions < {MIN_EN}")
        for d in docs:
            if by_doc.get(d, 0) == 0:
                errors.append(f"coverage: no question uses document {d}")

    print(f"file:   {args.jsonl}")
    print(f"corpus: {args.corpus} ({len(docs)} documents)")
    print(f"total:  {len(items)} questions "
          f"({answerable.get(True, 0)} answerable, {answerable.get(False, 0)} unanswerable)")
    print("by type: " + ", ".join(f"{k}={v}" for k, v in sorted(by_type.items())))
    print("by lang: " + ", ".join(f"{k}={v}" for k, v in sorted(by_lang.items())))
    print("by doc:  " + ", ".join(f"{k}={v}" for k, v in sorted(by_doc.items())))
    if warnings and not args.quiet:
        print(f"\n{len(warnings)} warning(s):")
        for w in warnings:
            print("  WARN  " + w)
    if errors:
        print(f"\n{len(errors)} error(s):")
        for e in errors:
            print("  ERROR " + e)
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
