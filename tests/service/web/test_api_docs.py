"""/docs in a real Chromium: Swagger UI renders the service's OpenAPI 3.1 document from local files only,
under the page's Content-Security-Policy (issue 13, item 10)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index.builder import build_index
from service.local_server import LocalServer
from tests.index.conftest import write_tiny_corpus

pytestmark = [pytest.mark.integration, pytest.mark.slow]

def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect
    return playwright_expect(target)


# recorded before any script of the page runs, so a violation by Swagger UI's start is caught too
RECORD_VIOLATIONS = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
  e => window.__violations.push(e.violatedDirective + " " + e.blockedURI));"""


@pytest.fixture(scope="module")
def docs_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("api-docs")
    index_dir = root / "index"
    build_index(write_tiny_corpus(root / "corpus"), index_dir, show_progress=False)
    with LocalServer(index_dir, env={"NOTESQA_DATA_DIR": str(root / "data")},
                     log_path=root / "serve.log") as server:
        yield server.url


def test_swagger_ui_renders_offline_under_its_policy(docs_service: str, browser: Any,
                                                    artifacts_dir: Path) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(RECORD_VIOLATIONS)
        elsewhere, errors = [], []
        page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(docs_service) else None)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{docs_service}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        assert page.locator(".opblock").count() > 10
        # "Try it out" runs a request against this origin and shows the answer
        page.locator(".opblock-summary", has_text="/healthz").first.click()
        page.get_by_role("button", name="Try it out").first.click()
        page.get_by_role("button", name="Execute").first.click()
        status = page.locator(".live-responses-table tbody .response-col_status").first
        expect(status).to_have_text("200", timeout=10_000)
        page.screenshot(path=str(artifacts_dir / "api-docs.png"), full_page=False)
        assert page.evaluate("window.__violations") == []
        assert elsewhere == [] and errors == []
    finally:
        context.close()
