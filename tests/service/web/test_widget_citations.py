"""Citations a reader can check, and control over an answer, in the widget driven in a real Chromium.

Chips name the document (a UN symbol, else what sets its title apart) and the place (第N段 or the section's
own heading); markers and chips preview the quote in its paragraph inside the visible area; an abstention
offers the closest passages; Stop keeps what had arrived, Regenerate asks again with the same history;
"copy" gives plain-text references. The service streams slowly here (many small deltas) so that an
answer can be stopped half-way.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.local_server import LocalServer
from tests.service.web.harness import OPENING_QUESTION, HostPage, record_stream_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WIDGET = "notesqa-chat"
STREAM_DELAY_MS = 400  # between deltas of 8 characters: the opening answer takes about three seconds
BARE_KIND_WORDS = {"文件", "表格", "说明", "脚注", "附件", "table", "footnote"}
CONVERSATION = ["第七次增进国际合作专家会议哪天开？", "那第十二次呢？", "它的开幕式在维也纳国际中心的哪个会议室？"]
UNANSWERABLE = "2030年世界杯在哪里举办？"
NUMBERED = "全球联络点举措是哪年哪月启动的？"  # cites printed paragraph 66 of 001_2e16e2347a6d47f4
SCHEDULE = "6月7日下午讨论什么？"  # cites a schedule-table row: no printed number
LONE_SURROGATE = re.compile(r"[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|\ufffd")


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect
    return playwright_expect(target)


@dataclass
class Site:
    service: str
    host: HostPage


@pytest.fixture(scope="module")
def site(browser: Any, sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("widget-citations")
    host = HostPage().start()
    env = {"NOTESQA_CORS_ORIGINS": host.origin, "NOTESQA_FEEDBACK_PATH": str(folder / "feedback.jsonl"),
           "NOTESQA_DATA_DIR": str(folder / "data"), "NOTESQA_STREAM_DELAY_MS": str(STREAM_DELAY_MS),
           "NOTESQA_STREAM_CHUNK_CHARS": "8"}
    try:
        with LocalServer(sample_index, env=env, log_path=folder / "serve.log") as server:
            host.service = server.url
            yield Site(server.url, host)
    finally:
        host.stop()


@pytest.fixture
def context(browser: Any, site: Site) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.host.origin)
    yield ctx
    ctx.close()


def open_widget(page: Any, site: Site) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(site.host.origin)
    page.locator(f"{WIDGET} .launcher").click()
    return errors


def ask(page: Any, question: str, answers_before: int) -> Any:
    """Ask and wait for the answer; returns the new turn's locator."""
    page.locator(f"{WIDGET} .composer textarea").fill(question)
    page.keyboard.press("Enter")
    expect(page.locator(f"{WIDGET} .turn .actions")).to_have_count(answers_before + 1, timeout=60_000)
    return page.locator(f"{WIDGET} .turn").nth(answers_before)


def ask_bodies(page: Any) -> list[dict]:
    bodies: list[dict] = []
    page.on("request", lambda r: bodies.append(json.loads(r.post_data))
            if r.url.endswith("/v1/ask/stream") and r.method == "POST" else None)
    return bodies


def api_answer(site: Site, question: str) -> dict:
    return httpx.post(f"{site.service}/v1/ask", json={"question": question}, timeout=60).json()


def place(chip: Any) -> str:
    return re.sub(r"^·\s*", "", chip.locator(".loc").inner_text().strip())


def test_chips_name_the_document_and_the_place_never_a_bare_kind_word(site: Site, context: Any) -> None:
    page = context.new_page()
    errors = open_widget(page, site)
    places = []
    for question in (OPENING_QUESTION, SCHEDULE, NUMBERED):
        page.get_by_role("button", name="新对话").click()  # each asked on its own, not as a follow-up
        turn = ask(page, question, 0)
        chips = turn.locator(".chip")
        assert chips.count() >= 1, question
        places += [place(chips.nth(i)) for i in range(chips.count())]
    assert places[0] == "临时议程说明 › 说明"  # "说明" alone names nothing: with the heading that does
    assert places[1] == "拟议工作安排"  # a table row: its section's own heading, not "表格"
    assert places[-1] == "第66段"
    assert not BARE_KIND_WORDS & set(places), places
    chip = page.locator(f"{WIDGET} .turn .chip").first
    expect(chip.locator(".t")).to_have_text("任务授权执行进展报告（秘书处的说明）")  # 资产追回…工作组 opens two titles
    assert not errors


