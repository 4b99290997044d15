"""Plain data records passed between the indexing stages."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SourceDocument:
    doc_id: str
    title: str
    text: str
    source: str  # file path (or "file.jsonl:line") the text came from
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Paragraph:
    """One citable unit of a document.

    `text` is the cleaned text shown to users; `start`/`end` are character
    offsets into the decoded source text (the span may cover an interposed
    page break or footnote when a split paragraph was rejoined).
    `context` is extra text (section heading, table column names, list lead-in)
    used for retrieval only, never shown as the paragraph itself.
    """

    paragraph_id: str
    doc_id: str
    ordinal: int
    kind: str  # paragraph | heading | footnote | table_row | list_item | front_matter
    text: str
    start: int
    end: int
    paragraph_number: str | None = None
    section: str | None = None
    context: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Paragraph":
        return cls(**data)

    @property
    def retrieval_text(self) -> str:
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass
class SkippedSource:
    source: str
    reason: str


@dataclass
class LoadResult:
    documents: list[SourceDocument]
    skipped: list[SkippedSource]


@dataclass(frozen=True)
class RowFields:
    """The paragraph fields of every searchable row, in row order: what a search engine backend stores with
    its vectors so that a query can be scoped there (index/milvus.py)."""
    doc_ids: list[str]
    paragraph_ids: list[str]


@dataclass(frozen=True)
class Scope:
    """The rows a scoped query may return: the paragraphs of `doc_ids`, which are the searchable `rows`.
    Embedded backends mask by `rows`; engine backends put `doc_ids` in the query's filter."""
    doc_ids: tuple[str, ...]
    rows: tuple[int, ...]
