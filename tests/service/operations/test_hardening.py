"""Issue 13 (items 3-11): what a hostile caller or a careless editor could do to the real server on loopback.

Each case runs against `notesqa serve` in a child process (service.local_server.LocalServer), except the
full-disk case, which patches the job store's writes in-process as tests/service/operations/test_faults.py does.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.domain.keys import KeyStore
from service.domain.feedback import FeedbackStore
from service.local_server import LocalServer
from tests.service.operations.conftest import PANDA, RIVER, SECRET, bearer
from tests.service.operations.test_collections import _docx, _pdf

pytestmark = pytest.mark.integration

WIDGET_ORIGIN = "https://widget.example"


class Server:
    """A running `notesqa serve` with its data folder; `call` is an httpx client on its address."""

    def __init__(self, server: LocalServer, data_dir: Path) -> None:
        self.server, self.data_dir = server, data_dir
        self.call = httpx.Client(base_url=server.url, timeout=60)

    def upload(self, collection: str, name: str, content: str | bytes, headers: dict | None = None,
               **form: str) -> httpx.Response:
        data = content.encode("utf-8") if isinstance(content, str) else content
        return self.call.post(f"/v1/collections/{collection}/documents", files={"file": (name, data)},
                              data=form, headers=headers)

    def wait_job(self, job_id: str, headers: dict | None = None, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.call.get(f"/v1/jobs/{job_id}", headers=headers).json()
            if job.get("state") in ("succeeded", "failed"):
                return job
            assert time.monotonic() < deadline, (job, self.server.log()[-3000:])
            time.sleep(0.1)

    def settle(self, collection: str, headers: dict | None = None) -> None:
        """Wait until every job of the collection has finished."""
        for job in self.call.get("/v1/jobs", params={"collection": collection}, headers=headers).json()["jobs"]:
            self.wait_job(job["id"], headers)

    def originals(self, collection: str) -> set[str]:
        folder = self.data_dir / "collections" / collection / "originals"
        return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def _serve(index_dir: Path, data_dir: Path, log_path: Path, **env: str) -> LocalServer:
    return LocalServer(index_dir, env={"NOTESQA_DATA_DIR": str(data_dir), "NOTESQA_WATCH_INTERVAL_S": "0",
                                       **env}, log_path=log_path)


@pytest.fixture(scope="module")
def open_server(tiny_default_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No keys, default limits (the rate limit included): what a single-user loopback install runs."""
    root = tmp_path_factory.mktemp("hardening-open")
    with _serve(tiny_default_index, root / "data", root / "serve.log") as server:
        yield Server(server, root / "data")


# --- 1. a long document: refused above the limit, else cut into citable chunks; questions never wait ------

JUDGMENT_CLAUSE = "被告人张某于二〇一九年三月在某市某区实施盗窃，"


def test_a_long_document_is_chunked_and_questions_are_answered_while_it_is_indexed(
        tiny_default_index: Path, tmp_path: Path) -> None:
    env = {"NOTESQA_MAX_DOCUMENT_CHARS": "20000", "NOTESQA_DEBUG_JOB_DELAY_S": "4"}
    with _serve(tiny_default_index, tmp_path / "data", tmp_path / "serve.log", **env) as server:
        s = Server(server, tmp_path / "data")
        assert s.call.post("/v1/collections", json={"name": "court"}).status_code == 201
        refused = s.upload("court", "huge.txt", "判决书\n\n" + JUDGMENT_CLAUSE * 1000)  # 23,000 characters
        assert refused.status_code == 413 and refused.json()["code"] == "payload_too_large", refused.text
        assert "NOTESQA_MAX_DOCUMENT_CHARS" in refused.json()["message"]
        assert s.call.get("/v1/collections/court/documents").json()["documents"] == []

        # one line, clauses joined by "，", one "。" at the end: the shape of a court judgment
        text = "判决书\n\n" + JUDGMENT_CLAUSE * 600 + "赃款已于二〇二〇年五月全部退还被害人。\n"
        job = s.upload("court", "judgment.txt", text).json()["job"]
        answered_while_running = 0
        while (state := s.call.get(f"/v1/jobs/{job['id']}").json())["state"] in ("queued", "running"):
            asked = s.call.post("/v1/ask", json={"question": "大熊猫生活在哪里？"})
            assert asked.status_code == 200, asked.text
            if s.call.get(f"/v1/jobs/{job['id']}").json()["state"] == "running":
                answered_while_running += 1
            time.sleep(0.5)  # a user, not a flood: the build (at a lower priority) gets the CPU in between
        assert state["state"] == "succeeded", state
        assert answered_while_running >= 1
        paragraphs = s.call.get("/v1/documents/judgment", params={"collection": "court"}).json()["paragraphs"]
        assert len(paragraphs) >= 14 and all(len(p["text"]) <= 1000 for p in paragraphs)
        found = s.call.post("/v1/ask", json={"question": "赃款什么时候退还被害人？", "collection": "court"}).json()
        assert found["citations"] and "赃款" in found["citations"][0]["text"]
        assert len(found["citations"][0]["text"]) <= 1000


