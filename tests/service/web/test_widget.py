"""The chat widget, the full-page chat and the source viewer, driven in a real Chromium.

The widget is embedded by an intranet-like page on a second loopback origin (allowed by
NOTESQA_CORS_ORIGINS), and by a third origin that is not allowed.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from service.domain.keys import KeyStore
from service.domain.feedback import FeedbackStore, export_items
from service.local_server import LocalServer
from tests.service.web.harness import OPENING_QUESTION, HostPage, record_stream_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WIDGET = "notesqa-chat"
ACCENT_RGB = "rgb(11, 110, 79)"  # data-accent="#0b6e4f" on the host page
XSS_QUESTION = "安全测试委员会第一次会议是哪天开幕的？"
SCRIPT_TEXT = "<script>window.__xss=1</script>"
IMG_TEXT = '<img src=x onerror="window.__xss=1">'
TITLE_TEXT = '<img src=x onerror="window.__xss=2">'
XSS_NOTE = f"""# 安全测试委员会会议记录

## 一、会议安排

1. 安全测试委员会第一次会议于 2024 年 3 月 5 日在日内瓦开幕，会议讨论了网页中 {SCRIPT_TEXT} 标签的显示方式。

2. 委员会还审议了 {IMG_TEXT} 这种图片标签，决定一律按纯文本显示。

## 二、其他事项

