"""Request and response bodies of the HTTP API (the CLI's --json prints the same)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, StrictBool, StrictInt,
                      StrictStr, model_serializer)

from index.models import Paragraph
from retrieval.conversation import Turn
from retrieval.pipeline import Answer
from retrieval.search import SearchHit


MAX_HISTORY_TURNS = 20
MAX_TURN_ANSWER_CHARS = 20_000


# Requests. Bounds that depend on settings (question length, top_k) are checked by
# QAService, so the CLI enforces them too; the schemas only fix the types.
class HistoryTurn(BaseModel):
    """An earlier turn of the conversation, as the caller showed it."""
    question: StrictStr = Field(max_length=MAX_TURN_ANSWER_CHARS, examples=["缔约国会议第八届会议在哪个城市开？"])
    answer: StrictStr = Field(default="", max_length=MAX_TURN_ANSWER_CHARS)
    paragraph_ids: list[Annotated[StrictStr, Field(max_length=300)]] = Field(
        default_factory=list, max_length=50, description="The paragraphs that turn cited.")


class AskRequest(BaseModel):
    question: StrictStr = Field(description="The question, in Chinese or English.",
                                examples=["资产追回工作组2018年的会议是哪天开幕的？"])
    top_k: StrictInt = Field(default=5, description="Paragraphs to retrieve (1..max_top_k).")
    collection: StrictStr | None = Field(default=None, max_length=64,
                                         description="Collection to answer from (default: the default collection).")
    doc_ids: list[Annotated[StrictStr, Field(max_length=200)]] | None = Field(
        default=None, max_length=100,
        description="Answer from these documents only (ids within the collection; an unknown id finds nothing).")
    history: list[HistoryTurn] | None = Field(
        default=None, max_length=MAX_HISTORY_TURNS,
        description="Earlier turns, oldest first: a follow-up (\"那第一届呢？\") is completed from them before "
                    "retrieval, and the documents the last turn cited are preferred.")
    conversation_id: StrictStr | None = Field(
        default=None, pattern=r"^[0-9a-f]{32}$",
        description="Instead of `history`: the id an earlier answer returned; the server keeps a conversation's "
                    "turns for NOTESQA_CONVERSATION_TTL_S (per process, per key and collection).")

    def turns(self) -> list[Turn] | None:
        """`history` as the pipeline reads it (None: not sent)."""
        if self.history is None:
            return None
        return [Turn(t.question, t.answer, tuple(t.paragraph_ids)) for t in self.history]


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


class ViewTokenOut(BaseModel):
    """A paragraph that links to its document's viewer."""
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


class CitationOut(ViewTokenOut):
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


class FactCitationOut(BaseModel):
    marker: int = Field(description="The citation ([n]) whose paragraph holds the fact.")
    doc_id: str
    paragraph_id: str
    paragraph_start: int = Field(description="Offset of the fact in the cited paragraph's `text`.")
    paragraph_end: int
    start: int = Field(description="Offset of the fact in the decoded source file (exact when the paragraph "
                                   "is one unbroken run of the source, as most are).")
    end: int


class UnsupportedClaimOut(BaseModel):
    claim: str = Field(description="The sentence the language model wrote.")
    cited: list[int] = Field(description="The markers it carried (prompt paragraph numbers).")
    reason: str = Field(description="Why no paragraph supports it (a figure or name missing, the wording).")