# --- /readyz says not ready while questions queue for a slot ------------------------------------------

def test_readyz_is_503_while_the_query_slots_are_saturated(tiny_default_index: Path, tmp_path: Path) -> None:
    env = {"NOTESQA_MAX_CONCURRENT_QUERIES": "1", "NOTESQA_RATE_LIMIT_PER_MINUTE": "0"}
    with _serve(tiny_default_index, tmp_path / "data", tmp_path / "serve.log", **env) as server:
        s = Server(server, tmp_path / "data")
        idle = s.call.get("/readyz")
        assert idle.status_code == 200 and idle.json()["saturated"] is False
        stop, seen = threading.Event(), []

        def ask() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                while not stop.is_set():
                    client.post("/v1/ask", json={"question": "三峡大坝位于哪里？"})

        askers = [threading.Thread(target=ask) for _ in range(6)]
        for thread in askers:
            thread.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(code == 503 for code, _ in seen):
                ready = s.call.get("/readyz")
                seen.append((ready.status_code, ready.json()))
        finally:
            stop.set()
            for thread in askers:
                thread.join()
        busy = [body for code, body in seen if code == 503]
        assert busy and busy[0]["saturated"] is True and busy[0]["ready"] is False, seen[-3:]
        after = s.call.get("/readyz")
        assert after.status_code == 200 and after.json()["saturated"] is False


# --- 3. originals are removed by their exact stored names ----------------------------------------

def test_uploads_and_deletes_touch_only_their_own_originals(open_server: Server) -> None:
    s = open_server
    assert s.call.post("/v1/collections", json={"name": "originals"}).status_code == 201
    assert s.upload("originals", "rep.v2.docx", _docx(["青海湖是中国最大的内陆咸水湖。"], "湖泊笔记")).status_code == 202
    assert s.upload("originals", "ok.x.pdf", _pdf(["The Yulong glacier lies near Lijiang."])).status_code == 202
    assert s.originals("originals") == {"rep.v2.docx", "ok.x.pdf"}
    # documents "rep" and "ok" share the stems' first part with those originals
    assert s.upload("originals", "rep.txt", RIVER).status_code == 202
    assert s.upload("originals", "ok.docx", _docx(["大熊猫生活在四川。"], "熊猫笔记")).status_code == 202
    assert s.originals("originals") == {"rep.v2.docx", "ok.x.pdf", "ok.docx"}
    s.settle("originals")
    # replacing "ok" (a .docx) by a .txt removes its own original only
    assert s.call.put("/v1/collections/originals/documents/ok",
                      files={"file": ("ok.txt", PANDA.encode())}).status_code == 202
    assert s.originals("originals") == {"rep.v2.docx", "ok.x.pdf"}
    # deleting "ok" and "rep" leaves "ok.x" and "rep.v2" whole
    for doc_id in ("ok", "rep"):
        deleted = s.call.delete(f"/v1/collections/originals/documents/{doc_id}")
        assert deleted.status_code == 202, deleted.text
    assert s.originals("originals") == {"rep.v2.docx", "ok.x.pdf"}
    # deleting "rep.v2" removes its original, by name
    assert s.call.delete("/v1/collections/originals/documents/rep.v2").status_code == 202
    assert s.originals("originals") == {"ok.x.pdf"}
    s.settle("originals")
    documents = s.call.get("/v1/collections/originals/documents").json()["documents"]
    assert [d["doc_id"] for d in documents] == ["ok.x"]


# --- 6. a .jsonl cannot take another document's id -------------------------------------------------