3. 下一次会议将于 2024 年 9 月 10 日举行。
"""


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect
    return playwright_expect(target)


@dataclass
class Site:
    service: str
    allowed: HostPage
    denied: HostPage
    feedback: Path
    log: Path


def serve_with_host_pages(index_dir: Path, folder: Path) -> Iterator[Site]:
    allowed, denied = HostPage().start(), HostPage().start()
    feedback = folder / "feedback.jsonl"
    env = {"NOTESQA_CORS_ORIGINS": allowed.origin, "NOTESQA_FEEDBACK_PATH": str(feedback),
           "NOTESQA_DATA_DIR": str(folder / "data")}
    try:
        with LocalServer(index_dir, env=env, log_path=folder / "serve.log") as server:
            allowed.service = denied.service = server.url
            yield Site(server.url, allowed, denied, feedback, folder / "serve.log")
    finally:
        allowed.stop()
        denied.stop()


@pytest.fixture(scope="module")
def site(browser: Any, sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from serve_with_host_pages(sample_index, tmp_path_factory.mktemp("widget-site"))


@pytest.fixture(scope="module")
def xss_site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A one-note corpus whose text and title hold HTML that must never run."""
    from index.builder import build_index

    corpus = tmp_path_factory.mktemp("xss-corpus")
    (corpus / "900_security.md").write_text(XSS_NOTE, encoding="utf-8")
    (corpus / "metadata.json").write_text(json.dumps(
        {"documents": {"900_security.md": {"title": f"安全测试 {TITLE_TEXT} 记录", "date": "2024-03-05"}}},
        ensure_ascii=False), encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("xss-index")
    build_index(corpus, index_dir, show_progress=False)
    yield from serve_with_host_pages(index_dir, tmp_path_factory.mktemp("xss-site"))


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    yield ctx
    ctx.close()


def watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def ask(page: Any, question: str) -> None:
    page.locator(f"{WIDGET} .composer textarea").fill(question)
    page.keyboard.press("Enter")


def wait_for_answer(page: Any) -> None:
    expect(page.locator(f"{WIDGET} .turn .actions").last).to_be_visible(timeout=60_000)


def in_viewport(page: Any, element_id: str) -> bool:
    return page.evaluate("""id => {
        const r = document.getElementById(id).getBoundingClientRect();
        return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
    }""", element_id)


def test_widget_streams_an_answer_and_opens_the_cited_paragraph(site: Site, context: Any,
                                                                 artifacts_dir: Path) -> None:
    page = context.new_page()
    errors = watch_errors(page)
    record_stream_events(page)
    page.goto(site.allowed.origin)
    launcher = page.locator(f"{WIDGET} .launcher")
    # the host page's `button { background: hotpink !important }` does not reach into the widget
    assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == ACCENT_RGB
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    dialog = page.get_by_role("dialog", name="资料问答助手")
    expect(dialog).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.locator(f"{WIDGET} [role=log]")).to_have_attribute("aria-live", "polite")
    expect(page.locator(f"{WIDGET} .ex")).to_have_count(4)  # the corpus's example questions

    ask(page, OPENING_QUESTION)
    wait_for_answer(page)
    events = page.evaluate("window.__events")
    assert events[0] == "citations" and events[-1] == "done", events
    assert events.count("delta") >= 2, events  # the answer arrived in pieces before `done`
    answer = page.locator(f"{WIDGET} .turn .answer").last
    assert "6月6日" in "".join(answer.inner_text().split())
    chip = page.locator(f"{WIDGET} .chip").first
    # named by what sets its title apart from the other notes' (资产追回…工作组 opens two titles); the
    # cited paragraph has no printed number, so its section: "说明" alone would say nothing
    expect(chip).to_have_attribute("title", re.compile(r"^资产追回问题不限成员名额政府间工作组临时议程说明"))
    expect(chip.locator(".t")).to_have_text(re.compile(r"^临时议程说明（2018年.*…$"))
    expect(chip.locator(".loc")).to_have_text("· 临时议程说明 › 说明")

    chip.hover()  # hovering previews the quoted sentence inside its paragraph
    preview = page.locator(f"{WIDGET} .preview")
    expect(preview).to_be_visible()
    expect(preview.locator("mark")).to_contain_text(re.compile(r"6\s*月\s*6\s*日.*开幕"))  # the cited unit
    page.screenshot(path=str(artifacts_dir / "widget.png"))

    page.mouse.move(5, 5)  # off the chip: its preview (floating over the answer) closes
    expect(preview).to_be_hidden()
    page.locator(f"{WIDGET} .marker").first.click()  # a [1] marker pins its citation
    expect(chip).to_have_attribute("aria-expanded", "true")
    link = preview.locator("a.source-link")
    paragraph_id = link.get_attribute("data-paragraph")
    with context.expect_page() as opened:
        link.click()
    viewer = opened.value
    viewer_errors = watch_errors(viewer)
    viewer.wait_for_selector("html[data-ready=true]")
    assert viewer.url.startswith(f"{site.service}/documents/000_eb96d92128743acc?q=")
    target = viewer.locator(f"[id='{paragraph_id}']")
    expect(target).to_have_class(re.compile(r"\bhighlight\b"))
    assert in_viewport(viewer, paragraph_id)
    expect(target.locator("mark")).to_have_text(re.compile(r"6\s*月\s*6\s*日.*开幕"))
    expect(viewer.locator("h1")).to_contain_text("资产追回问题不限成员名额政府间工作组临时议程说明")
    assert viewer.locator("h2, h3, h4").count() > 3 and viewer.locator("table.rows tr").count() >= 8
    expect(viewer.locator("aside.footnote").first).to_contain_text("脚注")
    viewer.screenshot(path=str(artifacts_dir / "viewer.png"))
    assert not errors and not viewer_errors


