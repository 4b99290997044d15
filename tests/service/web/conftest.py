"""A real Chromium for the widget tests; they skip (not fail) where the browser is not installed."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.web.harness import CHROMIUM, chromium_available, launch


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not chromium_available():
        pytest.skip(f"no browser at {CHROMIUM}: install it with `apt-get install chromium fonts-wqy-zenhei` "
                    "(scripts/test.sh does); playwright's own browsers are never downloaded")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        instance = launch(playwright)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots go here: $NOTESQA_TEST_ARTIFACTS if set, else a temporary folder."""
    configured = os.environ.get("NOTESQA_TEST_ARTIFACTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("browser-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