def test_short_names_prefer_a_symbol_and_part_titles_that_open_alike(site: Site, context: Any) -> None:
    """The naming rules on citations the sample notes do not have (symbols, astral characters)."""
    page = context.new_page()
    open_widget(page, site)
    expect(page.locator(f"{WIDGET} .ex").first).to_be_visible()  # the widget is up (examples loaded)
    names = page.evaluate("""() => {
        const w = NotesQA.instances[0];
        w.documents = w.documents || {};
        w.documents["d-meta"] = {title: "腐败问题报告", metadata: {symbol: "CAC/COSP/2019/1"}};
        w.noteTitles([{title: "某某委员会第一届会议报告（甲地）"}, {title: "某某委员会第二届会议报告（乙地）"}]);
        const long = "𠀀".repeat(40);
        return {
            fromTitle: w.shortName({doc_id: "d-title", title: "秘书处的说明（CAC/COSP/WG.2/2018/1）"}),
            fromMetadata: w.shortName({doc_id: "d-meta", title: "腐败问题报告"}),
            first: w.shortName({doc_id: "a", title: "某某委员会第一届会议报告（甲地）"}),
            second: w.shortName({doc_id: "b", title: "某某委员会第二届会议报告（乙地）"}),
            astral: w.shortName({doc_id: "c", title: long}),
            numbered: w.label({paragraph_number: "54(a)"}),
            generic: w.label({section: "说明 > 5. 资产追回 > 文件", kind: "paragraph"}),
            onlyGeneric: w.label({section: "文件", text: "CAC/COSP/2019/2 秘书处关于审议实施情况机制的报告"}),
            footnote: w.label({section: "拟议工作安排", kind: "footnote"}),
        };
    }""")
    assert names["fromTitle"] == "CAC/COSP/WG.2/2018/1"
    assert names["fromMetadata"] == "CAC/COSP/2019/1"
    assert names["first"].startswith("第一届") and names["second"].startswith("第二届")  # the shared opening dropped
    assert names["astral"].endswith("…") and not LONE_SURROGATE.search(names["astral"]), names["astral"]
    assert names["numbered"] == "第54(a)段"
    assert names["generic"] == "5. 资产追回 › 文件"
    assert names["onlyGeneric"].startswith("文件：CAC/COSP/") and names["onlyGeneric"].endswith("…")
    assert names["footnote"] == "拟议工作安排 脚注"


def test_previews_stay_in_view_at_360_px_flip_and_close_with_escape(site: Site, browser: Any,
                                                                    artifacts_dir: Path) -> None:
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    try:
        page = ctx.new_page()
        errors = open_widget(page, site)
        first = ask(page, OPENING_QUESTION, 0)
        last = ask(page, NUMBERED, 1)
        for turn in (first, last):
            marker = turn.locator(".marker").first
            marker.scroll_into_view_if_needed()
            marker.hover()
            preview = turn.locator(".preview")
            expect(preview).to_be_visible()
            expect(preview.locator("mark")).not_to_have_count(0)  # the quote, highlighted in its paragraph
            box, anchor = preview.bounding_box(), marker.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360, box
            assert box["y"] >= 0 and box["y"] + box["height"] <= 740, box
            side = preview.get_attribute("data-side")
            if side == "below":
                assert box["y"] >= anchor["y"] + anchor["height"], (box, anchor)
            else:  # flipped above: it would have run off the bottom
                assert side == "above" and box["y"] + box["height"] <= anchor["y"], (box, anchor)
            page.screenshot(path=str(artifacts_dir / f"preview-360-{side}.png"))
            page.mouse.move(180, 20)  # over the header: away from marker and preview
            expect(preview).to_be_hidden()
        assert last.locator(".preview").get_attribute("data-side") == "above"  # the last answer sits low

        chip = last.locator(".chip").first
        chip.focus()  # focus previews too; Esc closes the preview, not the panel
        preview = last.locator(".preview")
        expect(preview).to_be_visible()
        expect(chip).to_have_attribute("aria-expanded", "true")
        page.keyboard.press("Escape")
        expect(preview).to_be_hidden()
        expect(page.locator(f"{WIDGET} .panel")).to_be_visible()
        assert chip.evaluate("e => e.getRootNode().activeElement === e")
        assert not errors
    finally:
        ctx.close()