def test_a_jsonl_upload_cannot_reuse_a_document_id(open_server: Server) -> None:
    s = open_server
    assert s.call.post("/v1/collections", json={"name": "unique"}).status_code == 201
    job = s.upload("unique", "a.txt", PANDA).json()["job"]
    assert s.wait_job(job["id"])["state"] == "succeeded"
    impostor = json.dumps({"doc_id": "a", "text": SECRET}, ensure_ascii=False)
    refused = s.upload("unique", "bulk.jsonl", impostor)
    assert refused.status_code == 409 and refused.json()["code"] == "doc_id_conflict", refused.text
    assert "'a'" in refused.json()["message"] and "a.txt" in refused.json()["message"]
    # the other way round: a record id is taken, a plain upload of that id is refused too
    records = "\n".join(json.dumps({"doc_id": d, "text": t}, ensure_ascii=False)
                        for d, t in (("tea", "龙井茶产于浙江省杭州市。"), ("silk", "苏州的宋锦是传统丝织品。")))
    assert s.upload("unique", "bulk.jsonl", records).status_code == 202
    taken = s.upload("unique", "tea.txt", RIVER)
    assert taken.status_code == 409 and taken.json()["code"] == "doc_id_conflict"
    # replacing the .jsonl by itself keeps its own ids
    assert s.call.put("/v1/collections/unique/documents/bulk",
                      files={"file": ("bulk.jsonl", records.encode())}).status_code == 202
    s.settle("unique")
    assert {d["doc_id"] for d in s.call.get("/v1/collections/unique/documents").json()["documents"]} == \
        {"a", "bulk"}
    # "a" is still the panda note, and deleting it removes it from answers
    found = s.call.post("/v1/search", json={"query": "青鸾项目预算", "collection": "unique"}).json()
    assert "results" in found, found
    found = found["results"]
    assert all(SECRET.splitlines()[2][:10] not in r["text"] for r in found)
    job = s.call.delete("/v1/collections/unique/documents/a").json()["job"]
    assert s.wait_job(job["id"])["state"] == "succeeded"
    found = s.call.post("/v1/search", json={"query": "大熊猫", "collection": "unique"}).json()["results"]
    assert "a" not in {r["doc_id"] for r in found}


# --- 7. a damaged embedding cache is set aside, not a reason for every later job to fail ---------------

def test_a_damaged_embedding_cache_does_not_fail_the_next_job(open_server: Server) -> None:
    s = open_server
    assert s.call.post("/v1/collections", json={"name": "cache"}).status_code == 201
    assert s.wait_job(s.upload("cache", "panda.md", PANDA).json()["job"]["id"])["state"] == "succeeded"
    cache = s.data_dir / "collections" / "cache" / "index" / "embedding_cache.sqlite"
    assert cache.is_file()
    cache.write_bytes(b"\x13damaged by a careless editor" * 200)
    job = s.wait_job(s.upload("cache", "river.md", RIVER).json()["job"]["id"])
    assert job["state"] == "succeeded", job
    assert list(cache.parent.glob("embedding_cache.sqlite.damaged-*"))
    found = s.call.post("/v1/search", json={"query": "三峡大坝", "collection": "cache"}).json()["results"]
    assert found[0]["doc_id"] == "river"
    assert "damaged" in s.server.log() and "Traceback" not in s.server.log()


# --- 8. a docx bomb is refused in the request ------------------------------------------------------

def _docx_bomb(inflated: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_docx(["一段正文。"], "标题"))) as source, \
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            bomb.writestr(info, source.read(info))
        bomb.writestr("word/media/padding.bin", b"\0" * inflated)
    return buffer.getvalue()


def test_a_docx_that_inflates_past_the_upload_limit_is_refused_with_413(open_server: Server) -> None:
    s = open_server
    assert s.call.post("/v1/collections", json={"name": "bombs"}).status_code == 201
    bomb = _docx_bomb(21 * 1024 * 1024)  # the default upload limit is 20 MiB
    assert len(bomb) < 100 * 1024
    started = time.monotonic()
    refused = s.upload("bombs", "bomb.docx", bomb)
    assert refused.status_code == 413 and refused.json()["code"] == "payload_too_large", refused.text
    assert "inflates" in refused.json()["message"]
    assert time.monotonic() - started < 5  # refused from the archive's directory, before parsing
    assert s.call.get("/v1/collections/bombs/documents").json()["documents"] == []
    assert s.originals("bombs") == set()
    assert s.call.get("/v1/jobs", params={"collection": "bombs"}).json()["jobs"] == []
    # under the limit it is an ordinary document
    assert s.upload("bombs", "fine.docx", _docx_bomb(1024 * 1024)).status_code == 202