def test_a_public_key_widget_opens_the_source_viewer_through_a_view_link(browser: Any, sample_index: Path,
                                                                          tmp_path_factory: pytest.TempPathFactory
                                                                          ) -> None:
    """With keys required the viewer page has no key of its own: the citation's signed link opens it."""
    folder = tmp_path_factory.mktemp("keyed-site")
    with HostPage() as host:
        _, token = KeyStore(folder / "data" / "keys.json").create("portal", "public", ["default"], [host.origin])
        host.extra = f'data-api-key="{token}"'
        env = {"NOTESQA_CORS_ORIGINS": host.origin, "NOTESQA_DATA_DIR": str(folder / "data")}
        with LocalServer(sample_index, env=env, log_path=folder / "serve.log") as server:
            host.service = server.url
            ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
            try:
                page = ctx.new_page()
                page.goto(host.origin)
                page.locator(f"{WIDGET} .launcher").click()
                ask(page, OPENING_QUESTION)
                wait_for_answer(page)
                page.locator(f"{WIDGET} .marker").first.click()
                link = page.locator(f"{WIDGET} .preview a.source-link")
                assert "view=" in link.get_attribute("href")
                paragraph_id = link.get_attribute("data-paragraph")
                with ctx.expect_page() as opened:
                    link.click()
                viewer = opened.value
                viewer.wait_for_selector("html[data-ready=true]")
                expect(viewer.locator(f"[id='{paragraph_id}']")).to_have_class(re.compile(r"\bhighlight\b"))

                without_link = ctx.new_page()  # the same page without the signed token is refused
                without_link.goto(re.sub(r"[?&]view=[^&#]*", "", viewer.url))
                expect(without_link.locator(".status.error")).to_contain_text("访问密钥")
            finally:
                ctx.close()


def test_widget_keyboard_focus_trap_and_escape(site: Site, context: Any) -> None:
    page = context.new_page()
    page.goto(site.allowed.origin)
    page.keyboard.press("Tab")  # the launcher is the page's only focusable element
    active = "() => { const r = document.querySelector('notesqa-chat').shadowRoot; return r.activeElement; }"
    assert page.evaluate(f"({active})().className") == "launcher"
    page.keyboard.press("Enter")
    assert page.evaluate(f"({active})().tagName") == "TEXTAREA"  # opening focuses the input
    inside = f"() => {{ const a = ({active})(); return !!a && a.closest('.panel') !== null; }}"
    for _ in range(8):  # Tab cycles inside the dialog
        page.keyboard.press("Tab")
        assert page.evaluate(inside)
        assert page.evaluate(f"getComputedStyle(({active})()).outlineStyle") != "none"  # visible focus
    for _ in range(3):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(inside)
    page.keyboard.press("Escape")
    expect(page.locator(f"{WIDGET} .panel")).to_be_hidden()
    assert page.evaluate(f"({active})().className") == "launcher"


def test_errors_show_a_retry_button(site: Site, context: Any) -> None:
    page = context.new_page()
    page.goto(site.allowed.origin)
    page.locator(f"{WIDGET} .launcher").click()
    cors = {"Access-Control-Allow-Origin": site.allowed.origin, "Access-Control-Expose-Headers": "Retry-After",
            "Content-Type": "application/json", "Retry-After": "7"}
    page.route("**/v1/ask/stream", lambda route: route.fulfill(
        status=429, headers=cors, body='{"code": "rate_limited", "message": "too many requests"}'))
    ask(page, OPENING_QUESTION)
    error = page.locator(f"{WIDGET} .a.error")
    expect(error).to_contain_text("7 秒后再试")
    expect(error).to_have_attribute("role", "alert")
    page.unroute("**/v1/ask/stream")
    error.locator("button.retry").click()
    wait_for_answer(page)
    expect(page.locator(f"{WIDGET} .a.error")).to_have_count(0)
    expect(page.locator(f"{WIDGET} .chip").first).to_be_visible()


def test_an_origin_that_is_not_allowed_is_named_not_taken_for_an_outage(site: Site, context: Any) -> None:
    page = context.new_page()
    record_stream_events(page)
    page.goto(site.denied.origin)
    page.locator(f"{WIDGET} .launcher").click()
    ask(page, OPENING_QUESTION)
    error = page.locator(f"{WIDGET} .a.error")
    expect(error).to_contain_text("此页面的来源未获准使用问答服务")
    expect(error).to_contain_text(site.denied.origin)
    expect(error).not_to_contain_text("无法连接")
    expect(error.locator("button.retry")).to_have_count(0)  # retrying cannot succeed
    expect(page.locator(f"{WIDGET} .chip")).to_have_count(0)
    assert "done" not in page.evaluate("window.__events")
    assert "6 月 6 日" not in page.locator(f"{WIDGET} .log").inner_text()
    app_source = (Path(__file__).resolve().parents[3] / "service" / "app.py").read_text(encoding="utf-8")
    if "CorsRefusalLogMiddleware" in app_source:  # the server names the setting to change
        log = site.log.read_text(encoding="utf-8", errors="replace")
        assert f"refused a cross-origin request from {site.denied.origin}" in log and "NOTESQA_CORS_ORIGINS" in log