def test_a_long_paragraph_is_cut_around_its_quote_at_character_boundaries(site: Site, context: Any) -> None:
    page = context.new_page()
    open_widget(page, site)
    page.evaluate("""() => {
        const w = NotesQA.instances[0];
        const text = "前文很长的一段话。".repeat(60) + "这是引用的句子。" + "𠀀𠀁".repeat(300);
        w.turns.push({id: "long", question: "长段落？", status: "done", answer: "答案在这里。[1]", abstained: false,
                      closest: [], citations: [{marker: 1, doc_id: "d", title: "长文件", paragraph_id: "p",
                                                paragraph_number: "7", section: null, text: text,
                                                quote: "这是引用的句子。"}]});
        w.render();
    }""")
    page.locator(f"{WIDGET} .turn .marker").first.hover()
    shown = page.locator(f"{WIDGET} .turn .preview .pv-text")
    expect(shown.locator("mark")).to_have_text("这是引用的句子。")
    text = shown.inner_text()
    assert text.startswith("…") and text.endswith("…") and len(text) <= 362, text
    assert not LONE_SURROGATE.search(text)


def test_an_abstention_shows_the_closest_passages_as_not_an_answer(site: Site, context: Any) -> None:
    expected = api_answer(site, UNANSWERABLE)
    assert expected["abstained"] and expected["closest"], expected
    page = context.new_page()
    errors = open_widget(page, site)
    turn = ask(page, UNANSWERABLE, 0)
    box = turn.locator(".a.abstained")
    expect(box.locator(".answer")).to_contain_text("资料中没有找到相关内容")
    closest = box.locator("section.closest")
    expect(closest.locator("h3")).to_have_text("最接近的段落（不是答案）")
    expect(closest).to_have_attribute("aria-labelledby", re.compile(r"^cl-"))
    links = closest.locator("li a")
    expect(links).to_have_count(len(expected["closest"]))
    expect(box.locator(".chip")).to_have_count(0)  # nothing is presented as a citation
    for i, passage in enumerate(expected["closest"]):
        href = links.nth(i).get_attribute("href")
        assert href.startswith(f"{site.service}/documents/{passage['doc_id']}") and "q=" not in href
        assert href.endswith("#" + passage["paragraph_id"])
    with context.expect_page() as opened:
        links.first.click()
    viewer = opened.value
    viewer.wait_for_selector("html[data-ready=true]")
    expect(viewer.locator(f"[id='{expected['closest'][0]['paragraph_id']}']")).to_have_class(re.compile(r"\bhighlight\b"))
    assert not errors


