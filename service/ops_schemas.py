"""Bodies of the operations API: collections, documents, jobs, keys, readiness."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictStr


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


class Readiness(BaseModel):
    ready: bool
    saturated: bool = Field(default=False, description="Every query slot busy and questions waiting for one.")
    collections: list[CollectionOut]