class AskResponse(BaseModel):
    answer: str = Field(description="The clause or sentence that answers, with [n] citation markers.")
    abstained: bool = Field(description="True when the notes hold no answer; `answer` then says so.")
    citations: list[CitationOut]
    fact: str | None = Field(default=None, description="The concise answer (a date, a name, a figure...), "
                                                       "or null when the answer is the clause itself.")
    fact_citation: FactCitationOut | None = None
    confidence: float = Field(default=0.0, description="Calibrated probability that the answer is right "
                                                       "(given also when abstaining: it was too low).")
    resolved_question: str | None = Field(default=None, description="The question actually answered, when a "
                                                                    "follow-up was completed from the history.")
    conversation_id: str | None = Field(default=None, description="Send it with the next question to continue "
                                                                  "this conversation without resending history.")
    closest: list[SearchResultOut] = Field(default_factory=list, description="On abstention, the best-ranked "
                                           "passages to read (search results, not an answer); empty otherwise.")
    engine: Literal["extractive", "llm"] = Field(default="extractive", description="Who wrote `answer`: the "
                                                 "extractive reader, or the language model (claims verified).")
    unsupported: list[UnsupportedClaimOut] = Field(default_factory=list, description="Claims the language model "
                                                   "made that no cited paragraph supports: dropped from `answer`.")
    engine_note: str | None = Field(default=None, description="Why the extractive answer was given although the "
                                    "LLM is on (`llm_timeout: ...`), or what to know of the LLM answer.")

    @classmethod
    def from_answer(cls, answer: Answer) -> AskResponse:
        return cls.model_validate(answer.to_dict())


class SearchResultOut(ViewTokenOut):
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
        return cls(results=[SearchResultOut(**h.record(titles[h.paragraph.doc_id])) for h in hits])


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


# --- example questions and feedback ------------------------------------------------------------

class Examples(BaseModel):
    examples: list[str] = Field(description="Questions the served corpus can answer.",
                                examples=[["资产追回工作组2018年的会议是哪天开幕的？"]])


MAX_ANSWER_CHARS = 20_000
MAX_COMMENT_CHARS = 2_000
MAX_CITATIONS = 50


class FeedbackCitation(BaseModel):
    """A citation as the widget received it (extra fields, such as the paragraph text, are dropped)."""
    model_config = ConfigDict(extra="ignore")

    marker: StrictInt | None = None
    doc_id: StrictStr = Field(min_length=1, max_length=300)
    paragraph_id: StrictStr = Field(min_length=1, max_length=300)
    title: StrictStr | None = Field(default=None, max_length=1_000)
    paragraph_number: StrictStr | None = Field(default=None, max_length=50)
    section: StrictStr | None = Field(default=None, max_length=2_000)
    quote: StrictStr = Field(default="", max_length=5_000)


class FeedbackRequest(BaseModel):
    question: StrictStr = Field(description="The question as asked.",
                                examples=["资产追回工作组2018年的会议是哪天开幕的？"])
    answer: StrictStr = Field(max_length=MAX_ANSWER_CHARS, description="The answer text as shown.")
    fact: StrictStr | None = Field(default=None, max_length=MAX_ANSWER_CHARS,
                                   description="The answer's `fact` as /v1/ask gave it (becomes the gold answer "
                                               "of an exported 👍 record).")
    rating: Literal["up", "down"]
    comment: StrictStr | None = Field(default=None, max_length=MAX_COMMENT_CHARS)
    citations: list[FeedbackCitation] = Field(default_factory=list, max_length=MAX_CITATIONS)
    abstained: StrictBool | None = Field(default=None, description="Whether the answer abstained "
                                         "(inferred from the answer text when left out).")
    collection: StrictStr | None = Field(default=None, max_length=64, description="Collection asked, if not "
                                         "the default one.")
    supersedes: StrictStr | None = Field(default=None, pattern=r"^[0-9a-f]{32}$",
                                         description="Id of an earlier feedback on the same answer that "
                                                     "this one replaces (changed rating, added comment).")


class FeedbackCreated(BaseModel):
    id: str


MAX_FEEDBACK_PAGE = 1_000


class FeedbackRecordOut(BaseModel):
    """A feedback record as stored (GET /v1/feedback), with its review state."""
    id: str
    created_at: str | None = None
    question: str
    answer: str = ""
    fact: str | None = None
    abstained: bool = False
    rating: Literal["up", "down"] | None = None
    comment: str | None = None
    citations: list[FeedbackCitation] = Field(default_factory=list)
    lang: str | None = None
    collection: str = Field(description="The collection the answer came from.")
    supersedes: str | None = None
    origin: str | None = Field(default=None, description="The page the feedback was sent from (its Origin).")
    reviewed: bool = False
    reviewed_at: str | None = None
    reviewed_by: str | None = Field(default=None, description="Name of the key that last marked it.")


