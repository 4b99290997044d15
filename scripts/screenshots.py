"""Regenerate the README screenshots docs/widget.png and docs/viewer.png in a real Chromium.

    .venv/bin/python scripts/screenshots.py [--index var/index] [--out docs] [--only widget|viewer]

Without --index the sample corpus is indexed into a temporary folder first (about a minute).
Needs /usr/bin/chromium and fonts-wqy-zenhei (apt-get install chromium fonts-wqy-zenhei).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from service.local_server import LocalServer  # noqa: E402
from service.settings import SAMPLE_CORPUS  # noqa: E402
from tests.service.web.harness import CHROMIUM, OPENING_QUESTION, HostPage, chromium_available, launch  # noqa: E402

WIDGET = "notesqa-chat"


def shoot(index_dir: Path, out: Path, work: Path, only: str | None = None) -> None:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with HostPage() as host, LocalServer(index_dir, env={"NOTESQA_CORS_ORIGINS": host.origin,
                                                         "NOTESQA_FEEDBACK_PATH": str(work / "feedback.jsonl"),
                                                         "NOTESQA_DATA_DIR": str(work / "data")}) as server:
        host.service = server.url
        with sync_playwright() as playwright:
            browser = launch(playwright)
            context = browser.new_context(viewport={"width": 1200, "height": 820}, locale="zh-CN",
                                          device_scale_factor=1)
            page = context.new_page()
            page.goto(host.origin)
            page.locator(f"{WIDGET} .launcher").click()
            page.locator(f"{WIDGET} .composer textarea").fill(OPENING_QUESTION)
            page.keyboard.press("Enter")
            expect(page.locator(f"{WIDGET} .actions")).to_be_visible(timeout=60_000)
            page.locator(f"{WIDGET} .chip").first.click()
            expect(page.locator(f"{WIDGET} .preview mark")).to_be_visible()
            page.mouse.move(5, 5)
            if only != "viewer":
                page.screenshot(path=str(out / "widget.png"))
            with context.expect_page() as opened:
                page.locator(f"{WIDGET} .preview a.source-link").click()
            viewer = opened.value
            viewer.set_viewport_size({"width": 1200, "height": 820})
            viewer.wait_for_selector("html[data-ready=true]")
            if only != "widget":
                viewer.screenshot(path=str(out / "viewer.png"))
            browser.close()
    print("wrote " + " and ".join(str(out / f"{name}.png") for name in ("widget", "viewer") if only in (None, name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an index of the sample corpus (default: build one)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    parser.add_argument("--only", choices=["widget", "viewer"], help="write only this screenshot (default: both)")
    args = parser.parse_args()
    if not chromium_available():
        sys.exit(f"no browser at {CHROMIUM}: apt-get install chromium fonts-wqy-zenhei")
    with tempfile.TemporaryDirectory(prefix="notesqa-shots-") as tmp:
        work = Path(tmp)
        index_dir = args.index
        if index_dir is None:
            from index.builder import build_index

            index_dir = work / "index"
            print(f"indexing {SAMPLE_CORPUS} ...")
            build_index(SAMPLE_CORPUS, index_dir, show_progress=False)
        shoot(index_dir, args.out, work, args.only)


if __name__ == "__main__":
    main()