def test_an_outage_still_offers_a_retry(site: Site, context: Any) -> None:
    page = context.new_page()
    page.goto(site.allowed.origin)
    page.locator(f"{WIDGET} .launcher").click()
    page.route("**/v1/ask/stream", lambda route: route.abort("connectionrefused"))
    page.route("**/healthz", lambda route: route.abort("connectionrefused"))
    ask(page, OPENING_QUESTION)
    error = page.locator(f"{WIDGET} .a.error")
    expect(error).to_contain_text("无法连接到问答服务")
    expect(error.locator("button.retry")).to_be_visible()


def test_the_launcher_icon_has_enough_contrast(site: Site, context: Any) -> None:
    page = context.new_page()
    page.goto(site.allowed.origin)
    colours = page.locator(f"{WIDGET} .launcher").evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")

    def luminance(css: str) -> float:
        channels = [int(v) / 255 for v in re.findall(r"\d+", css)[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(colours[0]), luminance(colours[1])), reverse=True)
    assert (high + 0.05) / (low + 0.05) >= 4.5, colours


def test_narrow_screen_layout(site: Site, browser: Any, artifacts_dir: Path) -> None:
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN", has_touch=True)
    try:
        page = ctx.new_page()
        page.goto(site.allowed.origin)
        page.locator(f"{WIDGET} .launcher").click()
        ask(page, "全球联络点举措是哪年哪月启动的？")
        wait_for_answer(page)
        page.locator(f"{WIDGET} .chip").first.tap()  # tapping previews the citation
        expect(page.locator(f"{WIDGET} .preview mark")).to_be_visible()
        expect(page.locator(f"{WIDGET} .chip .loc").first).to_have_text("· 第66段")
        box = page.locator(f"{WIDGET} .panel").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["y"] >= 0 and box["y"] + box["height"] <= 740
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        for part in (".panel", ".log", ".turn .a"):
            assert page.locator(f"{WIDGET} {part}").last.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), part
        send = page.locator(f"{WIDGET} .send").bounding_box()
        assert send["x"] + send["width"] <= 360
        page.screenshot(path=str(artifacts_dir / "widget-360.png"))
    finally:
        ctx.close()


