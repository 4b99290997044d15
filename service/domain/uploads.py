"""Uploaded files to indexable text: .txt/.md/.jsonl are checked and kept as they are; .docx (python-docx)
and .pdf (pypdf) are converted to plain text. Anything unreadable is refused before it is stored.
"""
from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass

from index.loading import SourceError, decode_bytes, parse_jsonl

TEXT_SUFFIXES = (".txt", ".md")
SUFFIXES = (".txt", ".md", ".jsonl", ".docx", ".pdf")


class ConversionError(ValueError):
    """The upload cannot be read as the format its name says."""


class TooLarge(ConversionError):
    """The upload, once decompressed or converted, is larger than the upload limit (a zip bomb, say)."""


@dataclass
class Converted:
    format: str  # "txt" | "md" | "jsonl" | "docx" | "pdf"
    source_suffix: str  # ".txt" or ".jsonl": how the source is stored for the indexer
    source: bytes  # what the indexer reads
    records: int  # documents the source holds (jsonl: valid records)
    doc_ids: list[str] | None = None  # jsonl: the records' document ids


def convert(data: bytes, suffix: str, name: str, max_bytes: int | None = None,
            max_chars: int | None = None) -> Converted:
    """`max_bytes` (the upload limit) also bounds what a compressed format inflates to, checked from the
    archive's directory before anything is parsed, and the extracted text: TooLarge. `max_chars` bounds
    the text of each document (each record of a .jsonl), what indexing time grows with: TooLarge."""
    suffix = suffix.lower()
    if suffix in TEXT_SUFFIXES:
        _check_chars(_decode(data, name), name, max_chars)
        return Converted(suffix[1:], ".txt", data, 1)
    if suffix == ".jsonl":
        ids = _check_jsonl(data, name, max_chars)
        return Converted("jsonl", ".jsonl", data, len(ids), ids)
    if suffix == ".docx":
        text = _check_chars(_docx_text(data, name, max_bytes), name, max_chars)
        return Converted("docx", ".txt", _bounded(text, name, max_bytes), 1)
    if suffix == ".pdf":
        text = _check_chars(_pdf_text(data, name), name, max_chars)
        return Converted("pdf", ".txt", _bounded(text, name, max_bytes), 1)
    raise ConversionError(f"{name}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUFFIXES)}")


def _decode(data: bytes, name: str) -> str:
    try:
        return decode_bytes(data, name)
    except SourceError as exc:
        raise ConversionError(str(exc)) from None


def _check_chars(text: str, name: str, max_chars: int | None) -> str:
    if max_chars is not None and len(text) > max_chars:
        raise TooLarge(f"{name}: {len(text)} characters of text, more than the {max_chars} one document may have "
                       "(NOTESQA_MAX_DOCUMENT_CHARS); split the document")
    return text


def _bounded(text: str, name: str, max_bytes: int | None) -> bytes:
    source = text.encode("utf-8")
    if max_bytes is not None and len(source) > max_bytes:
        raise TooLarge(f"{name}: the extracted text is {len(source)} bytes, more than the upload limit of "
                       f"{max_bytes} bytes; split the document")
    return source


def _check_jsonl(data: bytes, name: str, max_chars: int | None = None) -> list[str]:
    """The loader's own parsing decides what the indexer will accept."""
    parsed = parse_jsonl(_decode(data, name), "line")
    for document in parsed.documents:
        _check_chars(document.text, f"{name} (record {document.doc_id!r})", max_chars)
    if not parsed.documents:
        first_error = parsed.skipped[0].reason if parsed.skipped else None
        where = f"{parsed.skipped[0].source}: " if parsed.skipped else ""
        raise ConversionError(f"{name}: no valid record ({where}{first_error or 'the file has no lines'}); "
                              "each line must be a JSON object with string fields 'doc_id' and 'text'")
    return [d.doc_id for d in parsed.documents]


def _docx_text(data: bytes, name: str, max_bytes: int | None = None) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            # the directory's sizes bound what zipfile will inflate (it stops there and checks the CRC),
            # so this check, before python-docx parses anything, bounds the work and the memory
            inflated = sum(info.file_size for info in archive.infolist())
            if max_bytes is not None and inflated > max_bytes:
                raise TooLarge(f"{name}: the archive inflates to {inflated} bytes, more than the upload limit "
                               f"of {max_bytes} bytes; refused")
            if "word/document.xml" not in archive.namelist():
                raise ConversionError(f"{name}: not a Word document (no word/document.xml)")
    except zipfile.BadZipFile:
        raise ConversionError(f"{name}: not a .docx file (not a zip archive)") from None
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                text = block.text.strip()
                if not text:
                    continue
                style = (block.style.name if block.style is not None else "") or ""
                blocks.append(f"# {text}" if style.lower().startswith(("heading", "title")) else text)
            elif isinstance(block, Table):
                for row in block.rows:
                    cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                    if cells:
                        blocks.append("\t".join(cells))
    except ConversionError:
        raise
    except Exception as exc:  # python-docx / lxml raise many types on damaged files
        raise ConversionError(f"{name}: cannot read the Word document ({type(exc).__name__})") from None
    text = "\n\n".join(blocks)
    if not text.strip():
        raise ConversionError(f"{name}: the Word document has no text")
    return text + "\n"


def _pdf_text(data: bytes, name: str) -> str:
    if not data.lstrip()[:5] == b"%PDF-":
        raise ConversionError(f"{name}: not a PDF file (no %PDF header)")
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged files warn per object
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ConversionError(f"{name}: the PDF is encrypted")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(f"{name}: cannot read the PDF ({type(exc).__name__})") from None
    text = "\n\f\n".join(pages)  # form feeds mark page breaks for the segmenter
    if not text.replace("\f", "").strip():
        raise ConversionError(f"{name}: the PDF has no extractable text (a scan needs OCR first)")
    return text + "\n"
