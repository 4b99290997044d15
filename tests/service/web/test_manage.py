"""/manage, driven in a real Chromium against a real `notesqa serve` with keys, so that roles apply.

The default collection is a two-note index; "notes" is a managed collection, seeded with one document.
Every test signs in with its own key, as a person would, and checks the API's state as well as the page's.
"""
from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from index.builder import build_index
from service.cli.main import app as cli_app
from service.domain.jobs import Job, JobStore
from service.domain.keys import KeyStore
from service.local_server import LocalServer
from tests.index.conftest import write_tiny_corpus
from tests.service.operations.conftest import PANDA, RIVER, SECRET

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COLLECTION = "notes"
UPLOAD_LIMIT = 4096  # bytes (the smallest NOTESQA_MAX_UPLOAD_BYTES allows), so an oversized file is cheap
JOB_PAUSE_S = 2.5  # each build pauses this long while embedding, so the page shows it running
DISK_FULL = "no space left on device while building the index ([Errno 28] No space left on device); " \
            "the previous snapshot stays in service"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect
    return playwright_expect(target)


@dataclass
class Site:
    url: str
    tokens: dict[str, str]
    feedback: Path
    folder: Path

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {self.tokens[key]}"})


def failed_job(site: Site) -> str:
    """A reindex of the collection that failed as a full disk leaves it (what the service wrote to jobs/)."""
    job = Job(id=secrets.token_hex(8), collection=COLLECTION, action="reindex", state="failed", stage="failed",
              progress=0.1, error=DISK_FULL, attempts=1, started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    assert JobStore(site.folder / "data" / "jobs").save(job)
    return job.id


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


@pytest.fixture(scope="module")
def site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("manage-site")
    index_dir = folder / "index"
    build_index(write_tiny_corpus(folder / "corpus"), index_dir, show_progress=False)
    data_dir = folder / "data"
    keys = KeyStore(data_dir / "keys.json")
    tokens = {
        "admin": keys.create("site-admin", "admin", ["*"])[1],
        "editor": keys.create("notes-editor", "editor", [COLLECTION, "default"])[1],
        "reader": keys.create("notes-reader", "reader", [COLLECTION])[1],
    }
    feedback = folder / "feedback.jsonl"
    env = {"NOTESQA_DATA_DIR": str(data_dir), "NOTESQA_FEEDBACK_PATH": str(feedback),
           "NOTESQA_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT), "NOTESQA_DEBUG_JOB_DELAY_S": str(JOB_PAUSE_S),
           "NOTESQA_RATE_LIMIT_PER_MINUTE": "0"}
    with LocalServer(index_dir, env=env, log_path=folder / "serve.log") as server:
        site = Site(server.url, tokens, feedback, folder)
        with site.client("admin") as admin:
            assert admin.post("/v1/collections", json={"name": COLLECTION, "description": "测试资料"}).status_code == 201
            seeded = admin.post(f"/v1/collections/{COLLECTION}/documents",
                                files={"file": ("qingluan.md", SECRET.encode("utf-8"))})
            assert seeded.status_code == 202, seeded.text
            assert wait_job(admin, seeded.json()["job"]["id"])["state"] == "succeeded"
        yield site


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    yield ctx
    ctx.close()


def watch_errors(page: Any) -> list[str]:
    """Script errors and console errors, except the browser's note of each 4xx answer (refusals are tested)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error"
            and not message.text.startswith("Failed to load resource") else None)
    return errors


def sign_in(page: Any, site: Site, key: str, name: str) -> None:
    page.goto(f"{site.url}/manage")
    page.wait_for_selector("html[data-ready=true]")
    page.get_by_label("API 密钥").fill(site.tokens[key])
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#who")).to_contain_text(name)
    assert "nqa_" not in page.url  # the key never travels in a URL


def test_an_editor_uploads_two_files_and_watches_them_index(site: Site, context: Any, artifacts_dir: Path) -> None:
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, site, "editor", "notes-editor")
    expect(page.get_by_role("tab", name="反馈")).to_be_visible()  # editors review feedback
    expect(page.get_by_role("tab", name="密钥")).to_be_hidden()  # but only admins manage keys
    page.locator(f"[data-collection={COLLECTION}]").get_by_role("button", name=re.compile("查看资料库")).click()
    expect(page.get_by_role("tab", name="文档")).to_have_attribute("aria-selected", "true")
    zone = page.get_by_role("group", name="上传文档")
    expect(zone).to_contain_text("4 KiB")  # the limit, from GET /v1/collections

    # a file over the limit is refused in the page, before anything is sent
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method in ("POST", "PUT") else None)
    page.locator("#upload-input").set_input_files(
        [{"name": "huge.md", "mimeType": "text/markdown", "buffer": ("大" * 2000).encode("utf-8")}])
    expect(page.locator("[data-upload='huge.md']")).to_contain_text("超过上传上限 4 KiB，没有上传")
    assert sent == []

    # two notes dropped at once
    zone.evaluate("""(zone, files) => {
        const data = new DataTransfer();
        for (const [name, text] of files) data.items.add(new File([text], name, { type: "text/markdown" }));
        for (const type of ["dragenter", "dragover", "drop"])
            zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
    }""", [["panda.md", PANDA], ["river.md", RIVER]])
    running = page.locator(".upload .job[data-state=running] progress")
    expect(running.first).to_be_visible(timeout=30_000)  # a live progress bar, refreshed by polling
    progress = int(running.first.get_attribute("value"))
    assert 0 < progress < 100, progress
    expect(page.locator(".upload .job[data-state=succeeded]")).to_have_count(2, timeout=120_000)
    expect(page.locator(".upload .job .report").first).to_contain_text("段落")
    assert sorted(u.rsplit("/", 1)[-1] for u in sent) == ["documents", "documents"]

    for doc_id in ("panda", "river"):
        expect(page.locator(f"tr[data-doc={doc_id}] td[data-label=已索引]")).to_have_text("是", timeout=30_000)
    page.locator("tr[data-doc=panda]").get_by_role("button", name=re.compile("^段落")).click()
    paragraphs = page.locator(".paragraphs li")
    expect(paragraphs.filter(has_text="四川、陕西和甘肃")).to_have_count(1)
    link = paragraphs.filter(has_text="四川").get_by_role("link")
    paragraph_id = paragraphs.filter(has_text="四川").get_attribute("data-paragraph")
    assert link.get_attribute("href") == f"/documents/panda?collection={COLLECTION}#{paragraph_id}"
    with site.client("editor") as editor:  # what the page shows is what the index holds
        served = editor.get("/v1/documents/panda", params={"collection": COLLECTION}).json()["paragraphs"]
    assert paragraphs.count() == len(served)
    page.set_viewport_size({"width": 1280, "height": 1400})  # the whole panel, under the sticky header
    page.screenshot(path=str(artifacts_dir / "manage.png"))

    page.get_by_role("tab", name="任务").click()
    expect(page.locator(".jobs .job[data-state=succeeded]").filter(has_text="添加 panda")).to_have_count(1)

    # delete, after a confirmation
    page.get_by_role("tab", name="文档").click()
    page.locator("tr[data-doc=river]").get_by_role("button", name=re.compile("^删除")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("无法撤销")
    dialog.get_by_role("button", name="取消").click()
    expect(page.locator("tr[data-doc=river]")).to_have_count(1)
    page.locator("tr[data-doc=river]").get_by_role("button", name=re.compile("^删除")).click()
    dialog.get_by_role("button", name="删除").click()
    expect(page.locator("tr[data-doc=river]")).to_have_count(0)
    with site.client("editor") as editor:
        stored = editor.get(f"/v1/collections/{COLLECTION}/documents").json()["documents"]
    assert "river" not in {d["doc_id"] for d in stored}
    assert not errors, errors


def test_a_reader_sees_no_changes_and_the_api_refuses_them(site: Site, context: Any) -> None:
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, site, "reader", "notes-reader")
    for tab in ("密钥", "反馈"):
        expect(page.get_by_role("tab", name=tab)).to_be_hidden()
    page.get_by_role("tab", name="文档").click()
    row = page.locator("tr[data-doc=qingluan]")
    expect(row).to_be_visible()
    expect(row.get_by_role("button", name=re.compile("^段落"))).to_be_visible()
    expect(page.get_by_role("group", name="上传文档")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(删除|替换)"))).to_have_count(0)
    # the controls are not merely hidden: with this key the API refuses the same calls
    forced = page.evaluate("""async () => {
        const headers = { Authorization: "Bearer " + sessionStorage.getItem("notesqa:api-key") };
        const form = new FormData();
        form.append("file", new File(["# 强行上传\\n\\n内容。"], "forced.md"));
        const answers = [
            await fetch("/v1/collections/notes/documents", { method: "POST", headers, body: form }),
            await fetch("/v1/collections/notes/documents/qingluan", { method: "DELETE", headers }),
            await fetch("/v1/keys", { headers }),
            await fetch("/v1/feedback", { headers }),
        ];
        return Promise.all(answers.map(async (r) => [r.status, (await r.json()).code]));
    }""")
    assert forced == [[403, "forbidden"]] * 4
    # a failed job reads in words, but a reader may not retry it
    job_id = failed_job(site)
    page.get_by_role("tab", name="任务").click()
    job = page.locator(f".jobs [data-job='{job_id}']")
    expect(job).to_contain_text("索引失败：no space left on device")
    expect(job.get_by_role("button", name="重试")).to_have_count(0)
    with site.client("reader") as reader:
        assert "qingluan" in {d["doc_id"] for d in reader.get(f"/v1/collections/{COLLECTION}/documents").json()["documents"]}
    assert not errors, errors


def test_a_failed_job_reads_in_words_and_an_editor_retries_it(site: Site, context: Any) -> None:
    job_id = failed_job(site)
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, site, "editor", "notes-editor")
    page.get_by_role("tab", name="任务").click()
    job = page.locator(f".jobs [data-job='{job_id}']")
    expect(job).to_have_attribute("data-state", "failed")
    expect(job.locator(".error")).to_have_text(f"索引失败：{DISK_FULL}")
    job.get_by_role("button", name="重试").click()
    expect(job.locator("progress")).to_be_visible()  # queued, then running: the bar follows it
    expect(job).to_have_attribute("data-state", "succeeded", timeout=120_000)
    expect(job.locator(".report")).to_contain_text(re.compile(r"文档 \d+ 篇"))
    with site.client("editor") as editor:
        done = editor.get(f"/v1/jobs/{job_id}").json()
    assert done["state"] == "succeeded" and done["attempts"] == 2 and done["note"] == "retried"
    assert not errors, errors


def test_an_admin_creates_a_collection_and_creates_and_revokes_keys(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    try:
        page = context.new_page()
        errors = watch_errors(page)
        sign_in(page, site, "admin", "site-admin")
        create = page.get_by_role("form", name="新建资料库")
        create.get_by_label("名称").fill("policies")
        create.get_by_role("button", name="创建").click()
        expect(page.locator("[data-collection=policies]")).to_contain_text("空")

        page.get_by_role("tab", name="密钥").click()
        form = page.get_by_role("form", name="新建密钥")
        form.get_by_label("名称").fill("portal-widget")
        form.get_by_label("角色").select_option("public")
        form.get_by_label(COLLECTION, exact=True).check()
        form.get_by_label("允许的网页来源").fill("https://intranet.example")
        form.get_by_role("button", name="创建密钥").click()
        token = page.locator("#created-token")
        expect(token).to_have_value(re.compile(r"^nqa_"))
        widget_token = token.input_value()
        snippet = page.locator("#created-snippet").input_value()
        assert f'data-api-key="{widget_token}"' in snippet and f'data-collection="{COLLECTION}"' in snippet
        assert f'src="{site.url}/widget.js"' in snippet
        page.get_by_role("button", name="复制密钥").click()
        expect(page.locator("#toast")).to_have_text("已复制到剪贴板")
        assert page.evaluate("navigator.clipboard.readText()") == widget_token

        form.get_by_label("名称").fill("night-reader")
        form.get_by_label("角色").select_option("reader")
        form.get_by_label("全部资料库（*）").check()
        form.get_by_role("button", name="创建密钥").click()
        expect(page.locator("#created-key")).to_contain_text("night-reader")
        reader_token = token.input_value()
        assert reader_token != widget_token and page.locator("#created-snippet").count() == 0  # no widget: no snippet
        me = httpx.get(f"{site.url}/v1/keys/me", headers={"Authorization": f"Bearer {reader_token}"})
        assert me.json()["name"] == "night-reader" and me.json()["role"] == "reader"
        row = page.locator("tr[data-key=night-reader]")
        expect(row).to_contain_text("有效")

        row.get_by_role("button", name="撤销密钥 night-reader").click()
        page.get_by_role("dialog").get_by_role("button", name="撤销").click()
        expect(row).to_have_attribute("data-revoked", "true")
        expect(row).to_contain_text("已撤销")
        assert httpx.get(f"{site.url}/v1/keys/me", headers={"Authorization": f"Bearer {reader_token}"}).status_code == 401
        with site.client("admin") as admin:
            listed = {k["name"]: k for k in admin.get("/v1/keys").json()["keys"]}
        assert listed["night-reader"]["revoked_at"] and listed["portal-widget"]["revoked_at"] is None
        assert listed["portal-widget"]["origins"] == ["https://intranet.example"]
        assert not errors, errors
    finally:
        context.close()


# holds the page's answer to an unfiltered feedback request for a second, as a slow link would
SLOW_UNFILTERED_FEEDBACK = """() => {
  const fetchNow = window.fetch;
  window.fetch = (url, options) => {
    const answer = fetchNow(url, options);
    if (!/\\/v1\\/feedback\\?limit=/.test(String(url))) return answer;
    return answer.then((response) => new Promise((resolve) => setTimeout(() => {
      window.slowFeedbackAnswered = true;
      resolve(response);
    }, 1000)));
  };
}"""


def test_feedback_shows_up_for_review_is_marked_and_exports(site: Site, context: Any) -> None:
    with site.client("editor") as editor:
        answer = editor.post("/v1/ask", json={"question": "工作组会议哪天开幕？"}).json()
        up = editor.post("/v1/feedback", json={"question": "工作组会议哪天开幕？", "answer": answer["answer"],
                                               "fact": answer["fact"], "citations": answer["citations"],
                                               "rating": "up"})
        down = editor.post("/v1/feedback", json={"question": "青鸾项目谁负责？", "answer": "资料中没有找到相关内容。",
                                                 "rating": "down", "comment": "备忘里写了是李明",
                                                 "collection": COLLECTION})
        assert up.status_code == down.status_code == 201
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, site, "editor", "notes-editor")
    page.get_by_role("tab", name="反馈").click()
    cards = page.locator(".feedback > li")
    expect(cards).to_have_count(2)
    expect(page.locator("#panel-feedback .summary")).to_have_text("共 2 条")

    page.get_by_label("评价", exact=True).select_option("down")
    expect(cards).to_have_count(1)
    card = cards.first
    expect(card).to_contain_text("青鸾项目谁负责？")
    expect(card.locator(".fb-comment")).to_have_text("备忘里写了是李明")
    card.get_by_role("button", name="标记为已审阅：青鸾项目谁负责？").click()
    expect(card).to_have_attribute("data-reviewed", "true")
    expect(card).to_contain_text("已审阅 · notes-editor")
    with site.client("admin") as admin:
        reviewed = admin.get("/v1/feedback", params={"reviewed": "true"}).json()["feedback"]
    assert [r["question"] for r in reviewed] == ["青鸾项目谁负责？"]

    # a slow network: the unfiltered list answers after the one asked for next, and must not replace it
    page.evaluate(SLOW_UNFILTERED_FEEDBACK)
    page.get_by_label("评价", exact=True).select_option("")
    page.get_by_label("审阅", exact=True).select_option("false")
    page.wait_for_function("() => window.slowFeedbackAnswered === true")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("工作组会议哪天开幕？")
    expect(cards.first.get_by_role("link").first).to_have_attribute("href", re.compile(r"^/documents/a#"))
    page.get_by_label("审阅", exact=True).select_option("")
    expect(cards).to_have_count(2)

    with page.expect_download() as download:
        page.get_by_role("button", name="导出为评测集").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    cli = CliRunner().invoke(cli_app, ["feedback", "export", "--feedback", str(site.feedback)])
    assert cli.exit_code == 0, cli.output
    assert exported == cli.stdout.splitlines() and len(exported) == 2  # what `notesqa feedback export` writes
    items = {json.loads(line)["question"]: json.loads(line) for line in exported}
    assert items["工作组会议哪天开幕？"]["answers"] == [answer["fact"]] and answer["fact"]
    assert items["青鸾项目谁负责？"]["needs_review"] is True
    expect(page.locator("#toast")).to_contain_text("已导出 2 条")
    assert not errors, errors


def test_keyboard_english_narrow_and_dark(site: Site, browser: Any, artifacts_dir: Path) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 780}, locale="zh-CN", color_scheme="dark",
                                  device_scale_factor=2)
    try:
        page = context.new_page()
        errors = watch_errors(page)
        page.goto(f"{site.url}/manage")
        page.wait_for_selector("html[data-ready=true]")
        page.get_by_role("button", name="Switch to English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        # keyboard only: the key field has the focus, Enter signs in
        page.get_by_label("API key").focus()
        page.keyboard.type("nqa_not-a-key")
        page.keyboard.press("Enter")
        expect(page.get_by_role("alert").filter(has_text="not valid")).to_be_visible()
        page.get_by_label("API key").fill(site.tokens["admin"])
        page.keyboard.press("Enter")
        tab = page.get_by_role("tab", name="Collections")
        expect(tab).to_be_focused()
        page.keyboard.press("ArrowRight")
        expect(page.get_by_role("tab", name="Documents")).to_have_attribute("aria-selected", "true")
        expect(page.get_by_role("tab", name="Documents")).to_be_focused()
        page.keyboard.press("End")
        expect(page.get_by_role("tab", name="Feedback")).to_have_attribute("aria-selected", "true")
        expect(page.get_by_role("tabpanel", name="Feedback")).to_be_visible()
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(18, 21, 27)", background  # prefers-color-scheme: dark
        for name in ("Collections", "Documents", "Jobs", "Keys", "Feedback"):
            page.get_by_role("tab", name=name).click()
            expect(page.get_by_role("tabpanel", name=name).locator("h2")).to_be_visible()
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, (name, width)  # nothing sideways at 360 px
        page.get_by_role("tab", name="Documents").click()
        expect(page.get_by_role("group", name="Upload documents")).to_contain_text("choose files")
        page.screenshot(path=str(artifacts_dir / "manage-narrow-dark.png"))
        page.get_by_role("button", name="切换到中文").click()
        expect(page.get_by_role("tab", name="文档")).to_have_attribute("aria-selected", "true")
        assert not errors, errors
    finally:
        context.close()