def test_full_page_chat_keeps_the_conversation_and_collects_feedback(site: Site, browser: Any) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.service)
    try:
        page = ctx.new_page()
        errors = watch_errors(page)
        page.goto(f"{site.service}/")
        expect(page.get_by_role("region", name="NotesQA 资料问答")).to_be_visible()
        expect(page.locator(f"{WIDGET} .launcher")).to_have_count(0)
        page.locator(f"{WIDGET} .ex", has_text=OPENING_QUESTION).click()
        wait_for_answer(page)

        page.get_by_role("button", name="复制答案和引用").click()
        expect(page.locator(f"{WIDGET} .note")).to_have_text("已复制")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert "6月6日" in "".join(copied.split("\n\n")[0].split())
        assert re.search(r"\n\n\[1\] 临时议程说明（2018年\S*… 临时议程说明 › 说明\n", copied), copied
        assert f"\n{site.service}/documents/000_eb96d92128743acc#" in copied and "q=" not in copied, copied

        page.get_by_role("button", name="没有帮助").click()
        expect(page.locator(f"{WIDGET} .note")).to_have_text("谢谢反馈！")
        comment = page.locator(f"{WIDGET} form.comment textarea")
        expect(comment).to_be_focused()
        comment.fill("希望同时给出闭幕日期")
        page.locator(f"{WIDGET} form.comment button").click()
        expect(page.locator(f"{WIDGET} form.comment")).to_be_hidden()
        records = list(FeedbackStore(site.feedback).read())
        assert [r["rating"] for r in records[-2:]] == ["down", "down"]
        assert records[-1]["supersedes"] == records[-2]["id"] and records[-1]["comment"] == "希望同时给出闭幕日期"
        assert records[-1]["citations"][0]["doc_id"] == "000_eb96d92128743acc"
        [item] = [i for i in export_items(records) if i["comment"] == "希望同时给出闭幕日期"]
        assert item["question"] == OPENING_QUESTION and item["needs_review"] is True

        page.reload()  # the conversation lasts for the browser session
        expect(page.locator(f"{WIDGET} .turn")).to_have_count(1)
        expect(page.locator(f"{WIDGET} .turn .answer")).to_contain_text(re.compile(r"6\s*月\s*6\s*日"))
        expect(page.get_by_role("button", name="没有帮助")).to_have_attribute("aria-pressed", "true")
        page.get_by_role("button", name="新对话").click()
        expect(page.locator(f"{WIDGET} .turn")).to_have_count(0)
        assert not errors
    finally:
        ctx.close()


def test_the_viewer_asks_about_its_own_document_only(site: Site, context: Any) -> None:
    other = "001_2e16e2347a6d47f4"  # not the document that answers the opening question
    viewer = context.new_page()
    errors = watch_errors(viewer)
    viewer.goto(f"{site.service}/documents/{other}")
    viewer.wait_for_selector("html[data-ready=true]")
    title = viewer.locator("h1").inner_text()
    link = viewer.get_by_role("link", name="就本文提问")
    expect(link).to_be_visible()
    link.click()
    viewer.wait_for_url(re.compile(r"/\?doc="))
    expect(viewer.locator(f"{WIDGET} .scope")).to_have_text(f"只在《{title}》中查找答案。")
    expect(viewer.locator(f"{WIDGET} .ex")).to_have_count(0)  # the examples are about all the notes
    bodies: list[dict] = []
    viewer.on("request", lambda r: bodies.append(json.loads(r.post_data)) if r.url.endswith("/v1/ask/stream") else None)
    ask(viewer, OPENING_QUESTION)
    wait_for_answer(viewer)
    assert [b.get("doc_ids") for b in bodies] == [[other]]
    chips = viewer.locator(f"{WIDGET} .chip")
    for i in range(chips.count()):  # whatever it found, it found in this document
        expect(chips.nth(i)).to_have_attribute("title", re.compile("^" + re.escape(title)))
    assert not errors


def test_document_text_is_shown_as_text_and_never_run(xss_site: Site, context: Any) -> None:
    page = context.new_page()
    page.goto(xss_site.allowed.origin)
    page.locator(f"{WIDGET} .launcher").click()
    ask(page, XSS_QUESTION)
    wait_for_answer(page)
    assert "2024 年 3 月 5 日" in page.locator(f"{WIDGET} .turn .answer").inner_text()
    page.locator(f"{WIDGET} .chip").first.click()
    preview = page.locator(f"{WIDGET} .preview")
    expect(preview).to_contain_text(TITLE_TEXT)
    expect(preview.locator(".pv-text")).to_contain_text(SCRIPT_TEXT)  # the paragraph's markup shown as text
    shadow_elements = "() => document.querySelector('notesqa-chat').shadowRoot.querySelectorAll('script, img').length"
    assert page.evaluate(shadow_elements) == 0
    assert page.evaluate("typeof window.__xss") == "undefined"

    with context.expect_page() as opened:
        preview.locator("a.source-link").click()
    viewer = opened.value
    viewer.wait_for_selector("html[data-ready=true]")
    body = viewer.locator("#doc").inner_text()
    assert SCRIPT_TEXT in body and IMG_TEXT in body and TITLE_TEXT in body
    assert viewer.evaluate("document.querySelectorAll('#doc script, #doc img').length") == 0
    assert TITLE_TEXT in viewer.title()
    assert viewer.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("typeof window.__xss") == "undefined"


