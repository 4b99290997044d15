"""The widget with the optional LLM engine, in a real Chromium: an answer the language model wrote is marked
as such, and a fallback to the extracted answer is said (the service's `engine` / `engine_note`)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.local_server import LocalServer, free_port
from tests.service.test_llm_integration import ANSWERED, LLM_TIMEOUT_S, start_llm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WIDGET = "notesqa-chat"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect
    return playwright_expect(target)


def chat_answer(browser: Any, service: str) -> Any:
    context = browser.new_context(viewport={"width": 1100, "height": 860}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{service}/")
    page.locator(f"{WIDGET} .composer textarea").fill(ANSWERED)
    page.keyboard.press("Enter")
    expect(page.locator(f"{WIDGET} .turn .actions").last).to_be_visible(timeout=300_000)
    return page.locator(f"{WIDGET} .turn").last


def serve(index: Path, llm_url: str, folder: Path) -> LocalServer:
    return LocalServer(index, log_path=folder / "serve.log", env={
        "NOTESQA_LLM_BASE_URL": llm_url, "NOTESQA_LLM_TIMEOUT_S": LLM_TIMEOUT_S, "NOTESQA_STREAM_DELAY_MS": "0",
        "NOTESQA_DATA_DIR": str(folder / "data")})


def test_a_fallback_to_the_extracted_answer_is_said(browser: Any, sample_index: Path, tmp_path: Path) -> None:
    with serve(sample_index, f"http://127.0.0.1:{free_port()}/v1", tmp_path) as server:  # nothing listens
        turn = chat_answer(browser, server.url)
        expect(turn.locator(".engine")).to_have_text("语言模型这次没有作答，显示的是摘录答案。")
        expect(turn.locator(".answer")).to_contain_text("2009")


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    server = start_llm()
    yield server.url
    server.stop()


@pytest.mark.llm
def test_an_answer_the_model_wrote_is_marked_as_such(browser: Any, sample_index: Path, llm_url: str,
                                                      tmp_path: Path) -> None:
    with serve(sample_index, llm_url, tmp_path) as server:
        turn = chat_answer(browser, server.url)
        expect(turn.locator(".engine")).to_contain_text("由语言模型根据引用段落写成")
        assert turn.locator(".chip").count() >= 1
