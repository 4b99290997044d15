"""GET /v1/documents[/{doc_id}[/paragraphs/{paragraph_id}]]: browse the notes a collection serves."""
from __future__ import annotations

from fastapi import APIRouter

from service.deps import CollectionQADep
from service.routes import error_responses
from service.schemas import DocumentDetail, DocumentList, ParagraphOut

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=error_responses(404, 422))


@router.get("")
def list_documents(qa_service: CollectionQADep) -> DocumentList:
    return qa_service.documents()


@router.get("/{doc_id}")
def get_document(doc_id: str, qa_service: CollectionQADep) -> DocumentDetail:
    """A document with all its paragraphs in reading order."""
    return qa_service.document(doc_id)


@router.get("/{doc_id}/paragraphs/{paragraph_id}")
def get_paragraph(doc_id: str, paragraph_id: str, qa_service: CollectionQADep) -> ParagraphOut:
    return qa_service.paragraph(doc_id, paragraph_id)