FOLLOW_UP_FIRST = "缔约国会议第八届会议在哪个城市开？"
FOLLOW_UP = "那第一届呢？"


def ask_bodies(page: Any) -> list[dict]:
    """The JSON bodies of the page's /v1/ask/stream requests, as they are sent."""
    bodies: list[dict] = []
    page.on("request", lambda r: bodies.append(json.loads(r.post_data))
            if r.url.endswith("/v1/ask/stream") and r.method == "POST" else None)
    return bodies


def test_a_follow_up_is_asked_with_the_conversation_so_far(site: Site, context: Any) -> None:
    page = context.new_page()
    errors = watch_errors(page)
    bodies = ask_bodies(page)
    page.goto(site.allowed.origin)
    page.locator(f"{WIDGET} .launcher").click()
    ask(page, FOLLOW_UP_FIRST)
    wait_for_answer(page)
    first_answer = page.locator(f"{WIDGET} .turn .answer").last.inner_text()
    expect(page.locator(f"{WIDGET} .turn .resolved")).to_have_count(0)  # a full question is answered as asked
    ask(page, FOLLOW_UP)
    expect(page.locator(f"{WIDGET} .turn .actions")).to_have_count(2, timeout=60_000)

    assert len(bodies) == 2 and "history" not in bodies[0], bodies
    [earlier] = bodies[1]["history"]
    assert earlier["question"] == FOLLOW_UP_FIRST
    assert earlier["answer"] and "".join(earlier["answer"].split())[:10] in "".join(first_answer.split())
    assert isinstance(earlier["paragraph_ids"], list) and all(isinstance(p, str) for p in earlier["paragraph_ids"])
    resolved = page.locator(f"{WIDGET} .turn").last.locator(".resolved")
    expect(resolved).to_contain_text("回答的是：")
    expect(resolved).to_contain_text("第一届")
    expect(page.locator(f"{WIDGET} .turn").first.locator(".resolved")).to_have_count(0)

    page.get_by_role("button", name="新对话").click()  # a new conversation starts without history
    expect(page.locator(f"{WIDGET} .turn")).to_have_count(0)
    ask(page, FOLLOW_UP_FIRST)
    wait_for_answer(page)
    assert len(bodies) == 3 and "history" not in bodies[2], bodies
    assert not errors


def test_an_errored_turn_is_not_sent_as_history(site: Site, context: Any) -> None:
    page = context.new_page()
    bodies = ask_bodies(page)
    page.goto(site.allowed.origin)
    page.locator(f"{WIDGET} .launcher").click()
    page.route("**/v1/ask/stream", lambda route: route.abort("connectionrefused"))
    page.route("**/healthz", lambda route: route.abort("connectionrefused"))
    ask(page, FOLLOW_UP_FIRST)
    expect(page.locator(f"{WIDGET} .a.error")).to_be_visible()
    page.unroute("**/v1/ask/stream")
    page.unroute("**/healthz")
    ask(page, OPENING_QUESTION)
    wait_for_answer(page)
    assert [("history" in b) for b in bodies] == [False, False], bodies