class FeedbackList(BaseModel):
    feedback: list[FeedbackRecordOut] = Field(description="Newest first; superseded records left out.")
    total: int = Field(description="Records that match the filters (before limit and offset).")


class FeedbackReview(BaseModel):
    reviewed: StrictBool = Field(default=True, description="false takes a review mark back.")


class FeedbackExportItem(BaseModel):
    """One line of GET /v1/feedback/export and of `notesqa feedback export` (evaluation dataset JSONL)."""
    id: str
    question: str
    answers: list[str]
    list_items: list[str]
    evidence: list[str]
    doc_ids: list[str]
    answerable: bool
    type: Literal["feedback"]
    lang: str
    rating: str | None
    comment: str | None
    needs_review: bool
    served_answer: str | None
    collection: str | None
    created_at: str | None


# --- collections, stored documents, jobs, keys, readiness -----------------------------------------

class CollectionCreate(BaseModel):
    name: StrictStr = Field(description="1-64 lowercase letters, digits, '-' and '_'.", examples=["policies"])
    description: StrictStr = Field(default="", max_length=500)


class CollectionOut(BaseModel):
    name: str
    default: bool = Field(description="True for the collection served from the index folder (read-only here).")
    state: str = Field(description="ready | empty (no documents indexed yet) | error")
    snapshot: str | None
    documents: int
    paragraphs: int
    built_at: str | None = None
    error: str | None = None
    description: str = ""
    pending_jobs: int = 0
    max_upload_bytes: int | None = Field(default=None, description="Largest file an upload may be, in bytes "
                                         "(null for the default collection, which uploads cannot change).")


class CollectionList(BaseModel):
    collections: list[CollectionOut]


class StoredDocument(BaseModel):
    doc_id: str
    title: str
    filename: str = Field(description="The uploaded file's name.")
    format: str = Field(description="txt | md | jsonl | docx | pdf")
    size: int = Field(description="Bytes of the uploaded file.")
    sha256: str
    uploaded_at: str
    records: int = Field(description="Documents the file holds (more than one for .jsonl).")
    indexed: bool = Field(description="True when the served snapshot has this document.")


class StoredDocumentList(BaseModel):
    collection: str
    documents: list[StoredDocument]


JobState = Literal["queued", "running", "succeeded", "failed"]


class JobOut(BaseModel):
    id: str
    collection: str
    action: str = Field(description="add | replace | delete | reindex | resync")
    doc_id: str | None
    state: JobState
    progress: float = Field(description="0..1")
    stage: str
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    attempts: int
    note: str | None = None
    report: dict | None = None


class JobList(BaseModel):
    jobs: list[JobOut]


class DocumentAccepted(BaseModel):
    """The file is stored durably; the index follows when `job` succeeds."""

    collection: str
    document: StoredDocument
    job: JobOut


class JobAccepted(BaseModel):
    collection: str
    job: JobOut


class KeyCreate(BaseModel):
    name: StrictStr = Field(max_length=64)
    role: Literal["public", "reader", "editor", "admin"]
    collections: list[StrictStr] = Field(default_factory=list, description="Collections, or ['*'] for all.")
    origins: list[StrictStr] = Field(default_factory=list, description="Browser origins (public keys).")


class KeyOut(BaseModel):
    id: str
    name: str
    role: str
    collections: list[str]
    origins: list[str]
    prefix: str
    created_at: str
    revoked_at: str | None


class KeyCreated(BaseModel):
    key: KeyOut
    token: str = Field(description="Shown once; only its SHA-256 is stored.")


class KeyList(BaseModel):
    keys: list[KeyOut]


class CallerOut(BaseModel):
    """Who the caller is (GET /v1/keys/me): what a page needs to show only what the key allows."""
    name: str = Field(description="The key's name; 'anonymous' when no key is configured (open service).")
    role: str
    collections: list[str] = Field(description="Collections the key may use, or ['*'].")
    actions: list[str] = Field(description="What the role allows: ask, search, read, write, admin.")
    open: bool = Field(description="True when the service has no keys (loopback only): the caller acts as admin.")


class Readiness(BaseModel):
    ready: bool
    saturated: bool = Field(default=False, description="Every query slot busy and questions waiting for one.")
    collections: list[CollectionOut]