def test_stop_keeps_the_partial_answer_and_regenerate_completes_it(site: Site, context: Any) -> None:
    full = "".join(api_answer(site, OPENING_QUESTION)["answer"].split())
    page = context.new_page()
    record_stream_events(page)
    bodies = ask_bodies(page)
    errors = open_widget(page, site)
    page.locator(f"{WIDGET} .composer textarea").fill(OPENING_QUESTION)
    page.keyboard.press("Enter")
    answer = page.locator(f"{WIDGET} .turn .answer").first
    expect(page.locator(f"{WIDGET} .a.streaming")).to_be_visible(timeout=60_000)
    expect(answer).to_have_text(re.compile(r"\S{6,}"))  # a few deltas in
    page.get_by_role("button", name="停止生成").click()
    expect(page.locator(f"{WIDGET} .stopped-note")).to_be_visible()
    partial = "".join(answer.inner_text().split())
    assert partial and full.startswith(partial) and len(partial) < len(full), (partial, full)
    page.wait_for_timeout(3 * STREAM_DELAY_MS)
    assert "".join(answer.inner_text().split()) == partial  # nothing more arrives
    assert "done" not in page.evaluate("window.__events")
    expect(page.get_by_role("button", name="停止生成")).to_be_hidden()
    expect(page.get_by_role("button", name="发送")).to_be_visible()

    page.locator(f"{WIDGET} .turn").first.get_by_role("button", name="重新生成").click()
    expect(page.locator(f"{WIDGET} .turn .actions")).to_have_count(1, timeout=60_000)
    expect(page.locator(f"{WIDGET} .turn .thinking, {WIDGET} .turn .streaming")).to_have_count(0, timeout=60_000)
    expect(page.locator(f"{WIDGET} .stopped-note")).to_have_count(0)
    assert "".join(answer.inner_text().split()) == full
    assert len(bodies) == 2 and bodies[1] == bodies[0], bodies  # the same question, asked again

    ask(page, NUMBERED, 1)  # a stopped answer is not history; the regenerated one is
    assert [t["question"] for t in bodies[2]["history"]] == [OPENING_QUESTION]
    assert not errors


def test_a_three_turn_conversation_on_another_origin_and_regenerate(site: Site, context: Any,
                                                                   artifacts_dir: Path) -> None:
    page = context.new_page()
    bodies = ask_bodies(page)
    errors = open_widget(page, site)
    turns = [ask(page, question, n) for n, question in enumerate(CONVERSATION)]
    expect(turns[0].locator(".resolved")).to_have_count(0)
    for turn, subject in ((turns[1], "第十二次"), (turns[2], "第十二次")):
        expect(turn.locator(".resolved")).to_contain_text("回答的是：")
        expect(turn.locator(".resolved")).to_contain_text(subject)
    expect(turns[0].locator(".answer")).to_contain_text("2018年6月8日")
    expect(turns[1].locator(".answer")).to_contain_text("2023年9月5日")
    expect(turns[2].locator(".answer")).to_contain_text("M号")
    assert [len(b.get("history", [])) for b in bodies] == [0, 1, 2]
    assert [t["question"] for t in bodies[2]["history"]] == CONVERSATION[:2]
    # two documents whose titles open alike get names that tell them apart
    names = [t.locator(".chip .t").first.inner_text() for t in turns[:2]]
    assert names[0].startswith("第七次") and names[1].startswith("第十二次"), names
    page.screenshot(path=str(artifacts_dir / "widget-conversation.png"))

    turns[1].get_by_role("button", name="重新生成").click()  # the middle turn, asked again as it was
    expect(page.locator(f"{WIDGET} .turn .actions")).to_have_count(3, timeout=60_000)
    expect(turns[1].locator(".resolved")).to_contain_text("第十二次", timeout=60_000)
    assert len(bodies) == 4 and bodies[3] == bodies[1], bodies
    assert not errors


def test_copy_gives_the_answer_with_plain_text_references(site: Site, context: Any) -> None:
    page = context.new_page()
    errors = open_widget(page, site)
    turn = ask(page, NUMBERED, 0)
    paragraph_id = turn.locator(".chip").first.evaluate(
        "c => { c.click(); return c.getRootNode().querySelector('.preview a.source-link').dataset.paragraph; }")
    page.keyboard.press("Escape")
    turn.get_by_role("button", name="复制答案和引用").click()
    expect(turn.locator(".note")).to_have_text("已复制")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.evaluate("NotesQA.instances[0].lastCopied")
    answer, references = copied.split("\n\n", 1)
    assert "2009年1月" in "".join(answer.split())
    assert references.split("\n") == [
        "[1] 任务授权执行进展报告（秘书处的说明） 第66段",
        f"{site.service}/documents/001_2e16e2347a6d47f4#{paragraph_id}",
    ], references
    assert not errors
