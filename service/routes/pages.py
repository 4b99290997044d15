"""The front end, served without a key: the chat page, the embeddable widget, the source viewer, assets.

    /widget.js              the widget: <script src="https://<service>/widget.js" data-api=…>
    /                       the full-page chat (the same widget, inline)
    /documents              the notes of the collections the caller may read, each linking to its viewer
    /documents/{doc_id}     the source viewer (#paragraph_id, ?q=quote to mark, ?cited=id,… to step through)
    /manage                 looking after the notes: collections, uploads, jobs, keys, feedback review
    /web/{asset}            the pages' own CSS and JS
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException

from service.deps import OperationsDep

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

# The pages render every server string as text; the policy is a second line of defence.
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
ASSET_TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
PAGE_ASSETS = {"viewer.js", "pages.css", "documents.js", "manage.js", "manage-i18n.js", "manage.css"}

router = APIRouter(include_in_schema=False)


def _page(name: str, status_code: int = 200) -> FileResponse:
    return FileResponse(WEB_DIR / name, status_code=status_code, media_type="text/html; charset=utf-8",
                        headers=PAGE_HEADERS)


@router.get("/")
def chat_page() -> FileResponse:
    return _page("index.html")


@router.get("/manage")
def manage_page() -> FileResponse:
    """Collections, documents, jobs, keys and feedback review; every action is an API call with the key
    the user signs in with (kept in the tab's sessionStorage), so the page can do no more than the key."""
    return _page("manage.html")


@router.get("/widget.js")
def widget_script() -> FileResponse:
    # loaded by pages of other origins; CORP lets pages that require it (COEP) load it too
    return FileResponse(WEB_DIR / "widget.js", media_type=ASSET_TYPES[".js"],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                                 "Cross-Origin-Resource-Policy": "cross-origin"})


@router.get("/web/{asset}")
def page_asset(asset: str) -> FileResponse:
    if asset not in PAGE_ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {asset!r}")
    return FileResponse(WEB_DIR / asset, media_type=ASSET_TYPES[Path(asset).suffix],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


@router.get("/documents")
def documents_page() -> FileResponse:
    """The list of notes; its script reads GET /v1/collections and /v1/documents with the caller's key."""
    return _page("documents.html")


@router.get("/documents/{doc_id}")
def viewer_page(doc_id: str, request: Request, ops: OperationsDep) -> FileResponse:
    """The viewer page; its script fetches /v1/documents/{doc_id}[?collection=…] and says when it is unknown.

    The page itself needs no key. Once keys are required its status never depends on the document: the
    page is fetched without a key, and a 404 would tell anyone which ids exist; the page's own fetch
    (with a key or a view token) reports an unknown one. Open (no key configured), anyone may list the
    documents anyway, and an unknown one of the default collection is also a 404 status.
    """
    if ops.auth_enabled() or "collection" in request.query_params:
        return _page("viewer.html")
    known = doc_id in {d.doc_id for d in ops.service(None).documents().documents}
    return _page("viewer.html", 200 if known else 404)
