"""Request and response bodies of the HTTP API (the CLI's --json prints the same)."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, StrictInt, StrictStr, model_serializer

from index.models import Paragraph
from retrieval.pipeline import Answer
from retrieval.search import SearchHit


# Requests. Bounds that depend on settings (question length, top_k) are checked by
# QAService, so the CLI enforces them too; the schemas only fix the types.
class AskRequest(BaseModel):
    question: StrictStr = Field(description="The question, in Chinese or English.",
                                examples=["资产追回工作组2018年的会议是哪天开幕的？"])
    top_k: StrictInt = Field(default=5, description="Paragraphs to retrieve (1..max_top_k).")
    collection: StrictStr | None = Field(default=None, max_length=64,
                                         description="Collection to answer from (default: the default collection).")
    doc_ids: list[Annotated[StrictStr, Field(max_length=200)]] | None = Field(
        default=None, max_length=100,
        description="Answer from these documents only (ids within the collection; an unknown id finds nothing).")


class SearchRequest(BaseModel):
    query: StrictStr = Field(description="Free-text query.", examples=["全球联络点举措"])
    top_k: StrictInt = Field(default=10, description="Results to return (1..max_top_k).")
    collection: StrictStr | None = Field(default=None, max_length=64,
                                         description="Collection to search (default: the default collection).")
    doc_ids: list[Annotated[StrictStr, Field(max_length=200)]] | None = Field(
        default=None, max_length=100, description="Search these documents only (ids within the collection).")


# Responses
class ErrorResponse(BaseModel):
    code: str = Field(description="Stable machine-readable error code.", examples=["document_not_found"])
    message: str


class CitationOut(BaseModel):
    marker: int = Field(description="The [n] marker in the answer text.")
    doc_id: str
    title: str
    paragraph_id: str
    paragraph_number: str | None
    section: str | None
    text: str = Field(description="The whole cited paragraph.")
    quote: str = Field(description="The sentence(s) of the paragraph the answer relies on.")
    start: int = Field(description="Character offset of the paragraph in the decoded source file.")
    end: int
    score: float
    view_token: str | None = Field(
        default=None, description="Only when the service requires API keys (absent otherwise): "
                                  "`?view=<token>` on GET /v1/documents/{doc_id} (and on the "
                                  "/documents/{doc_id} viewer page) reads this one document without a key "
                                  "until the token expires.")

    @model_serializer(mode="wrap")
    def _view_token_only_when_issued(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if data.get("view_token") is None:
            data.pop("view_token", None)  # open mode keeps the citation contract it always had
        return data


class FactCitationOut(BaseModel):
    marker: int = Field(description="The citation ([n]) whose paragraph holds the fact.")
    doc_id: str
    paragraph_id: str
    paragraph_start: int = Field(description="Offset of the fact in the cited paragraph's `text`.")
    paragraph_end: int
    start: int = Field(description="Offset of the fact in the decoded source file (exact when the paragraph "
                                   "is one unbroken run of the source, as most are).")
    end: int


class AskResponse(BaseModel):
    answer: str = Field(description="The clause or sentence that answers, with [n] citation markers.")
    abstained: bool = Field(description="True when the notes hold no answer; `answer` then says so.")
    citations: list[CitationOut]
    fact: str | None = Field(default=None, description="The concise answer (a date, a name, a figure...), "
                                                       "or null when the answer is the clause itself.")
    fact_citation: FactCitationOut | None = None
    confidence: float = Field(default=0.0, description="Calibrated probability that the answer is right "
                                                       "(given also when abstaining: it was too low).")

    @classmethod
    def from_answer(cls, answer: Answer) -> AskResponse:
        return cls.model_validate(answer.to_dict())


class SearchResultOut(BaseModel):
    doc_id: str
    title: str
    paragraph_id: str
    paragraph_number: str | None
    section: str | None
    text: str
    start: int
    end: int
    score: float
    kind: str


class SearchResponse(BaseModel):
    results: list[SearchResultOut]

    @classmethod
    def from_hits(cls, hits: list[SearchHit], titles: dict[str, str]) -> SearchResponse:
        return cls(results=[
            SearchResultOut(doc_id=h.paragraph.doc_id, title=titles[h.paragraph.doc_id],
                            paragraph_id=h.paragraph.paragraph_id,
                            paragraph_number=h.paragraph.paragraph_number, section=h.paragraph.section,
                            text=h.paragraph.text, start=h.paragraph.start, end=h.paragraph.end,
                            score=round(h.score, 4), kind=h.paragraph.kind)
            for h in hits])


class ParagraphOut(BaseModel):
    paragraph_id: str
    doc_id: str
    ordinal: int = Field(description="Position of the paragraph in its document, from 0.")
    kind: str = Field(description="paragraph | heading | footnote | table_row | list_item | front_matter")
    paragraph_number: str | None
    section: str | None
    text: str
    start: int
    end: int

    @classmethod
    def from_paragraph(cls, paragraph: Paragraph) -> ParagraphOut:
        # `context` is retrieval-only text and is deliberately not exposed
        return cls(paragraph_id=paragraph.paragraph_id, doc_id=paragraph.doc_id, ordinal=paragraph.ordinal,
                   kind=paragraph.kind, paragraph_number=paragraph.paragraph_number,
                   section=paragraph.section, text=paragraph.text, start=paragraph.start, end=paragraph.end)


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    metadata: dict[str, Any]
    paragraphs: int = Field(description="Number of paragraphs in the document.")


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


class DocumentDetail(BaseModel):
    doc_id: str
    title: str
    metadata: dict[str, Any]
    paragraphs: list[ParagraphOut]


class Health(BaseModel):
    status: str = "ok"
    documents: int
    paragraphs: int
    embedder: str
    built_at: str | None
    snapshot: str = Field(description="Name of the index snapshot being served.")
