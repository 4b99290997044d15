"""Who may do what: keys, roles, collections, origins; hostile ids, names and bodies; limits; audit."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path

import pytest

from service.domain.keys import KeyStore
from service.domain.operations import OperationsError, check_binding, is_loopback
from service.settings import Settings
from tests.service.operations.conftest import PANDA, bearer, upload, wait_job

pytestmark = pytest.mark.integration

SECRET_QUESTION = "青鸾项目的预算是多少？"


def docs_of(response) -> set[str]:
    body = response.json()
    items = body.get("results") or body.get("citations") or []
    return {item["doc_id"] for item in items}


# --- authentication ---------------------------------------------------------------------------

def test_once_keys_exist_every_v1_route_needs_one(make_client, data_copy: Path, keys: dict) -> None:
    client = make_client(data_dir=data_copy)
    for method, path in [("POST", "/v1/ask"), ("POST", "/v1/search"), ("GET", "/v1/documents"),
                         ("GET", "/v1/collections"), ("GET", "/v1/jobs"), ("GET", "/v1/keys"),
                         ("POST", "/v1/collections/alpha/documents"), ("GET", "/v1/nothing-here")]:
        response = client.request(method, path, json={"question": "问题"})
        assert response.status_code == 401, (path, response.text)
        assert response.json()["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/ask", json={"question": "问题"}, headers=bearer("nqa_wrong")).status_code == 401
    assert client.post("/v1/ask", json={"question": "问题"}, headers=bearer(keys["revoked"])).status_code == 401
    assert client.get("/metrics").status_code == 401
    # health stays open, readiness says only yes or no
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "saturated": False, "collections": []}
    # both header forms
    assert client.get("/v1/collections", headers=bearer(keys["reader_alpha"])).status_code == 200
    assert client.get("/v1/collections", headers={"X-API-Key": keys["reader_alpha"]}).status_code == 200
    assert client.get("/metrics", headers=bearer(keys["reader_alpha"])).status_code == 403
    assert "notesqa_requests_total" in client.get("/metrics", headers=bearer(keys["admin"])).text


def test_keys_are_stored_hashed(data_copy: Path, keys: dict) -> None:
    stored = (data_copy / "keys.json").read_text(encoding="utf-8")
    assert all(token not in stored for token in keys.values())
    assert (data_copy / "keys.json").stat().st_mode & 0o077 == 0


def test_revoking_applies_to_a_running_app(make_client, data_copy: Path, keys: dict) -> None:
    client = make_client(data_dir=data_copy)
    headers = bearer(keys["reader_beta"])
    assert client.get("/v1/collections", headers=headers).status_code == 200
    KeyStore(data_copy / "keys.json").revoke("reader-beta")
    time.sleep(0.6)  # the keys file is re-read at most twice a second
    assert client.get("/v1/collections", headers=headers).status_code == 401


# --- roles and collections --------------------------------------------------------------------

def test_a_reader_sees_only_its_collections(make_client, data_copy: Path, keys: dict) -> None:
    client = make_client(data_dir=data_copy)
    alpha = bearer(keys["reader_alpha"])
    ok = client.post("/v1/ask", json={"question": "大熊猫生活在哪里", "collection": "alpha"}, headers=alpha)
    assert ok.status_code == 200 and docs_of(ok) == {"panda"}
    for body in ({"question": SECRET_QUESTION, "collection": "beta"}, {"question": SECRET_QUESTION}):
        response = client.post("/v1/ask", json=body, headers=alpha)
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        assert "青鸾" not in response.text
    assert client.post("/v1/search", json={"query": "青鸾", "collection": "beta"}, headers=alpha).status_code == 403
    # the chat stream answers from the requested collection under the same rules as /v1/ask
    streamed = client.post("/v1/ask/stream", json={"question": SECRET_QUESTION, "collection": "alpha"}, headers=alpha)
    assert streamed.status_code == 200 and "青鸾项目" not in streamed.text.replace(SECRET_QUESTION, "")
    for body in ({"question": SECRET_QUESTION, "collection": "beta"}, {"question": SECRET_QUESTION}):
        assert client.post("/v1/ask/stream", json=body, headers=alpha).status_code == 403
    # searching its own collection for another collection's words finds only its own paragraphs
    leaked = client.post("/v1/search", json={"query": "青鸾项目预算 李明 长江", "collection": "alpha"}, headers=alpha)
    assert leaked.status_code == 200 and docs_of(leaked) <= {"panda"}
    assert "青鸾" not in leaked.text
    cited = client.post("/v1/ask", json={"question": SECRET_QUESTION, "collection": "alpha"}, headers=alpha)
    assert docs_of(cited) <= {"panda"} and "四千万" not in cited.text
    # documents, collections and jobs
    for path in ("/v1/documents?collection=beta", "/v1/documents/qingluan?collection=beta",
                 "/v1/documents/qingluan/paragraphs/p0?collection=beta", "/v1/documents",
                 "/v1/collections/beta", "/v1/collections/beta/documents", "/v1/collections/beta/documents/qingluan"):
        response = client.get(path, headers=alpha)
        assert response.status_code == 403, (path, response.text)
        assert "青鸾" not in response.text and "qingluan" not in response.text.replace("'qingluan'", "")
    assert [c["name"] for c in client.get("/v1/collections", headers=alpha).json()["collections"]] == ["alpha"]
    jobs = client.get("/v1/jobs", headers=alpha).json()["jobs"]
    assert jobs and {j["collection"] for j in jobs} == {"alpha"}
    beta_job = client.get("/v1/jobs", headers=bearer(keys["reader_beta"])).json()["jobs"][0]
    assert client.get(f"/v1/jobs/{beta_job['id']}", headers=alpha).json()["code"] == "job_not_found"
    assert client.get("/v1/jobs", params={"collection": "beta"}, headers=alpha).json()["jobs"] == []
    # readers do not write
    refused = client.post("/v1/collections/alpha/documents", files={"file": ("x.txt", b"text")}, headers=alpha)
    assert refused.status_code == 403
    assert client.delete("/v1/collections/alpha/documents/panda", headers=alpha).status_code == 403
    assert client.post("/v1/collections", json={"name": "mine"}, headers=alpha).status_code == 403
    assert client.get("/v1/keys", headers=alpha).status_code == 403


def test_an_editor_manages_documents_of_its_collections_only(make_client, data_copy: Path, keys: dict) -> None:
    client = make_client(data_dir=data_copy)
    editor = bearer(keys["editor_alpha"])
    job = upload(client, "alpha", "more.txt", "# 补充\n\n小熊猫与大熊猫并非近亲。\n", editor)["job"]
    assert wait_job(client, job["id"], editor)["state"] == "succeeded"
    assert client.post("/v1/collections/beta/documents", files={"file": ("x.txt", b"text")},
                       headers=editor).status_code == 403
    assert client.delete("/v1/collections/beta/documents/qingluan", headers=editor).status_code == 403
    assert client.post("/v1/collections/beta/reindex", headers=editor).status_code == 403
    assert client.post("/v1/collections", json={"name": "mine"}, headers=editor).status_code == 403
    assert client.post("/v1/keys", json={"name": "x", "role": "admin"}, headers=editor).status_code == 403


def test_the_public_widget_key(make_client, data_copy: Path, keys: dict) -> None:
    client = make_client(data_dir=data_copy)
    public = keys["public_alpha"]
    from_site = bearer(public, Origin="https://widget.example")
    ok = client.post("/v1/ask", json={"question": "大熊猫生活在哪里", "collection": "alpha"}, headers=from_site)
    assert ok.status_code == 200, ok.text
    assert client.post("/v1/ask", json={"question": "大熊猫", "collection": "alpha"},
                       headers=bearer(public)).json()["code"] == "origin_not_allowed"
    assert client.post("/v1/ask", json={"question": "大熊猫", "collection": "alpha"},
                       headers=bearer(public, Origin="https://evil.example")).status_code == 403
    assert client.post("/v1/ask", json={"question": SECRET_QUESTION, "collection": "beta"},
                       headers=from_site).status_code == 403
    for method, path in [("POST", "/v1/search"), ("GET", "/v1/documents"), ("GET", "/v1/collections"),
                         ("GET", "/v1/jobs"), ("POST", "/v1/collections/alpha/documents")]:
        assert client.request(method, path, json={"query": "熊猫", "collection": "alpha"},
                              headers=from_site).status_code == 403, path


def test_a_citation_view_link_reads_that_document_and_nothing_else(make_client, data_copy: Path,
                                                                     keys: dict) -> None:
    """The widget's source viewer carries no key: each citation's signed `view_token` opens its document."""
    client = make_client(data_dir=data_copy)
    from_site = bearer(keys["public_alpha"], Origin="https://widget.example")
    answer = client.post("/v1/ask", json={"question": "大熊猫生活在哪里", "collection": "alpha"}, headers=from_site)
    citation = answer.json()["citations"][0]
    doc, token = citation["doc_id"], citation["view_token"]
    url = f"/v1/documents/{doc}"
    opened = client.get(url, params={"collection": "alpha", "view": token})
    assert opened.status_code == 200, opened.text
    assert citation["paragraph_id"] in {p["paragraph_id"] for p in opened.json()["paragraphs"]}
    assert client.get(f"{url}/paragraphs/{citation['paragraph_id']}",
                      params={"collection": "alpha", "view": token}).status_code == 200
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for path, params in [(url, {"collection": "alpha"}),  # no token
                         (url, {"collection": "alpha", "view": tampered}),
                         (url, {"collection": "alpha", "view": "not-a-token"}),
                         (url, {"collection": "beta", "view": token}),  # signed for another collection
                         (f"{url}x", {"collection": "alpha", "view": token}),  # another document
                         ("/v1/documents", {"collection": "alpha", "view": token})]:  # the listing
        assert client.get(path, params=params).status_code == 401, (path, params)
    reader = client.post("/v1/ask", json={"question": "大熊猫生活在哪里", "collection": "alpha"},
                         headers=bearer(keys["reader_alpha"])).json()
    assert all(c["view_token"] for c in reader["citations"])


def test_the_closest_passages_of_an_abstention_open_in_the_viewer_too(make_client, data_copy: Path,
                                                                       keys: dict) -> None:
    client = make_client(data_dir=data_copy)
    from_site = bearer(keys["public_alpha"], Origin="https://widget.example")
    answer = client.post("/v1/ask", json={"question": "量子计算机的发明者是谁？", "collection": "alpha"},
                         headers=from_site).json()
    assert answer["abstained"] and answer["closest"]
    for passage in answer["closest"]:
        opened = client.get(f"/v1/documents/{passage['doc_id']}",
                            params={"collection": "alpha", "view": passage["view_token"]})
        assert opened.status_code == 200, opened.text


def test_open_mode_answers_carry_no_view_token(make_client, data_copy: Path) -> None:
    client = make_client(data_dir=data_copy)  # no keys: open mode, on loopback
    answer = client.post("/v1/ask", json={"question": "大熊猫生活在哪里", "collection": "alpha"}).json()
    assert answer["citations"] and all("view_token" not in c for c in answer["citations"])


def test_the_admin_manages_collections_and_keys(make_client, data_copy: Path, keys: dict) -> None:
    client = make_client(data_dir=data_copy)
    admin = bearer(keys["admin"])
    assert client.post("/v1/collections", json={"name": "gamma"}, headers=admin).status_code == 201
    created = client.post("/v1/keys", json={"name": "gamma-reader", "role": "reader", "collections": ["gamma"]},
                          headers=admin)
    assert created.status_code == 201
    token, key_id = created.json()["token"], created.json()["key"]["id"]
    assert token not in json.dumps(client.get("/v1/keys", headers=admin).json())
    assert client.get("/v1/collections/gamma", headers=bearer(token)).status_code == 200
    assert client.delete(f"/v1/keys/{key_id}", headers=admin).status_code == 200
    time.sleep(0.6)
    assert client.get("/v1/collections/gamma", headers=bearer(token)).status_code == 401
    assert client.post("/v1/keys", json={"name": "w", "role": "public", "collections": ["gamma"]},
                       headers=admin).status_code == 422  # a public key needs origins


# --- hostile names, ids and bodies ------------------------------------------------------------

@pytest.mark.parametrize("doc_id", ["../x", "..", "../../etc/passwd", "/etc/passwd", "a/b", "a\\b", "a\x00b",
                                    ".hidden", "a..b", "x" * 200, "con\n"])
def test_document_ids_that_are_not_plain_names_are_refused(make_client, data_copy: Path, doc_id: str) -> None:
    client = make_client(data_dir=data_copy)
    response = client.post("/v1/collections/alpha/documents", files={"file": ("ok.txt", "正文内容".encode())},
                           data={"doc_id": doc_id})
    assert response.status_code == 422, response.text
    assert response.json()["code"] in ("invalid_document_id", "invalid_request")
    names = {p.name for p in (data_copy / "collections" / "alpha" / "sources").iterdir()}
    assert names == {"panda.txt", "metadata.json"}
    assert not (data_copy / "x.txt").exists() and not (data_copy / "collections" / "x.txt").exists()


@pytest.mark.parametrize("filename", ["../x.txt", "../../x.txt", "/tmp/x.txt", "a/b.txt", "..\\x.txt",
                                      "a\x00.txt", ".env.txt", " x.txt", "a\x01b.txt"])
def test_file_names_with_paths_are_refused(make_client, data_copy: Path, filename: str) -> None:
    client = make_client(data_dir=data_copy)
    # a raw multipart body: clients would escape the NUL, an attacker does not
    body = (b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' + filename.encode() +
            b'"\r\nContent-Type: text/plain\r\n\r\n' + "正文".encode() + b"\r\n--XyZ--\r\n")
    response = client.post("/v1/collections/alpha/documents", content=body,
                           headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert response.status_code in (400, 422), response.text
    assert {p.name for p in (data_copy / "collections" / "alpha" / "sources").iterdir()} == \
        {"panda.txt", "metadata.json"}


@pytest.mark.parametrize("path", ["/v1/collections/alpha/documents/..%2F..%2Fkeys",
                                  "/v1/collections/alpha/documents/%2Fetc%2Fpasswd",
                                  "/v1/collections/alpha/documents/a%00b",
                                  "/v1/collections/..%2Falpha/documents/panda",
                                  "/v1/documents/..%2F..%2Fkeys.json"])
def test_traversal_in_urls_is_refused(make_client, data_copy: Path, path: str) -> None:
    client = make_client(data_dir=data_copy)
    for method in ("GET", "DELETE", "PUT"):
        response = client.request(method, path, files={"file": ("x.txt", b"text")} if method == "PUT" else None)
        assert response.status_code in (403, 404, 405, 409, 422), (method, response.text)
        assert "nqa_" not in response.text and "hash" not in response.text
    assert (data_copy / "collections" / "alpha" / "sources" / "panda.txt").exists()


@pytest.mark.parametrize("name", ["../x", "..", "A", "a/b", "a\x00", "-x", "x" * 65, ""])
def test_collection_names_are_checked(make_client, data_copy: Path, name: str) -> None:
    client = make_client(data_dir=data_copy)
    response = client.post("/v1/collections", json={"name": name})
    assert response.status_code == 422 and response.json()["code"] == "invalid_collection_name"
    assert sorted(p.name for p in (data_copy / "collections").iterdir() if not p.name.startswith(".")) \
        == ["alpha", "beta"]


@pytest.mark.parametrize("filename,content,status,code", [
    ("garbage.txt", bytes(range(256)) * 8, 422, "unreadable_document"),
    ("empty.txt", b"", 422, "unreadable_document"),
    ("blank.md", b"   \n\n ", 422, "unreadable_document"),
    ("broken.docx", b"PK\x03\x04 not really a zip", 422, "unreadable_document"),
    ("zip.docx", b"PK\x05\x06" + b"\x00" * 18, 422, "unreadable_document"),
    ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", 422, "unreadable_document"),
    ("fake.pdf", b"just text pretending", 422, "unreadable_document"),
    ("bad.jsonl", b'{"doc_id": 1}\nnot json\n', 422, "unreadable_document"),
    ("program.exe", b"MZ\x90\x00", 415, "unsupported_media_type"),
    ("noext", b"text", 415, "unsupported_media_type"),
])
def test_malformed_uploads_are_refused_before_storing(make_client, data_copy: Path, filename: str, content: bytes,
                                                      status: int, code: str) -> None:
    client = make_client(data_dir=data_copy)
    response = client.post("/v1/collections/alpha/documents", files={"file": (filename, content)})
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert {p.name for p in (data_copy / "collections" / "alpha" / "sources").iterdir()} == \
        {"panda.txt", "metadata.json"}


def test_missing_file_field_is_an_invalid_request(make_client, data_copy: Path) -> None:
    client = make_client(data_dir=data_copy)
    response = client.post("/v1/collections/alpha/documents", data={"doc_id": "x"})
    assert response.status_code == 422 and response.json()["code"] == "invalid_request"


def test_oversized_bodies_get_413(make_client, data_copy: Path) -> None:
    client = make_client(data_dir=data_copy, max_upload_bytes=4096, max_request_bytes=2048)
    big = ("大熊猫" * 2000).encode()
    response = client.post("/v1/collections/alpha/documents", files={"file": ("big.txt", big)})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    just_over = b"x" * 4097  # passes the multipart allowance, caught when the file is read
    response = client.post("/v1/collections/alpha/documents", files={"file": ("big.txt", just_over)})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    response = client.post("/v1/ask", json={"question": "问" * 1000})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(10):
            yield b'{"question": "' + b"x" * 500

    response = client.post("/v1/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


# --- limits -----------------------------------------------------------------------------------

def test_rate_limit_per_key_and_per_ip(make_client, data_copy: Path, keys: dict) -> None:
    client = make_client(data_dir=data_copy, rate_limit_per_minute=6, rate_limit_burst=3)
    alpha, beta = bearer(keys["reader_alpha"]), bearer(keys["reader_beta"])
    statuses = [client.get("/v1/collections", headers=alpha).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/v1/collections", headers=alpha)
    assert limited.json()["code"] == "rate_limited" and 1 <= int(limited.headers["retry-after"]) <= 10
    assert client.get("/v1/collections", headers=beta).status_code == 200  # another key has its own bucket
    assert client.get("/healthz").status_code == 200  # not limited


def test_rate_limit_per_client_ip_when_open(make_client) -> None:
    client = make_client(rate_limit_per_minute=60, rate_limit_burst=2)
    statuses = [client.get("/v1/documents").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_saturation_answers_503_and_slow_answers_504(make_client) -> None:
    client = make_client(max_concurrent_queries=1, queue_timeout_s=0.3, request_timeout_s=0.6)
    lock = client.app.state.operations.registry.lock
    results: dict[str, int] = {}
    lock.acquire()  # the embedder is busy: admitted questions wait for it
    try:
        first = threading.Thread(target=lambda: results.__setitem__(
            "first", client.post("/v1/search", json={"query": "资产追回"}).status_code))
        first.start()
        time.sleep(0.1)
        second = client.post("/v1/search", json={"query": "资产追回"})
        assert second.status_code == 503 and second.json()["code"] == "overloaded"
        assert int(second.headers["retry-after"]) >= 1
        first.join()
        assert results["first"] == 504
    finally:
        lock.release()
    time.sleep(0.2)  # the abandoned search finishes in the background and frees its slot
    assert client.post("/v1/search", json={"query": "资产追回"}).status_code == 200


# --- audit ------------------------------------------------------------------------------------

def test_audit_log_records_who_asked_what_without_secrets(make_client, data_copy: Path, keys: dict) -> None:
    old = data_copy / "audit" / "audit-2001-01-01.jsonl"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text('{"event": "ask"}\n')
    recent = data_copy / "audit" / f"audit-{(dt.date.today() - dt.timedelta(days=2)).isoformat()}.jsonl"
    recent.write_text('{"event": "ask"}\n')
    client = make_client(data_dir=data_copy, audit_retention_days=7)
    assert not old.exists() and recent.exists()  # pruned at start-up
    alpha = bearer(keys["reader_alpha"])
    client.post("/v1/ask", json={"question": "大熊猫生活在哪里", "collection": "alpha"}, headers=alpha)
    client.post("/v1/search", json={"query": "熊猫", "collection": "alpha"}, headers={"X-API-Key": keys["admin"]})
    upload(client, "alpha", "extra.txt", PANDA, bearer(keys["editor_alpha"]))
    today = data_copy / "audit" / f"audit-{dt.datetime.now(dt.UTC).date().isoformat()}.jsonl"
    text = today.read_text(encoding="utf-8")
    assert all(token not in text for token in keys.values())
    for record in KeyStore(data_copy / "keys.json").list():
        assert record.hash not in text
    entries = [json.loads(line) for line in text.splitlines()]
    ask = next(e for e in entries if e["event"] == "ask")
    assert ask["key"] == "reader-alpha" and ask["collection"] == "alpha"
    assert ask["question"] == "大熊猫生活在哪里" and ask["cited_documents"] == ["panda"]
    assert ask["latency_ms"] > 0 and ask["time"]
    assert any(e["event"] == "search" and e["key"] == "admin" for e in entries)
    assert any(e["event"] == "document_add" and e["key"] == "editor-alpha" and e["doc_id"] == "extra"
               for e in entries)


# --- metrics and readiness --------------------------------------------------------------------

def test_metrics_and_readiness(make_client, data_copy: Path) -> None:
    client = make_client(data_dir=data_copy)
    client.post("/v1/search", json={"query": "熊猫", "collection": "alpha"})
    client.get("/v1/documents/nope")
    text = client.get("/metrics").text
    assert 'notesqa_requests_total{method="POST",route="/v1/search",status="200"} 1.0' in text
    assert 'notesqa_requests_total{method="GET",route="/v1/documents/{doc_id}",status="404"} 1.0' in text
    assert 'notesqa_request_seconds_bucket{le="0.5",method="POST",route="/v1/search"}' in text
    assert 'notesqa_snapshot_paragraphs{collection="alpha"} 3.0' in text
    assert 'notesqa_snapshot_paragraphs{collection="beta"}' in text
    assert 'notesqa_jobs{state="succeeded"}' in text
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert {c["name"]: c["state"] for c in ready.json()["collections"]} == \
        {"default": "ready", "alpha": "ready", "beta": "ready"}


# --- binding ----------------------------------------------------------------------------------

def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.10", "example.com"))


def test_open_service_binds_loopback_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="0.0.0.0")
    with pytest.raises(OperationsError, match="--insecure-no-auth-on-network"):
        check_binding(settings, insecure_no_auth=False)
    assert not check_binding(settings, insecure_no_auth=True).auth_required
    assert check_binding(Settings(data_dir=tmp_path, host="127.0.0.1"), insecure_no_auth=False) is not None
    KeyStore(tmp_path / "keys.json").create("ops", "admin", ["*"])
    assert check_binding(settings, insecure_no_auth=False).auth_required


def test_auth_required_even_without_keys(make_client) -> None:
    client = make_client(auth_required=True)
    assert client.post("/v1/ask", json={"question": "问题"}).status_code == 401


def test_public_key_origins_pass_cors(make_client, data_copy: Path, keys: dict) -> None:
    client = make_client(data_dir=data_copy)
    preflight = client.options("/v1/ask", headers={"Origin": "https://widget.example",
                                                   "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.headers["access-control-allow-origin"] == "https://widget.example"
    refused = client.post("/v1/ask", json={"question": "问题"}, headers={"Origin": "https://widget.example"})
    assert refused.status_code == 401  # errors carry CORS headers too, so the widget can read them
    assert refused.headers["access-control-allow-origin"] == "https://widget.example"


def test_a_damaged_keys_file_fails_closed(make_client, data_copy: Path, keys: dict) -> None:
    client = make_client(data_dir=data_copy)
    (data_copy / "keys.json").write_text("{not json", encoding="utf-8")
    time.sleep(0.6)
    response = client.get("/v1/collections", headers=bearer(keys["admin"]))
    assert response.status_code == 500 and "nqa_" not in response.text
    with pytest.raises(OperationsError, match="unreadable keys file"):
        check_binding(Settings(data_dir=data_copy), insecure_no_auth=False)
