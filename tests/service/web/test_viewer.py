"""The source viewer and the notes list, driven in a real Chromium against the real server.

The viewer reads the structure of a converted note back off its paragraphs (lists, footnote markers,
schedule rows), offers an outline, steps through the cited paragraphs and leads back to the
conversation; /documents lists the notes the caller may read.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from service.domain.keys import KeyStore
from service.local_server import LocalServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AGENDA = "000_eb96d92128743acc"    # agenda lists, a schedule table with "^a" markers
REPORT = "001_2e16e2347a6d47f4"    # numbered paragraphs, "¹" "²" "*" footnotes, a long outline
SESSION = "002_9b7261b858c1689a"
SAMPLE_DOCS = 5
STYLE = "(e, p) => getComputedStyle(e)[p]"
NO_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"

# a note whose table is no schedule, and whose list has bullets but no labels
SMALL_NOTE = """# 测试委员会会议记录

## 一、会议安排

1. 测试委员会第一次会议于 2024 年 3 月 5 日在日内瓦开幕。¹

2. 委员会审议了下列事项：

- 预算
- 人员
- 场地

## 二、与会情况

国家\t人数
甲国\t12
乙国\t7

¹ 会议地点为万国宫。
"""


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect
    return playwright_expect(target)


@pytest.fixture(scope="module")
def service(browser: Any, sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("viewer-site")
    with LocalServer(sample_index, env={"NOTESQA_DATA_DIR": str(folder / "data")},
                     log_path=folder / "serve.log") as server:
        yield server.url


@pytest.fixture(scope="module")
def documents(service: str) -> dict[str, dict]:
    """doc_id -> GET /v1/documents/{doc_id}, for the paragraph ids the pages are checked against."""
    with httpx.Client(base_url=service, timeout=30) as client:
        ids = [d["doc_id"] for d in client.get("/v1/documents").json()["documents"]]
        return {i: client.get(f"/v1/documents/{i}").json() for i in ids}


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 820}, locale="zh-CN")
    yield ctx
    ctx.close()


def open_viewer(context: Any, url: str) -> tuple[Any, list[str]]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("html[data-ready=true]")
    return page, errors


def in_viewport(page: Any, element_id: str) -> bool:
    return page.evaluate("""id => {
        const r = document.getElementById(id).getBoundingClientRect();
        return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
    }""", element_id)


def hash_of(page: Any) -> str:
    return page.evaluate("decodeURIComponent(location.hash.slice(1))")


def own_text(locator: Any) -> str:
    """The text an element shows, without the hover-only ¶ links."""
    return locator.evaluate("""e => { const c = e.cloneNode(true);
        c.querySelectorAll('.anchor').forEach(a => a.remove()); return c.textContent.trim(); }""")


def paragraph(doc: dict, kind: str, pattern: str) -> dict:
    return next(p for p in doc["paragraphs"] if p["kind"] == kind and re.search(pattern, p["text"]))


def contrast(foreground: str, background: str) -> float:
    def luminance(css: str) -> float:
        channels = [int(v) / 255 for v in re.findall(r"\d+", css)[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def is_dark(css: str) -> bool:
    return contrast(css, "rgb(0, 0, 0)") < 2


# --- structure --------------------------------------------------------------------------------------

def test_list_items_are_real_lists_without_the_converters_dashes(service: str, documents: dict,
                                                                 context: Any) -> None:
    doc = documents[AGENDA]
    page, errors = open_viewer(context, f"{service}/documents/{AGENDA}")
    body = page.locator(".doc-body")
    # no line the reader sees starts with the converter's "- "
    lines = [line.strip() for line in body.inner_text().splitlines()]
    assert lines and not [line for line in lines if line.startswith("- ")]

    # "1. 组织事项：\n- (a) 会议开幕；\n- (b) …": an item labelled "1." holding a sub-list labelled (a), (b)
    organisation = paragraph(doc, "list_item", r"^1\. 组织事项：\n- \(a\)")
    item = page.locator(f"[id='{organisation['paragraph_id']}']")
    assert item.evaluate("e => e.tagName") == "LI"
    assert item.evaluate("e => e.parentElement.tagName") in ("OL", "UL")
    assert item.get_attribute("data-label") == "1."
    subitems = item.locator(":scope > .list.sub > li")
    expect(subitems).to_have_count(2)
    assert [s.get_attribute("data-label") for s in subitems.all()] == ["(a)", "(b)"]
    assert own_text(subitems.first) == "会议开幕；"
    assert own_text(item.locator(":scope > .text")) == "组织事项："
    # the label is the list's own marker, not text
    assert "(a)" in subitems.first.evaluate("e => getComputedStyle(e, '::marker').content")

    # a standalone "- (a) 会议开幕" right after "1. 组织事项" is that item's sub-item
    opening = next(p for p in doc["paragraphs"] if p["kind"] == "list_item" and p["text"] == "- (a) 会议开幕")
    parent = page.locator(f"[id='{opening['paragraph_id']}']").evaluate(
        "e => e.parentElement.closest('li').getAttribute('data-label')")
    assert parent == "1."

    # a paragraph introducing an enumeration ("…下列职能：\n- (a) …") keeps it as a list inside it
    mandate = paragraph(doc, "paragraph", r"下列职能：\n- \(a\)")
    block = page.locator(f"[id='{mandate['paragraph_id']}']")
    assert block.locator(".list.sub > li").count() == mandate["text"].count("\n- ")
    assert errors == []


def test_bullets_without_labels_and_a_table_that_is_no_schedule(browser: Any,
                                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    from index.builder import build_index

    corpus = tmp_path_factory.mktemp("small-corpus")
    (corpus / "901_committee.md").write_text(SMALL_NOTE, encoding="utf-8")
    (corpus / "metadata.json").write_text(json.dumps({"documents": {"901_committee.md": {"title": "测试委员会会议记录"}}},
                                                     ensure_ascii=False), encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("small-index")
    build_index(corpus, index_dir, show_progress=False)
    folder = tmp_path_factory.mktemp("small-site")
    with LocalServer(index_dir, env={"NOTESQA_DATA_DIR": str(folder / "data")}, log_path=folder / "serve.log") as server:
        doc_id = httpx.get(f"{server.url}/v1/documents", timeout=30).json()["documents"][0]["doc_id"]
        ctx = browser.new_context(viewport={"width": 1200, "height": 820}, locale="zh-CN")
        try:
            page, errors = open_viewer(ctx, f"{server.url}/documents/{doc_id}")
            bullets = page.locator(".para ul.list.sub > li")
            expect(bullets).to_have_count(3)
            assert [own_text(b) for b in bullets.all()] == ["预算", "人员", "场地"]
            assert bullets.first.evaluate("e => getComputedStyle(e).listStyleType") == "disc"
            # rows that are no date / time / item: one cell each, no schedule header
            table = page.locator("table.rows")
            expect(table.locator("tbody tr")).to_have_count(2)
            assert table.locator("thead").count() == 0
            assert [own_text(r) for r in table.locator("tbody tr").all()] == ["甲国：12", "乙国：7"]
            assert table.locator("tbody tr").first.locator("td").count() == 1
            # "¹" links to "¹ 会议地点为万国宫。"
            ref = page.locator("sup.fn-ref a")
            expect(ref).to_have_count(1)
            ref.click()
            expect(page.locator("aside.footnote.highlight")).to_contain_text("会议地点为万国宫")
            assert errors == []
        finally:
            ctx.close()


def test_footnote_markers_link_to_their_footnote_and_back(service: str, documents: dict, context: Any) -> None:
    doc = documents[REPORT]
    cited = paragraph(doc, "paragraph", r"^21\. .*¹")
    note = paragraph(doc, "footnote", r"^¹ ")
    page, errors = open_viewer(context, f"{service}/documents/{REPORT}")
    para = page.locator(f"[id='{cited['paragraph_id']}']")
    assert "¹" not in para.inner_text()
    ref = para.locator("sup.fn-ref a")
    expect(ref).to_have_count(1)
    assert ref.inner_text() == "1" and ref.get_attribute("href") == f"#{note['paragraph_id']}"

    ref.click()
    assert hash_of(page) == note["paragraph_id"]
    footnote = page.locator(f"[id='{note['paragraph_id']}']")
    expect(footnote).to_have_class(re.compile(r"\bhighlight\b"))
    assert in_viewport(page, note["paragraph_id"])
    assert footnote.evaluate("e => e.tagName") == "ASIDE" and "¹" not in footnote.inner_text()
    expect(footnote).to_contain_text("参见 www.track.unodc.org")

    back = footnote.locator("a.fn-back")
    ref_id = ref.get_attribute("id")
    assert back.get_attribute("href") == f"#{ref_id}"
    back.click()
    assert hash_of(page) == ref_id
    assert in_viewport(page, ref_id)
    assert page.evaluate("document.activeElement.id") == ref_id
    expect(para).to_have_class(re.compile(r"\bhighlight\b"))

    # "*" in the front page ("临时议程*项目2") is the "* CAC/COSP/WG.2/2018/1。" footnote
    star = paragraph(doc, "footnote", r"^\* ")
    expect(page.locator(f".front sup.fn-ref a[href='#{star['paragraph_id']}']")).to_have_count(1)
    # "^a" in the schedule: no raw marker left anywhere
    agenda, agenda_errors = open_viewer(context, f"{service}/documents/{AGENDA}")
    assert "^a" not in agenda.locator("#doc").inner_text()
    note_a = paragraph(documents[AGENDA], "footnote", r"^\^a ")
    refs = agenda.locator(f"table.schedule sup.fn-ref a[href='#{note_a['paragraph_id']}']")
    expect(refs).to_have_count(sum(p["text"].count("^a") for p in documents[AGENDA]["paragraphs"]
                                   if p["kind"] == "table_row"))
    # the footnote leads back to the reference the reader came from, not always the first
    refs.nth(1).click()
    back = agenda.locator(f"[id='{note_a['paragraph_id']}'] a.fn-back")
    assert back.get_attribute("href") == f"#{refs.nth(1).get_attribute('id')}"
    assert errors == [] and agenda_errors == []


def test_schedule_rows_are_a_table_of_date_time_item_and_title(service: str, documents: dict,
                                                               context: Any, artifacts_dir: Path) -> None:
    doc = documents[AGENDA]
    page, errors = open_viewer(context, f"{service}/documents/{AGENDA}")
    table = page.locator("table.schedule")
    expect(table).to_have_count(1)
    assert [own_text(th) for th in table.locator("thead th").all()] == ["日期", "时间", "议程项目", "内容"]
    rows = [p for p in doc["paragraphs"] if p["kind"] == "table_row"]
    expect(table.locator("tbody tr")).to_have_count(len(rows))
    opening = paragraph(doc, "table_row", r"1\(a\)：会议开幕")
    cells = page.locator(f"[id='{opening['paragraph_id']}'] td")
    assert [own_text(c) for c in cells.all()] == ["6月6日，星期三", "上午 10 时至下午 1 时", "1(a)", "会议开幕"]
    # every row of this schedule splits into the four columns
    assert page.evaluate("[...document.querySelectorAll('table.schedule tbody tr')]"
                         ".every(r => r.querySelectorAll('td').length === 4)")
    # the quote of a cited row is marked in its cells
    page.goto(f"{service}/documents/{AGENDA}?q={quote('会议开幕')}#{opening['paragraph_id']}")
    page.wait_for_selector("html[data-ready=true]")
    expect(page.locator(f"[id='{opening['paragraph_id']}'] td.col-title mark")).to_have_text("会议开幕")
    table.screenshot(path=str(artifacts_dir / "viewer-schedule.png"))

    # a row the converter wrote in another shape keeps its text whole, across the columns it fills
    session, session_errors = open_viewer(context, f"{service}/documents/{SESSION}")
    for row in session.locator("table.schedule tbody tr").all():
        assert sum(int(td.get_attribute("colspan") or 1) for td in row.locator("td").all()) == 4
    assert errors == [] and session_errors == []


# --- navigation -------------------------------------------------------------------------------------

def test_the_outline_jumps_to_its_sections(service: str, documents: dict, context: Any, browser: Any) -> None:
    doc = documents[REPORT]
    headings = [p for p in doc["paragraphs"] if p["kind"] == "heading"]
    page, errors = open_viewer(context, f"{service}/documents/{REPORT}")
    outline = page.locator("#outline")
    expect(outline).to_be_visible()
    links = outline.locator("a")
    expect(links).to_have_count(len(headings))
    target = headings[-3]
    assert not in_viewport(page, target["paragraph_id"])
    outline.get_by_role("link", name=target["text"], exact=True).click()
    assert hash_of(page) == target["paragraph_id"]
    assert in_viewport(page, target["paragraph_id"])
    expect(outline.locator(f"a[data-target='{target['paragraph_id']}']")).to_have_attribute("aria-current", "location")
    # beside the text on a wide screen, folded above it on a narrow one
    assert outline.bounding_box()["x"] + outline.bounding_box()["width"] <= page.locator("#doc").bounding_box()["x"]

    narrow = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    try:
        small, small_errors = open_viewer(narrow, f"{service}/documents/{REPORT}")
        box = small.locator("#outline-box")
        assert box.evaluate("e => e.open") is False
        small.locator("#outline-title").click()
        first_section = headings[5]
        small.locator(f"#outline a[data-target='{first_section['paragraph_id']}']").click()
        assert hash_of(small) == first_section["paragraph_id"]
        assert box.evaluate("e => e.open") is False  # folded away once used
        assert in_viewport(small, first_section["paragraph_id"])
        assert small_errors == []
    finally:
        narrow.close()
    assert errors == []


def test_next_and_previous_cited_paragraph(service: str, documents: dict, context: Any,
                                           artifacts_dir: Path) -> None:
    doc = documents[REPORT]
    numbered = [p for p in doc["paragraphs"] if p["paragraph_number"] in ("9", "31", "62")]
    first, second, third = (p["paragraph_id"] for p in numbered)
    # cited in any order; the hash names the one the reader clicked, the quote is marked in it only
    cited = f"{third},{first},p-no-such-paragraph,{second}"
    text = numbered[1]["text"]
    url = f"{service}/documents/{REPORT}?q={quote(text[4:20])}&cited={cited}#{second}"
    page, errors = open_viewer(context, url)
    nav = page.locator("#cite-nav")
    expect(nav).to_be_visible()
    expect(page.locator(".cited")).to_have_count(3)
    expect(page.locator("#cite-pos")).to_have_text("引用 2/3")
    expect(page.locator(f"[id='{second}'] mark")).to_have_count(1)
    prev, nxt = page.locator("#cite-prev"), page.locator("#cite-next")

    nxt.click()
    assert hash_of(page) == third and in_viewport(page, third)
    expect(page.locator(f"[id='{third}']")).to_have_class(re.compile(r"\bhighlight\b"))
    expect(page.locator("#cite-pos")).to_have_text("引用 3/3")
    expect(nxt).to_be_disabled()
    page.screenshot(path=str(artifacts_dir / "viewer-cited.png"))
    prev.click()
    prev.click()
    assert hash_of(page) == first and in_viewport(page, first)
    expect(page.locator("#cite-pos")).to_have_text("引用 1/3")
    expect(prev).to_be_disabled()
    # from a paragraph that is not cited, "next" is the next cited one in reading order
    page.evaluate(f"location.hash = {json.dumps(doc['paragraphs'][-1]['paragraph_id'])}")
    expect(page.locator("#cite-pos")).to_have_text("共 3 处引用")
    prev.click()
    assert hash_of(page) == third
    assert errors == []


def test_back_to_the_conversation_skips_the_viewers_own_jumps(service: str, documents: dict,
                                                              context: Any) -> None:
    doc = documents[REPORT]
    ids = [p["paragraph_id"] for p in doc["paragraphs"] if p["paragraph_number"] in ("9", "31", "62")]
    page = context.new_page()
    page.goto(f"{service}/")
    page.goto(f"{service}/documents/{REPORT}?cited={','.join(ids)}#{ids[0]}", referer=f"{service}/")
    page.wait_for_selector("html[data-ready=true]")
    page.locator("#cite-next").click()
    page.locator("#cite-next").click()
    page.locator(f"[id='{ids[1]}'] .anchor").click()  # and a jump of the reader's own
    entries = page.evaluate("history.length")
    page.get_by_role("link", name="返回对话").click()
    page.wait_for_url(f"{service}/")
    assert page.evaluate("history.length") == entries  # gone back, not a new visit

    # opened in a tab of its own there is nothing to go back to: the link opens the chat page
    alone = context.new_page()
    alone.goto(f"{service}/documents/{REPORT}#{ids[0]}")
    alone.wait_for_selector("html[data-ready=true]")
    alone.get_by_role("link", name="返回对话").click()
    alone.wait_for_url(f"{service}/")

    # from the list, it says so and returns to the list
    listed = context.new_page()
    listed.goto(f"{service}/documents")
    listed.wait_for_selector("html[data-ready=true]")
    listed.locator(f"a[href$='/documents/{REPORT}']").click()
    listed.wait_for_selector("html[data-ready=true]")
    listed.locator("#outline a").nth(3).click()
    listed.get_by_role("link", name="返回文档列表").click()
    listed.wait_for_url(f"{service}/documents")
    # the browser's own Back steps through the viewer's jumps
    listed.go_forward()
    listed.wait_for_selector("html[data-ready=true]")
    listed.locator("#outline a").nth(3).click()
    listed.locator("#outline a").nth(5).click()
    listed.go_back()
    target = listed.locator("#outline a").nth(3).get_attribute("data-target")
    assert hash_of(listed) == target
    expect(listed.locator(f"[id='{target}']")).to_have_class(re.compile(r"\bhighlight\b"))


def test_the_documents_page_lists_every_note_with_a_working_link(service: str, documents: dict,
                                                                 context: Any) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(f"{service}/documents")
    assert response.status == 200 and "text/html" in response.headers["content-type"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    script = httpx.get(f"{service}/web/documents.js", timeout=30)
    assert script.headers["content-type"].startswith("application/javascript")
    assert "innerHTML" not in script.text and "innerHTML" not in httpx.get(f"{service}/web/viewer.js").text
    page.wait_for_selector("html[data-ready=true]")
    links = page.locator(".doc-list a.doc-link")
    expect(links).to_have_count(SAMPLE_DOCS)
    assert sorted(link.inner_text() for link in links.all()) == sorted(d["title"] for d in documents.values())
    expect(page.locator(".collection-count")).to_have_text("共 5 篇")
    hrefs = [link.get_attribute("href") for link in links.all()]
    for href in hrefs:
        viewer, viewer_errors = open_viewer(context, f"{service}{href}")
        doc_id = href.rsplit("/", 1)[-1]
        expect(viewer.locator("h1")).to_have_text(documents[doc_id]["title"])
        assert viewer_errors == []
        viewer.close()
    links.first.click()
    page.wait_for_selector("html[data-ready=true]")
    assert "/documents/" in page.url
    page.go_back()
    page.wait_for_selector("html[data-ready=true]")
    # the filter narrows the list
    page.locator("#filter").fill("第十二次会议")
    expect(page.locator(".doc-list li:visible")).to_have_count(1)
    expect(page.locator(".collection-count")).to_have_text("显示 1 / 5 篇")
    page.locator("#filter").fill("没有这样的文档")
    expect(page.locator("#no-match")).to_be_visible()
    assert errors == []


def test_with_keys_required_the_documents_page_asks_for_one_and_the_viewer_uses_it(
        browser: Any, sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("keyed-documents")
    _, reader = KeyStore(folder / "data" / "keys.json").create("staff", "reader", ["default"])
    with LocalServer(sample_index, env={"NOTESQA_DATA_DIR": str(folder / "data")},
                     log_path=folder / "serve.log") as server:
        ctx = browser.new_context(viewport={"width": 1200, "height": 820}, locale="zh-CN")
        try:
            page = ctx.new_page()
            assert page.goto(f"{server.url}/documents").status == 200
            page.wait_for_selector("html[data-ready=key]")
            form = page.locator("#key-form")
            expect(form).to_be_visible()
            page.locator("#key-input").fill("not-a-key")
            page.locator("#key-submit").click()
            expect(page.locator("#key-hint")).to_contain_text("密钥无效")
            page.locator("#key-input").fill(reader)
            page.locator("#key-submit").click()
            page.wait_for_selector("html[data-ready=true]")
            expect(page.locator(".doc-list a.doc-link")).to_have_count(SAMPLE_DOCS)
            assert reader not in page.url
            page.locator(f"a[href$='/documents/{AGENDA}']").click()
            page.wait_for_selector("html[data-ready=true]")
            expect(page.locator("table.schedule")).to_have_count(1)
            # another tab has no key: the viewer says one is needed
            other = ctx.new_page()
            other.goto(f"{server.url}/documents/{AGENDA}")
            other.wait_for_selector("html[data-ready=error]")
            expect(other.locator(".status.error")).to_contain_text("访问密钥")
        finally:
            ctx.close()


# --- presentation ------------------------------------------------------------------------------------

def test_dark_mode(service: str, documents: dict, browser: Any, artifacts_dir: Path) -> None:
    ids = [p["paragraph_id"] for p in documents[AGENDA]["paragraphs"] if p["kind"] == "table_row"][:2]
    ctx = browser.new_context(viewport={"width": 1200, "height": 820}, locale="zh-CN", color_scheme="dark")
    try:
        page, errors = open_viewer(ctx, f"{service}/documents/{AGENDA}?cited={','.join(ids)}#{ids[0]}")
        doc_bg = page.locator("#doc").evaluate(STYLE, "backgroundColor")
        assert is_dark(doc_bg) and is_dark(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        checks = {
            "body text": (page.locator(".doc-body .para").first, doc_bg),
            "outline": (page.locator("#outline a").first, page.locator("#outline details").evaluate(STYLE, "backgroundColor")),
            "table header": (page.locator("table.schedule th").first,
                             page.locator("table.schedule th").first.evaluate(STYLE, "backgroundColor")),
            "footnote link": (page.locator("sup.fn-ref a").first, doc_bg),
            "cited bar": (page.locator("#cite-pos"), page.locator("#cite-nav").evaluate(STYLE, "backgroundColor")),
        }
        for name, (node, background) in checks.items():
            assert is_dark(background), name
            assert contrast(node.evaluate(STYLE, "color"), background) >= 4.5, name
        page.screenshot(path=str(artifacts_dir / "viewer-structure-dark.png"))
        listing = ctx.new_page()
        listing.goto(f"{service}/documents")
        listing.wait_for_selector("html[data-ready=true]")
        list_bg = listing.locator("#list").evaluate(STYLE, "backgroundColor")
        assert is_dark(list_bg)
        assert contrast(listing.locator("a.doc-link").first.evaluate(STYLE, "color"), list_bg) >= 4.5
        assert errors == []
    finally:
        ctx.close()


def test_narrow_screen_has_no_horizontal_overflow(service: str, documents: dict, browser: Any,
                                                  artifacts_dir: Path) -> None:
    ids = [p["paragraph_id"] for p in documents[AGENDA]["paragraphs"] if p["kind"] == "table_row"][:3]
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN", is_mobile=True,
                              has_touch=True, device_scale_factor=2)
    try:
        for doc_id in documents:
            page, errors = open_viewer(ctx, f"{service}/documents/{doc_id}?cited={','.join(ids)}")
            assert page.evaluate(NO_OVERFLOW), doc_id
            assert errors == [], doc_id
            page.close()
        page, errors = open_viewer(ctx, f"{service}/documents/{AGENDA}?cited={','.join(ids)}#{ids[1]}")
        # the schedule is a stack of cards, each cell named by its column
        row = page.locator(f"[id='{ids[1]}']")
        assert row.evaluate(STYLE, "display") == "block"
        assert row.locator("td.col-time").evaluate("e => getComputedStyle(e, '::before').content") == '"时间："'
        nav = page.locator("#cite-nav").bounding_box()
        assert nav["x"] >= 0 and nav["x"] + nav["width"] <= 360
        bar = page.locator("header.bar").bounding_box()
        assert bar["width"] <= 360
        for link in ("#back", "#ask-doc"):
            box = page.locator(link).bounding_box()
            assert box["x"] + box["width"] <= 360, link
        page.screenshot(path=str(artifacts_dir / "viewer-narrow.png"))
        listing, list_errors = open_viewer(ctx, f"{service}/documents")
        assert listing.evaluate(NO_OVERFLOW)
        assert errors == [] and list_errors == []
    finally:
        ctx.close()


def test_viewer_screenshot(service: str, documents: dict, context: Any, artifacts_dir: Path) -> None:
    """The README's picture: a cited paragraph among the lists, with the outline and the citations bar."""
    doc = documents[AGENDA]
    cited = [paragraph(doc, "paragraph", r"2018 年 6 月 6 日星期三上午 10 时开幕"),
             paragraph(doc, "list_item", r"^1\. 组织事项：\n"),
             paragraph(doc, "table_row", r"1\(a\)：会议开幕")]
    first = cited[0]
    url = (f"{service}/documents/{AGENDA}?q={quote('会议将于 2018 年 6 月 6 日星期三上午 10 时开幕。')}"
           f"&cited={','.join(p['paragraph_id'] for p in cited)}#{first['paragraph_id']}")
    page, errors = open_viewer(context, url)
    expect(page.locator(f"[id='{first['paragraph_id']}'] mark")).to_be_visible()
    expect(page.locator("#cite-pos")).to_have_text("引用 2/3")
    expect(page.locator("#outline a[aria-current]")).to_have_text("说明")  # the cited paragraph's section
    page.screenshot(path=str(artifacts_dir / "viewer-structure.png"))
    assert errors == []
