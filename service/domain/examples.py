"""Example questions for the chat's empty state: examples.json beside the corpus the index was built from."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.domain.qa_service import QAService

EXAMPLES_FILE = "examples.json"
MAX_EXAMPLES = 6


def _corpus_folder(path: str | Path | None) -> Path | None:
    if not path:
        return None
    path = Path(path)
    return path.parent if path.suffix == ".jsonl" else path


def _read_examples(path: Path) -> list[dict]:
    """examples.json: {"examples": [{"question", "doc_ids"?}, ...]} or a list of questions."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return []
    items = data.get("examples", []) if isinstance(data, dict) else data
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            item = {"question": item}
        if isinstance(item, dict) and isinstance(item.get("question"), str) and item["question"].strip():
            out.append(item)
    return out


def load_examples(settings: Any, qa: QAService) -> list[str]:
    """From `settings.examples_path`, else examples.json in the folder the served index was built from.

    An example that names doc_ids is offered only when the served index holds those documents.
    """
    candidates: list[Path] = []
    if getattr(settings, "examples_path", None):
        candidates.append(Path(settings.examples_path))
    else:
        for folder in (_corpus_folder(qa.built_from()), _corpus_folder(getattr(settings, "corpus_path", None))):
            if folder is not None and folder / EXAMPLES_FILE not in candidates:
                candidates.append(folder / EXAMPLES_FILE)
    served = {d.doc_id for d in qa.documents().documents}
    for path in candidates:
        usable = [e["question"].strip() for e in _read_examples(path)
                  if all(d in served for d in e.get("doc_ids") or [])]
        if usable:
            return usable[:MAX_EXAMPLES]
    return []
