"""Read source notes: a folder of .txt/.md files or a .jsonl bulk file.

Every file is decoded on its own; one that cannot be read is reported in
`LoadResult.skipped` with the reason and never stops the others.
"""
from __future__ import annotations

import codecs
import json
import logging
import re
from pathlib import Path

from charset_normalizer import from_bytes

from index.models import LoadResult, SkippedSource, SourceDocument

SUPPORTED_SUFFIXES = (".txt", ".md")
METADATA_FILE = "metadata.json"
MAX_FILE_BYTES = 20 * 1024 * 1024
_DOC_ID = re.compile(r"[^\w.\-]+")

log = logging.getLogger(__name__)


class SourceError(ValueError):
    """A source file that cannot be used; the message names the file."""


def decode_bytes(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030; anything else is refused."""
    if not data.strip():
        raise SourceError(f"{name}: file is empty")
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise SourceError(f"{name}: invalid {encoding} text ({exc.reason})") from exc
    if b"\x00" in data:
        raise SourceError(f"{name}: binary content (NUL bytes), not a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_16"]).best()
    if best is not None and best.encoding in ("gb18030", "big5"):
        text = str(best)
        if _looks_like_text(text):
            return text
    raise SourceError(f"{name}: not valid UTF-8, UTF-16 (with BOM) or GB18030 text")


def _looks_like_text(text: str) -> bool:
    printable = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    return printable / max(len(text), 1) > 0.97


def make_doc_id(stem: str) -> str:
    doc_id = _DOC_ID.sub("_", stem).strip("._")
    if not doc_id:
        raise SourceError(f"{stem!r}: cannot derive a document id")
    return doc_id


def load_sources(path: str | Path) -> LoadResult:
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    if path.is_file() and path.suffix == ".jsonl":
        return _load_jsonl(path)
    if path.is_file() and path.suffix in SUPPORTED_SUFFIXES:
        return _load_files([path], {})
    raise SourceError(f"{path}: expected a folder of .txt/.md files or a .jsonl file")


def _load_folder(folder: Path) -> LoadResult:
    metadata: dict[str, dict] = {}
    meta_path = folder / METADATA_FILE
    skipped: list[SkippedSource] = []
    if meta_path.exists():
        try:
            metadata = json.loads(meta_path.read_text(encoding="utf-8-sig"))["documents"]
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            skipped.append(SkippedSource(str(meta_path), f"metadata ignored: {exc}"))
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUPPORTED_SUFFIXES)
    jsonl_files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".jsonl")
    result = _load_files(files, metadata)
    for extra in jsonl_files:
        sub = _load_jsonl(extra)
        result.documents.extend(sub.documents)
        result.skipped.extend(sub.skipped)
    result.skipped[:0] = skipped
    return result


def _load_files(files: list[Path], metadata: dict[str, dict]) -> LoadResult:
    documents, skipped = [], []
    for file in files:
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                raise SourceError(f"{file}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
            text = decode_bytes(file.read_bytes(), str(file))
            meta = dict(metadata.get(file.name, {}))
            doc_id = make_doc_id(meta.pop("doc_id", file.stem))
            title = meta.pop("title", "") or ""
            documents.append(SourceDocument(doc_id, title, text, str(file), meta))
        except (SourceError, OSError) as exc:
            skipped.append(SkippedSource(str(file), str(exc)))
    return LoadResult(documents, skipped)


def _load_jsonl(path: Path) -> LoadResult:
    try:
        text = decode_bytes(path.read_bytes(), str(path))
    except (SourceError, OSError) as exc:
        return LoadResult([], [SkippedSource(str(path), str(exc))])
    return parse_jsonl(text, str(path))


def parse_jsonl(text: str, name: str) -> LoadResult:
    """Bulk-import lines {"doc_id", "title", "text", ...}; a bad line is skipped as "name:line"."""
    documents, skipped = [], []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{name}:{number}"
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise SourceError("not a JSON object")
            doc_id, text = record.pop("doc_id", None), record.pop("text", None)
            if not isinstance(doc_id, str) or not doc_id.strip():
                raise SourceError("missing string field 'doc_id'")
            if not isinstance(text, str) or not text.strip():
                raise SourceError("missing or empty string field 'text'")
            doc_id = make_doc_id(doc_id)
            if doc_id in seen:
                raise SourceError(f"duplicate doc_id {doc_id!r}")
            seen.add(doc_id)
            title = record.pop("title", "") or ""
            documents.append(SourceDocument(doc_id, str(title), text, where, record))
        except RecursionError:  # a line of deeply nested brackets
            skipped.append(SkippedSource(where, "JSON nested too deeply"))
        except (ValueError, SourceError) as exc:
            skipped.append(SkippedSource(where, str(exc)))
    return LoadResult(documents, skipped)
