"""Feedback review: GET /v1/feedback, POST /v1/feedback/{id}/review, GET /v1/feedback/export, and the
caller's own identity (GET /v1/keys/me) that the /manage page reads.

In-process (TestClient) on a stub QA service with real keys, so that roles apply as in production."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.cli.main import app as cli_app
from service.domain.feedback import FeedbackStore, new_record, reviews_path
from service.domain.keys import KeyStore
from service.schemas import FeedbackRequest
from service.settings import Settings
from tests.service.routes.test_stream_feedback import StubService, assert_json_error

pytestmark = pytest.mark.unit

WIDGET_ORIGIN = "https://portal.example"
UP_ANSWER = "会议将于 2018 年 6 月 6 日开幕。[1]"
CITATION = {"marker": 1, "doc_id": "d1", "paragraph_id": "p1", "title": "文档一", "quote": "会议将于 2018 年 6 月 6 日开幕。"}


@dataclass
class Service:
    client: TestClient
    feedback: Path
    tokens: dict[str, str]
    data_dir: Path

    def get(self, path: str, key: str | None = None, **params) -> object:
        return self.client.get(path, params=params, headers=bearer(self.tokens[key]) if key else None)

    def post(self, path: str, key: str, body: dict) -> object:
        return self.client.post(path, json=body, headers=bearer(self.tokens[key]))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def record(question: str, rating: str, collection: str | None, **extra) -> dict:
    body = FeedbackRequest(question=question, answer=UP_ANSWER if rating == "up" else "资料中没有找到相关内容。",
                           fact="2018 年 6 月 6 日" if rating == "up" else None, rating=rating,
                           citations=[CITATION] if rating == "up" else [], **extra)
    return new_record(body, collection=collection)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    data_dir = tmp_path / "data"
    keys = KeyStore(data_dir / "keys.json")
    tokens = {
        "admin": keys.create("admin", "admin", ["*"])[1],
        "editor_alpha": keys.create("editor-alpha", "editor", ["alpha"])[1],
        "editor_default": keys.create("editor-default", "editor", ["default"])[1],
        "reader_alpha": keys.create("reader-alpha", "reader", ["alpha"])[1],
        "public": keys.create("widget", "public", ["default"], [WIDGET_ORIGIN])[1],
    }
    feedback = tmp_path / "feedback.jsonl"
    settings = Settings(index_dir=tmp_path / "index", data_dir=data_dir, feedback_path=feedback, stream_delay_ms=0,
                        rate_limit_per_minute=0, max_upload_bytes=64 * 1024)
    with TestClient(create_app(settings, qa_service=StubService()), raise_server_exceptions=False) as client:
        yield Service(client, feedback, tokens, data_dir)


def seed(service: Service) -> dict[str, str]:
    """One record per collection: default (through the API, as the widget files it), alpha, beta."""
    posted = service.client.post("/v1/feedback", json={
        "question": "默认资料的问题？", "answer": UP_ANSWER, "fact": "2018 年 6 月 6 日", "rating": "up",
        "citations": [CITATION]}, headers={**bearer(service.tokens["public"]), "Origin": WIDGET_ORIGIN})
    assert posted.status_code == 201, posted.text
    store = FeedbackStore(service.feedback)
    alpha, beta = record("阿尔法的问题？", "down", "alpha", comment="应该有答案"), record("贝塔的问题？", "up", "beta")
    store.append(alpha)
    store.append(beta)
    return {"default": posted.json()["id"], "alpha": alpha["id"], "beta": beta["id"]}


def questions(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["question"] for r in response.json()["feedback"]]


def test_admins_review_every_collection_and_editors_their_own(service: Service) -> None:
    ids = seed(service)
    everything = service.get("/v1/feedback", "admin")
    assert questions(everything) == ["贝塔的问题？", "阿尔法的问题？", "默认资料的问题？"]  # newest first
    assert everything.json()["total"] == 3
    listed = {r["id"]: r for r in everything.json()["feedback"]}
    assert listed[ids["default"]]["collection"] == "default" and listed[ids["default"]]["origin"] == WIDGET_ORIGIN
    assert listed[ids["alpha"]]["comment"] == "应该有答案" and listed[ids["alpha"]]["rating"] == "down"
    assert listed[ids["beta"]]["citations"][0]["doc_id"] == "d1"
    assert not any(r["reviewed"] for r in listed.values())

    assert questions(service.get("/v1/feedback", "editor_alpha")) == ["阿尔法的问题？"]
    assert questions(service.get("/v1/feedback", "editor_default")) == ["默认资料的问题？"]
    assert_json_error(service.get("/v1/feedback", "editor_alpha", collection="beta"), 403, "forbidden")
    assert_json_error(service.get("/v1/feedback", "reader_alpha"), 403, "forbidden")  # readers do not review
    public = service.client.get("/v1/feedback", headers={**bearer(service.tokens["public"]), "Origin": WIDGET_ORIGIN})
    assert_json_error(public, 403, "forbidden")  # a widget key files feedback but never reads it
    assert_json_error(service.client.get("/v1/feedback"), 401, "unauthorized")

    assert questions(service.get("/v1/feedback", "admin", rating="down")) == ["阿尔法的问题？"]
    assert questions(service.get("/v1/feedback", "admin", collection="beta")) == ["贝塔的问题？"]
    page = service.get("/v1/feedback", "admin", limit=1, offset=1)
    assert questions(page) == ["阿尔法的问题？"] and page.json()["total"] == 3
    assert_json_error(service.get("/v1/feedback", "admin", rating="meh"), 422, "invalid_request")


def test_marking_reviewed_keeps_the_feedback_file_as_it_was(service: Service) -> None:
    ids = seed(service)
    before = service.feedback.read_bytes()
    marked = service.post(f"/v1/feedback/{ids['alpha']}/review", "editor_alpha", {"reviewed": True})
    assert marked.status_code == 200, marked.text
    assert marked.json()["reviewed"] is True and marked.json()["reviewed_by"] == "editor-alpha"
    assert marked.json()["reviewed_at"] and marked.json()["question"] == "阿尔法的问题？"
    assert service.feedback.read_bytes() == before  # the marks live beside it
    [mark] = [json.loads(line) for line in reviews_path(service.feedback).read_text(encoding="utf-8").splitlines()]
    assert mark["feedback_id"] == ids["alpha"] and mark["reviewed"] is True

    assert questions(service.get("/v1/feedback", "admin", reviewed="true")) == ["阿尔法的问题？"]
    assert questions(service.get("/v1/feedback", "admin", reviewed="false")) == ["贝塔的问题？", "默认资料的问题？"]
    # another collection's record is not there for this editor; a reader may not review at all
    assert_json_error(service.post(f"/v1/feedback/{ids['beta']}/review", "editor_alpha", {}), 404, "feedback_not_found")
    assert_json_error(service.post(f"/v1/feedback/{ids['alpha']}/review", "reader_alpha", {}), 403, "forbidden")
    assert_json_error(service.post(f"/v1/feedback/{'0' * 32}/review", "admin", {}), 404, "feedback_not_found")
    assert_json_error(service.post("/v1/feedback/not-an-id/review", "admin", {}), 422, "invalid_request")
    assert_json_error(service.post(f"/v1/feedback/{ids['beta']}/review", "admin", {"reviewed": "yes"}),
                      422, "invalid_request")

    undone = service.post(f"/v1/feedback/{ids['alpha']}/review", "admin", {"reviewed": False})
    assert undone.json()["reviewed"] is False and undone.json()["reviewed_by"] == "admin"
    assert questions(service.get("/v1/feedback", "admin", reviewed="true")) == []
    audit = "".join(p.read_text(encoding="utf-8") for p in (service.data_dir / "audit").glob("*.jsonl"))
    assert audit.count('"feedback_review"') == 2


def test_a_changed_rating_is_listed_once(service: Service) -> None:
    store = FeedbackStore(service.feedback)
    first = record("改过评价的问题？", "up", "alpha")
    second = record("改过评价的问题？", "down", "alpha", comment="其实不对", supersedes=first["id"])
    store.append(first)
    store.append(second)
    [listed] = service.get("/v1/feedback", "admin").json()["feedback"]
    assert listed["id"] == second["id"] and listed["supersedes"] == first["id"]


def test_export_writes_the_lines_of_the_cli(service: Service) -> None:
    seed(service)
    cli = CliRunner().invoke(cli_app, ["feedback", "export", "--feedback", str(service.feedback)])
    assert cli.exit_code == 0, cli.output
    exported = service.get("/v1/feedback/export", "admin")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.text.splitlines() == cli.stdout.splitlines() and len(cli.stdout.splitlines()) == 3

    mine = [json.loads(line) for line in service.get("/v1/feedback/export", "editor_alpha").text.splitlines()]
    assert [(i["question"], i["collection"], i["needs_review"]) for i in mine] == [("阿尔法的问题？", "alpha", True)]
    gold = [json.loads(line) for line in service.get("/v1/feedback/export", "admin", rating="up").text.splitlines()]
    assert {i["question"] for i in gold} == {"默认资料的问题？", "贝塔的问题？"}
    assert all(i["answers"] == ["2018 年 6 月 6 日"] and i["doc_ids"] == ["d1"] for i in gold)
    assert_json_error(service.get("/v1/feedback/export", "reader_alpha"), 403, "forbidden")


def test_a_key_learns_its_own_role_and_collections(service: Service) -> None:
    editor = service.get("/v1/keys/me", "editor_alpha").json()
    assert editor == {"name": "editor-alpha", "role": "editor", "collections": ["alpha"],
                      "actions": ["ask", "read", "search", "write"], "open": False}
    assert service.get("/v1/keys/me", "admin").json()["collections"] == ["*"]
    assert "token" not in service.get("/v1/keys/me", "reader_alpha").text
    assert_json_error(service.client.get("/v1/keys/me"), 401, "unauthorized")
    assert_json_error(service.get("/v1/keys", "editor_alpha"), 403, "forbidden")  # the list stays admin-only


def test_the_upload_limit_is_in_the_collection(service: Service) -> None:
    assert service.post("/v1/collections", "admin", {"name": "alpha"}).status_code == 201
    assert service.get("/v1/collections/alpha", "editor_alpha").json()["max_upload_bytes"] == 64 * 1024
    assert service.get("/v1/collections/default", "admin").json()["max_upload_bytes"] is None


def test_open_service_caller_is_anonymous_admin(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", data_dir=tmp_path / "data",
                        feedback_path=tmp_path / "fb.jsonl")
    with TestClient(create_app(settings, qa_service=StubService())) as client:
        me = client.get("/v1/keys/me").json()
        assert me["open"] is True and me["role"] == "admin" and me["name"] == "anonymous"
        assert client.get("/v1/feedback").json() == {"feedback": [], "total": 0}  # no file yet
        assert client.get("/v1/feedback/export").text == ""


def test_the_manage_page_and_its_modules_are_served_under_the_page_policy(service: Service) -> None:
    page = service.client.get("/manage")  # no key: the page is open, what it shows is not
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert '<script type="module" src="web/manage.js">' in page.text and "<script>" not in page.text
    for asset, kind in (("manage.js", "application/javascript"), ("manage-i18n.js", "application/javascript"),
                        ("manage.css", "text/css")):
        response = service.client.get(f"/web/{asset}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind), asset
    script = service.client.get("/web/manage.js").text
    assert "innerHTML" not in script and "localStorage.setItem(CONFIG.keyStorage" not in script
    assert "sessionStorage.setItem(CONFIG.keyStorage" in script  # the key lives in the tab's session only