@pytest.fixture(scope="module")
def keyed_server(tiny_default_index: Path, two_collections: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    """Collections alpha (panda) and beta (river, secret), keys required; tokens by name."""
    root = tmp_path_factory.mktemp("hardening-keyed")
    data_dir = Path(shutil.copytree(two_collections, root / "data"))
    store = KeyStore(data_dir / "keys.json")
    tokens = {
        "admin": store.create("admin", "admin", ["*"])[1],
        "reader_alpha": store.create("reader-alpha", "reader", ["alpha"])[1],
        "reader_default": store.create("reader-default", "reader", ["default"])[1],
        "public_alpha": store.create("widget", "public", ["alpha"], [WIDGET_ORIGIN])[1],
    }
    with _serve(tiny_default_index, data_dir, root / "serve.log",
                NOTESQA_FEEDBACK_PATH=str(root / "feedback.jsonl")) as server:
        yield Server(server, data_dir), tokens


# --- 4. no caller can cost a 500 ----------------------------------------------------------------------

def test_deeply_nested_json_bodies_are_refused_with_400(open_server: Server, keyed_server) -> None:
    nested = "[" * 20_000 + "]" * 20_000  # 40 KB, far below the body limit
    keyed, tokens = keyed_server
    cases = [
        (open_server, "/v1/ask", {}),
        (open_server, "/v1/feedback", {}),
        (open_server, "/v1/collections", {}),
        (keyed, "/v1/ask", bearer(tokens["public_alpha"], Origin=WIDGET_ORIGIN)),
        (keyed, "/v1/search", bearer(tokens["reader_alpha"])),
        (keyed, "/v1/search", bearer(tokens["admin"])),
    ]
    for server, path, headers in cases:
        for body in (nested, '{"question": ' + nested + "}"):
            response = server.call.post(path, content=body, headers={**headers, "content-type": "application/json"})
            assert response.status_code == 400, (path, response.text)
            assert response.json()["code"] == "invalid_request" and "nested deeper" in response.json()["message"]
    # nesting inside a string is text, not structure
    fine = open_server.call.post("/v1/ask", json={"question": "[" * 5000 + "大熊猫"})
    assert fine.status_code == 422 and fine.json()["code"] == "question_too_long"
    assert "RecursionError" not in open_server.server.log()


def test_a_jsonl_line_of_nested_brackets_is_a_skipped_record(open_server: Server) -> None:
    s = open_server
    assert s.call.post("/v1/collections", json={"name": "nested"}).status_code == 201
    lines = json.dumps({"doc_id": "ok", "text": "大熊猫生活在四川。"}, ensure_ascii=False) + "\n" + "[" * 20_000
    accepted = s.upload("nested", "bulk.jsonl", lines)
    assert accepted.status_code == 202 and accepted.json()["document"]["records"] == 1
    refused = s.upload("nested", "bad.jsonl", "[" * 20_000)
    assert refused.status_code == 422 and "nested too deeply" in refused.json()["message"]


def test_a_view_token_with_a_huge_expiry_is_a_401(keyed_server) -> None:
    s, _ = keyed_server
    for token in ("f" * 5000 + ".AAAA", "1" * 17 + ".AAAA", "+ff.AAAA", " ff.AAAA", "f_f.AAAA", "ff." + "A" * 5000):
        response = s.call.get("/v1/documents/panda", params={"collection": "alpha", "view": token})
        assert response.status_code == 401, (token[:20], response.text)
    assert "Traceback" not in s.server.log()


# --- 9. feedback is authorised like ask: the body's collection decides ----------------------------------

def _feedback(collection: str | None) -> dict:
    body = {"question": "大熊猫生活在哪里？", "rating": "up",
            "answer": "大熊猫主要生活在四川、陕西和甘肃的山区竹林中。[1]"}
    return body if collection is None else {**body, "collection": collection}


def test_feedback_needs_the_key_to_be_allowed_to_ask_its_collection(keyed_server) -> None:
    s, tokens = keyed_server
    feedback = FeedbackStore(s.data_dir.parent / "feedback.jsonl")
    allowed = [
        (bearer(tokens["reader_alpha"]), "alpha"),
        (bearer(tokens["public_alpha"], Origin=WIDGET_ORIGIN), "alpha"),  # the widget's 👍/👎
        (bearer(tokens["reader_default"]), None),
        (bearer(tokens["admin"]), "beta"),
    ]
    filed = {}
    for headers, collection in allowed:
        response = s.call.post("/v1/feedback", json=_feedback(collection), headers=headers)
        assert response.status_code == 201, (collection, response.text)
        filed[response.json()["id"]] = collection or "default"
    refused = [
        (bearer(tokens["reader_default"]), "alpha"),  # a collection the key cannot read
        (bearer(tokens["reader_default"]), "beta"),
        (bearer(tokens["reader_alpha"]), None),  # the default collection, which it cannot read either
        (bearer(tokens["reader_alpha"]), "beta"),
        (bearer(tokens["public_alpha"], Origin=WIDGET_ORIGIN), "beta"),
    ]
    for headers, collection in refused:
        response = s.call.post("/v1/feedback", json=_feedback(collection), headers=headers)
        assert response.status_code == 403 and response.json()["code"] == "forbidden", (collection, response.text)
    unknown = s.call.post("/v1/feedback", json=_feedback("nope"), headers=bearer(tokens["admin"]))
    assert unknown.status_code == 404 and unknown.json()["code"] == "collection_not_found"
    # only the allowed ones were stored, each against the collection it is about
    assert {r["id"]: r["collection"] for r in feedback.read()} == filed


# --- 10. HTTP hygiene: HEAD, /docs without a CDN, a viewer page that does not tell which ids exist --------

VOLATILE_HEADERS = {"date"}


def _same_as_get(server: Server, path: str, headers: dict | None = None) -> httpx.Response:
    got, head = server.call.get(path, headers=headers), server.call.head(path, headers=headers)
    assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
    assert head.content == b"", path
    assert {k: v for k, v in head.headers.items() if k not in VOLATILE_HEADERS} == \
        {k: v for k, v in got.headers.items() if k not in VOLATILE_HEADERS}, path
    return head


def test_head_answers_like_get(open_server: Server, keyed_server) -> None:
    for path in ("/", "/widget.js", "/web/pages.css", "/web/viewer.js", "/documents/a", "/healthz", "/readyz",
                 "/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json", "/v1/documents", "/v1/documents/a",
                 "/documents/nope", "/web/nope.js", "/v1/documents/nope"):
        _same_as_get(open_server, path)
    assert int(_same_as_get(open_server, "/widget.js").headers["content-length"]) > 1000
    # with keys, HEAD passes the checks its GET does
    s, tokens = keyed_server
    assert _same_as_get(s, "/v1/collections").status_code == 401
    assert _same_as_get(s, "/v1/documents/panda?collection=alpha", bearer(tokens["reader_alpha"])).status_code == 200
    assert _same_as_get(s, "/v1/documents/a", bearer(tokens["reader_alpha"])).status_code == 403
    # a route without GET still says which methods it has
    refused = open_server.call.head("/v1/ask")
    assert refused.status_code == 405 and "POST" in refused.headers["allow"]


def test_api_docs_are_served_from_this_origin_under_a_strict_policy(open_server: Server) -> None:
    s = open_server
    page = s.call.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]", page.text, re.I), "the page names another host"
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["style-src"] == "'self'" and "unsafe" not in policy
    # the one inline script (Swagger UI's start) is allowed by its hash, nothing else inline
    [inline] = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        loaded = s.call.get(asset)
        assert loaded.status_code == 200 and len(loaded.content) > 100, asset
    assert s.call.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith("application/javascript")
    # the bundle's demo page (which points at a public petstore) and ReDoc (CDN only) are not served
    assert s.call.get("/docs/assets/index.html").status_code == 404
    assert s.call.get("/redoc").status_code == 404
    assert s.call.get("/openapi.json").json()["openapi"].startswith("3.1")  # what Swagger UI 5 reads


