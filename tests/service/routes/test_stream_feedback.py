"""/v1/ask/stream, /v1/examples, /v1/feedback, the chat pages, and `notesqa feedback export`.

Unit tests run the app in-process on a stub service; integration tests drive a real
`notesqa serve` on the sample index.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from evaluation.datasets import load_dataset
from service.app import create_app
from service.routes.stream import chunk_answer
from service.cli.main import app as cli_app
from service.errors import ParagraphNotFound
from service.domain.feedback import FeedbackRequest, FeedbackStore, export_items, new_record, to_eval_item
from service.schemas import AskResponse, DocumentList, DocumentSummary
from service.settings import Settings

OPENING_QUESTION = "资产追回工作组2018年的会议是哪天开幕的？"
OPENING_DOC = "000_eb96d92128743acc"
OFF_TOPIC_QUESTION = "今天北京天气怎么样？"
ALLOWED_ORIGIN = "http://intranet.example"
NOTESQA = Path(sys.executable).parent / "notesqa"


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def assert_json_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == code


# --- unit: chunking, export mapping -----------------------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize("text", [
    "2018 年 6 月 6 日。资产追回问题不限成员名额政府间工作组会议将于 2018 年 6 月 6 日星期三上午 10 时开幕。[1]",
    "第一句。[1]第二句很长很长很长很长很长很长很长很长很长很长很长很长很长很长。[2]第三句[12]",
    "资料中没有找到相关内容。",
    "x" * 95,
    "",
])
def test_chunks_join_back_and_never_cut_a_marker(text: str) -> None:
    chunks = chunk_answer(text, size=20)
    assert "".join(chunks) == text
    assert all(chunks)
    for chunk in chunks:
        # a marker is whole, and a chunk never starts with one (it stays with its sentence)
        assert not chunk.startswith("[") or not chunk[1:2].isdigit()
        assert chunk.count("[") == chunk.count("]")
        assert len(chunk) <= 20 + len("[12]")


def feedback_record(rating: str, abstained: bool, **extra) -> dict:
    answer = "资料中没有找到相关内容。" if abstained else "会议将于 2018 年 6 月 6 日星期三上午 10 时开幕。[1]"
    extra.setdefault("fact", None if abstained else "2018 年 6 月 6 日")
    citations = [] if abstained else [{
        "marker": 1, "doc_id": OPENING_DOC, "paragraph_id": "p1", "title": "t", "paragraph_number": None,
        "section": "说明", "quote": "会议将于 2018 年 6 月 6 日星期三上午 10 时开幕。…会议在维也纳举行。"}]
    return {"id": "a" * 32, "question": "会议哪天开幕？", "answer": answer, "abstained": abstained,
            "rating": rating, "comment": None, "citations": citations, "lang": "zh", **extra}


@pytest.mark.unit
def test_export_maps_ratings_to_evaluation_items() -> None:
    up = to_eval_item(feedback_record("up", False))
    assert up["answers"] == ["2018 年 6 月 6 日"]
    assert up["evidence"] == ["会议将于 2018 年 6 月 6 日星期三上午 10 时开幕。", "会议在维也纳举行。"]
    assert up["doc_ids"] == [OPENING_DOC]
    assert up["answerable"] is True and up["needs_review"] is False
    assert up["type"] == "feedback" and up["lang"] == "zh" and up["rating"] == "up"
    up_abstained = to_eval_item(feedback_record("up", True))
    assert up_abstained["answerable"] is False and up_abstained["evidence"] == [] and up_abstained["answers"] == []
    for abstained in (True, False):
        down = to_eval_item(feedback_record("down", abstained, comment="不对"))
        assert down["answerable"] is True and down["needs_review"] is True
        assert down["answers"] == down["evidence"] == down["doc_ids"] == []
        assert down["comment"] == "不对"


@pytest.mark.unit
def test_export_drops_superseded_records() -> None:
    first = feedback_record("up", False, id="1" * 32)
    second = feedback_record("down", False, id="2" * 32, supersedes="1" * 32, comment="日期不对")
    other = feedback_record("up", True, id="3" * 32)
    items = export_items([first, second, other])
    assert [i["id"] for i in items] == ["fb-" + "2" * 12, "fb-" + "3" * 12]
    assert [i["id"] for i in export_items([first, second, other], rating="up")] == ["fb-" + "3" * 12]


@pytest.mark.unit
def test_store_appends_whole_lines_from_many_threads(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "sub" / "feedback.jsonl")
    records = [{"id": f"{i:032x}", "question": f"问题{i}", "answer": "长" * 20_000} for i in range(64)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(store.append, records))
    lines = store.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 64
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(r["id"] for r in records)


@pytest.mark.unit
def test_store_does_not_glue_onto_a_cut_short_line(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    path.write_text('{"id": "x", "question": "q"}\n{"id": "cut', encoding="utf-8")
    store = FeedbackStore(path)
    store.append({"id": "y", "question": "下一条"})
    assert [r["id"] for r in store.read()] == ["x", "y"]


# --- unit: the app on a stub service ---------------------------------------------------------------

class StubParagraph:
    kind = "footnote"


class StubService:
    """Answers every question the same way (one citation); a question "boom" crashes."""

    def __init__(self) -> None:
        self.qa = None

    def ask(self, question: str, top_k: int = 5, doc_ids: list[str] | None = None, history=()) -> AskResponse:
        if not question.strip():
            from service.errors import EmptyQuestion
            raise EmptyQuestion("question is empty")
        if question == "boom":
            raise RuntimeError("secret detail")
        return AskResponse(answer="答案就是这个。第二句话也在这里，而且比较长一些。[1]", abstained=False, citations=[{
            "marker": 1, "doc_id": "d1", "title": "文档 <b>一</b>", "paragraph_id": "p1", "paragraph_number": None,
            "section": "说明", "text": "第二句话也在这里，而且比较长一些。",
            "quote": "第二句话也在这里，而且比较长一些。",
            "start": 0, "end": 10, "score": 1.0}])

    def paragraph(self, doc_id: str, paragraph_id: str) -> StubParagraph:
        if paragraph_id != "p1":
            raise ParagraphNotFound("no")
        return StubParagraph()

    def documents(self) -> DocumentList:
        return DocumentList(documents=[DocumentSummary(doc_id="d1", title="文档一", metadata={}, paragraphs=1)])


@pytest.fixture
def stub_client(tmp_path: Path) -> Iterator[TestClient]:
    examples = tmp_path / "examples.json"
    examples.write_text(json.dumps({"examples": [{"question": "有的吗？", "doc_ids": ["d1"]},
                                                 {"question": "没有的文档？", "doc_ids": ["d9"]},
                                                 "纯文本问题？"]}, ensure_ascii=False), encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", data_dir=tmp_path / "data", feedback_path=tmp_path / "fb.jsonl",
                        examples_path=examples, stream_delay_ms=0, cors_origins=[ALLOWED_ORIGIN])
    with TestClient(create_app(settings, qa_service=StubService()), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.unit
def test_stream_events_in_order(stub_client: TestClient) -> None:
    response = stub_client.post("/v1/ask/stream", json={"question": "问题"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "citations" and names[-1] == "done" and set(names[1:-1]) == {"delta"}
    assert events[0][1]["citations"][0]["kind"] == "footnote" and events[0][1]["abstained"] is False
    done = events[-1][1]
    assert "".join(data["text"] for name, data in events if name == "delta") == done["answer"]
    assert set(done) == {"answer", "abstained", "citations", "fact", "fact_citation", "confidence",
                         "resolved_question", "conversation_id", "closest", "engine", "unsupported", "engine_note"}
    assert "kind" not in done["citations"][0]


@pytest.mark.unit
@pytest.mark.parametrize("body, code", [
    ({"question": "   "}, "empty_question"),
    ({"question": "问题", "top_k": "5"}, "invalid_request"),
    ({}, "invalid_request"),
])
def test_stream_validation_errors_are_json_before_the_stream(stub_client: TestClient, body: dict, code: str) -> None:
    assert_json_error(stub_client.post("/v1/ask/stream", json=body), 422, code)


@pytest.mark.unit
def test_stream_answers_from_the_named_collection_only(stub_client: TestClient) -> None:
    assert_json_error(stub_client.post("/v1/ask/stream", json={"question": "问题", "collection": "nope"}),
                      404, "collection_not_found")
    assert stub_client.get("/v1/examples", params={"collection": "nope"}).status_code == 404


@pytest.mark.unit
def test_rate_limited_streams_tell_the_widget_how_long_to_wait(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", data_dir=tmp_path / "data", rate_limit_per_minute=1,
                        rate_limit_burst=1, cors_origins=[ALLOWED_ORIGIN])
    with TestClient(create_app(settings, qa_service=StubService())) as client:
        first = client.post("/v1/ask/stream", json={"question": "问题"}, headers={"Origin": ALLOWED_ORIGIN})
        second = client.post("/v1/ask/stream", json={"question": "问题"}, headers={"Origin": ALLOWED_ORIGIN})
    assert first.status_code == 200
    assert_json_error(second, 429, "rate_limited")
    assert int(second.headers["retry-after"]) > 0
    assert "retry-after" in second.headers["access-control-expose-headers"].lower()


@pytest.mark.unit
def test_stream_crash_is_an_opaque_json_500(stub_client: TestClient) -> None:
    response = stub_client.post("/v1/ask/stream", json={"question": "boom"})
    assert_json_error(response, 500, "internal_error")
    assert "secret" not in response.text


@pytest.mark.unit
def test_examples_skip_questions_about_documents_not_served(stub_client: TestClient) -> None:
    assert stub_client.get("/v1/examples").json() == {"examples": ["有的吗？", "纯文本问题？"]}


@pytest.mark.unit
@pytest.mark.parametrize("body, code", [
    ({"question": "问", "answer": "答"}, "invalid_request"),  # no rating
    ({"question": "问", "answer": "答", "rating": "meh"}, "invalid_request"),
    ({"question": " ", "answer": "答", "rating": "up"}, "empty_question"),
    ({"question": "问" * 2001, "answer": "答", "rating": "up"}, "question_too_long"),
    ({"question": "问", "answer": "答", "rating": "up", "comment": "x" * 2001}, "invalid_request"),
    ({"question": "问", "answer": "答", "rating": "up", "supersedes": "../etc"}, "invalid_request"),
    ({"question": "问", "answer": "答", "rating": "up", "citations": [{"doc_id": "d1"}]}, "invalid_request"),
    ({"question": "问\u0000", "answer": "答", "rating": "up"}, "invalid_request"),
])
def test_feedback_validation(stub_client: TestClient, body: dict, code: str, tmp_path: Path) -> None:
    assert_json_error(stub_client.post("/v1/feedback", json=body), 422, code)
    assert not (tmp_path / "fb.jsonl").exists()


@pytest.mark.unit
def test_feedback_is_stored(stub_client: TestClient, tmp_path: Path) -> None:
    body = {"question": "问题？", "answer": "资料中没有找到相关内容。", "rating": "down", "comment": " 应该有答案 ",
            "citations": []}
    response = stub_client.post("/v1/feedback", json=body, headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    feedback_id = response.json()["id"]
    [record] = [json.loads(line) for line in (tmp_path / "fb.jsonl").read_text(encoding="utf-8").splitlines()]
    assert record["id"] == feedback_id
    assert record["abstained"] is True  # inferred from the answer text
    assert record["comment"] == "应该有答案" and record["origin"] == ALLOWED_ORIGIN and record["lang"] == "zh"


@pytest.mark.unit
def test_pages_and_assets(stub_client: TestClient) -> None:
    widget = stub_client.get("/widget.js")
    assert widget.status_code == 200 and widget.headers["content-type"].startswith("application/javascript")
    assert "attachShadow" in widget.text and "innerHTML" not in widget.text
    for path in ("/", "/documents/d1"):
        page = stub_client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert stub_client.get("/documents/nope").status_code == 404
    assert "innerHTML" not in stub_client.get("/web/viewer.js").text
    assert stub_client.get("/web/pages.css").headers["content-type"].startswith("text/css")
    assert stub_client.get("/web/index.html").status_code == 404


# --- integration: a real server on the sample index ---------------------------------------------------

@pytest.fixture(scope="module")
def chat_server(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from service.local_server import LocalServer

    folder = tmp_path_factory.mktemp("chat-server")
    feedback = folder / "feedback.jsonl"
    env = {"NOTESQA_FEEDBACK_PATH": str(feedback), "NOTESQA_CORS_ORIGINS": ALLOWED_ORIGIN,
           "NOTESQA_DATA_DIR": str(folder / "data")}
    with LocalServer(sample_index, env=env, log_path=folder / "serve.log") as server:
        yield server.url, feedback


@pytest.fixture(scope="module")
def chat(chat_server: tuple[str, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=chat_server[0], timeout=60) as client:
        yield client


def stream(client: httpx.Client, question: str, **headers: str) -> tuple[httpx.Response, list[tuple[str, dict]]]:
    with client.stream("POST", "/v1/ask/stream", json={"question": question}, headers=headers) as response:
        text = response.read().decode("utf-8")
    return response, parse_sse(text) if response.status_code == 200 else []


@pytest.mark.integration
@pytest.mark.slow
def test_stream_matches_ask(chat: httpx.Client) -> None:
    response, events = stream(chat, OPENING_QUESTION, Origin=ALLOWED_ORIGIN)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    names = [name for name, _ in events]
    assert names[0] == "citations" and names[-1] == "done"
    assert names.count("delta") >= 2 and set(names[1:-1]) == {"delta"}
    done = events[-1][1]
    asked = chat.post("/v1/ask", json={"question": OPENING_QUESTION}).json()
    # each answer starts a conversation of its own; all the rest is the same
    assert {**done, "conversation_id": None} == {**asked, "conversation_id": None}
    assert "".join(data["text"] for name, data in events if name == "delta") == done["answer"]
    assert "6月6日" in "".join(done["answer"].split())
    citations = events[0][1]["citations"]
    assert [c["paragraph_id"] for c in citations] == [c["paragraph_id"] for c in done["citations"]]
    assert citations[0]["doc_id"] == OPENING_DOC and citations[0]["kind"] in {"paragraph", "table_row"}


@pytest.mark.integration
@pytest.mark.slow
def test_stream_of_an_abstention(chat: httpx.Client) -> None:
    _, events = stream(chat, OFF_TOPIC_QUESTION)
    assert events[0] == ("citations", {"citations": [], "abstained": True})
    assert events[-1][1]["abstained"] is True and events[-1][1]["citations"] == []


@pytest.mark.integration
@pytest.mark.slow
def test_stream_refuses_other_origins_and_bad_input(chat: httpx.Client) -> None:
    preflight = chat.options("/v1/ask/stream", headers={"Origin": "http://evil.example",
                                                        "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    assert_json_error(chat.post("/v1/ask/stream", json={"question": ""}), 422, "empty_question")
    assert_json_error(chat.post("/v1/ask/stream", json={"question": "问", "top_k": 0}), 422, "top_k_out_of_range")


@pytest.mark.integration
@pytest.mark.slow
def test_examples_come_from_the_corpus(chat: httpx.Client) -> None:
    examples = chat.get("/v1/examples").json()["examples"]
    assert len(examples) == 4 and OPENING_QUESTION in examples


@pytest.mark.integration
@pytest.mark.slow
def test_concurrent_feedback_posts_do_not_interleave(chat: httpx.Client, chat_server: tuple[str, Path]) -> None:
    feedback = chat_server[1]
    before = feedback.read_text(encoding="utf-8").count("\n") if feedback.exists() else 0
    long_answer = "答案。" * 5000  # 15,000 characters: large writes are where interleaving would show

    def post(i: int) -> str:
        response = chat.post("/v1/feedback", json={"question": f"并发问题 {i}？", "answer": long_answer,
                                                   "rating": "up" if i % 2 else "down"})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    with ThreadPoolExecutor(12) as pool:
        ids = list(pool.map(post, range(48)))
    lines = feedback.read_text(encoding="utf-8").splitlines()[before:]
    assert len(lines) == 48
    records = [json.loads(line) for line in lines]
    assert sorted(r["id"] for r in records) == sorted(ids)
    assert all(r["answer"] == long_answer for r in records)


@pytest.mark.integration
@pytest.mark.slow
def test_feedback_export_makes_an_evaluation_dataset(chat: httpx.Client, tmp_path: Path) -> None:
    feedback = tmp_path / "feedback.jsonl"
    answer = chat.post("/v1/ask", json={"question": OPENING_QUESTION}).json()
    abstention = chat.post("/v1/ask", json={"question": OFF_TOPIC_QUESTION}).json()
    store = FeedbackStore(feedback)
    up = new_record(FeedbackRequest(question=OPENING_QUESTION, answer=answer["answer"], fact=answer["fact"],
                                    rating="up", abstained=False, citations=answer["citations"]))
    agreed = new_record(FeedbackRequest(question=OFF_TOPIC_QUESTION, answer=abstention["answer"], rating="up"))
    down = new_record(FeedbackRequest(question="第八届会议在哪里开？", answer=abstention["answer"], rating="down",
                                      comment="应该是阿布扎比"))
    for record in (up, agreed, down):
        store.append(record)
    out = tmp_path / "out" / "feedback_dev.jsonl"
    result = subprocess.run([str(NOTESQA), "feedback", "export", "--feedback", str(feedback), "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Exported 3 question(s)" in result.stderr
    items = {item.question: item for item in load_dataset(out)}  # the evaluation loader reads it
    gold = items[OPENING_QUESTION]
    assert gold.answerable and gold.type == "feedback" and gold.doc_ids == [OPENING_DOC]
    assert gold.answers == [answer["fact"]] and "6月6日" in "".join(answer["fact"].split())
    assert gold.evidence and all("".join(e.split()) in "".join(answer["answer"].split()) for e in gold.evidence)
    assert items[OFF_TOPIC_QUESTION].answerable is False
    raw = {json.loads(line)["question"]: json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()}
    review = raw["第八届会议在哪里开？"]
    assert review["needs_review"] is True and review["comment"] == "应该是阿布扎比"


@pytest.mark.integration
def test_feedback_export_cli_errors_and_stdout(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli_app, ["feedback", "export", "--feedback", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 1 and "no feedback file" in missing.output
    feedback = tmp_path / "fb.jsonl"
    FeedbackStore(feedback).append(feedback_record("up", False))
    bad = runner.invoke(cli_app, ["feedback", "export", "--feedback", str(feedback), "--rating", "meh"])
    assert bad.exit_code == 2
    ok = runner.invoke(cli_app, ["feedback", "export", "--feedback", str(feedback)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout.splitlines()[0])["answers"] == ["2018 年 6 月 6 日"]
    # without --feedback the file next to the index folder is used
    (tmp_path / "idx").mkdir()
    FeedbackStore(tmp_path / "feedback.jsonl").append(feedback_record("down", True))
    default = runner.invoke(cli_app, ["feedback", "export", "--index", str(tmp_path / "idx")])
    assert default.exit_code == 0 and json.loads(default.stdout)["needs_review"] is True


@pytest.mark.integration
@pytest.mark.slow
def test_pages_are_served(chat: httpx.Client) -> None:
    assert chat.get("/widget.js").headers["content-type"].startswith("application/javascript")
    assert chat.get(f"/documents/{OPENING_DOC}").status_code == 200
    assert chat.get("/documents/missing").status_code == 404
    assert 'src="widget.js"' in chat.get("/").text