def contrast(foreground: str, background: str) -> float:
    def luminance(css: str) -> float:
        channels = [int(v) / 255 for v in re.findall(r"\d+", css)[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def is_dark(css: str) -> bool:
    return contrast(css, "rgb(0, 0, 0)") < 2  # close to black


STYLE = "(e, p) => getComputedStyle(e)[p]"


def test_dark_mode_follows_the_system_setting(site: Site, browser: Any, artifacts_dir: Path) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN", color_scheme="dark")
    try:
        page = ctx.new_page()
        page.goto(site.allowed.origin)
        launcher = page.locator(f"{WIDGET} .launcher")
        assert launcher.evaluate(STYLE, "backgroundColor") == ACCENT_RGB  # the accent stays the accent
        assert contrast(launcher.evaluate(STYLE, "color"), ACCENT_RGB) >= 4.5
        launcher.click()
        panel = page.locator(f"{WIDGET} .panel")
        assert is_dark(panel.evaluate(STYLE, "backgroundColor"))
        log_bg = page.locator(f"{WIDGET} .log").evaluate(STYLE, "backgroundColor")
        assert is_dark(log_bg)
        expect(page.locator(f"{WIDGET} .ex").first).to_be_visible()  # the log is re-drawn once they arrive
        greeting = page.locator(f"{WIDGET} .greeting")
        assert contrast(greeting.evaluate(STYLE, "color"), greeting.evaluate(STYLE, "backgroundColor")) >= 4.5
        ask(page, OPENING_QUESTION)
        wait_for_answer(page)
        answer_box = page.locator(f"{WIDGET} .turn .a").last
        box_bg = answer_box.evaluate(STYLE, "backgroundColor")
        assert is_dark(box_bg)
        assert contrast(page.locator(f"{WIDGET} .turn .answer").last.evaluate(STYLE, "color"), box_bg) >= 4.5
        chip = page.locator(f"{WIDGET} .chip").first
        assert contrast(chip.locator("b").evaluate(STYLE, "color"), chip.evaluate(STYLE, "backgroundColor")) >= 4.5
        page.screenshot(path=str(artifacts_dir / "widget-dark.png"))

        chat = ctx.new_page()  # the full-page chat and the viewer follow it too
        chat.goto(f"{site.service}/")
        assert is_dark(chat.evaluate("getComputedStyle(document.body).backgroundColor"))
        assert is_dark(chat.locator(f"{WIDGET} .panel").evaluate(STYLE, "backgroundColor"))
        viewer = ctx.new_page()
        viewer.goto(f"{site.service}/documents/000_eb96d92128743acc")
        viewer.wait_for_selector("html[data-ready=true]")
        doc_bg = viewer.locator("#doc").evaluate(STYLE, "backgroundColor")
        assert is_dark(doc_bg) and is_dark(viewer.evaluate("getComputedStyle(document.body).backgroundColor"))
        assert contrast(viewer.locator("#doc .doc-body").evaluate(STYLE, "color"), doc_bg) >= 4.5
        viewer.screenshot(path=str(artifacts_dir / "viewer-dark.png"))
    finally:
        ctx.close()


def test_the_chat_page_leads_to_the_other_pages_and_its_links_name_every_cited_paragraph(site: Site,
                                                                                         context: Any) -> None:
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(f"{site.service}/")
    nav = page.get_by_role("navigation", name="其他页面")
    for name, path in [("浏览全部资料", "/documents"), ("管理资料", "/manage"), ("接口文档", "/docs")]:
        href = nav.get_by_role("link", name=name).get_attribute("href")
        assert httpx.get(f"{site.service}/{href}").status_code == 200, path
    page.locator(f"{WIDGET} .ex").first.click()
    wait_for_answer(page)
    # every source link carries the answer's other cited paragraphs of the same document (the viewer's
    # next/previous), and only those
    turns = page.evaluate("NotesQA.instances[0].turns.map(t => t.citations)")
    links = page.evaluate("(() => { const w = NotesQA.instances[0];"
                          " return w.turns.map(t => t.citations.map(c => w.sourceUrl(c))); })()")
    for citations, urls in zip(turns, links):
        for citation, url in zip(citations, urls):
            same_doc = [c["paragraph_id"] for c in citations if c["doc_id"] == citation["doc_id"]]
            cited = parse_qs(urlsplit(url).query).get("cited", [""])[0]
            assert cited.split(",") == same_doc if len(same_doc) > 1 else cited == "", (url, same_doc)
    assert not errors