def test_the_viewer_page_does_not_tell_which_documents_exist(open_server: Server, keyed_server) -> None:
    s, _ = keyed_server
    pages = [s.call.get(path) for path in ("/documents/a", "/documents/nope", "/documents/panda?collection=alpha",
                                           "/documents/nope?collection=alpha")]
    assert [p.status_code for p in pages] == [200] * 4
    assert len({p.content for p in pages}) == 1
    # the page's data fetch is what answers, and it needs a key or a view token
    assert s.call.get("/v1/documents/nope").status_code == 401
    # open (no key configured) the document list is public anyway: an unknown default document stays a 404
    assert open_server.call.get("/documents/a").status_code == 200
    assert open_server.call.get("/documents/nope").status_code == 404


# --- 11. rate limits a single-user loopback install does not trip over ---------------------------------

def test_an_open_loopback_install_is_not_throttled_but_keys_are(open_server: Server, keyed_server) -> None:
    # the defaults (600/min, burst 120) would refuse most of these from one client IP
    statuses = [open_server.call.get("/v1/collections").status_code for _ in range(300)]
    assert statuses.count(200) == 300, statuses.count(429)
    asked = [open_server.call.post("/v1/search", json={"query": "熊猫"}).status_code for _ in range(20)]
    assert set(asked) == {200}
    # with keys, each key keeps its bucket (burst 120)
    s, tokens = keyed_server
    headers = bearer(tokens["reader_default"])
    statuses = [s.call.get("/v1/collections", headers=headers).status_code for _ in range(200)]
    assert statuses.count(429) > 0 and statuses[:100] == [200] * 100
    limited = next(r for r in (s.call.get("/v1/collections", headers=headers) for _ in range(5))
                   if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
