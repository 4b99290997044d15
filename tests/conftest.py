"""Fixtures shared by the whole test suite.

Building the sample index costs ~30 s, so `sample_index` is built once per session and
every test that needs a real index (API, CLI, evaluation, ...) reuses it read-only.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = REPO_ROOT / "corpus"
SAMPLE_DEV = REPO_ROOT / "evaluation" / "datasets" / "sample_dev.jsonl"
NOTESQA = Path(sys.executable).parent / "notesqa"


def pytest_configure(config: pytest.Config) -> None:
    """Keep the tests off the developer's data folder (var/data: keys, collections, audit log), which
    would otherwise apply to every server and app the tests start (e.g. keys there require a key)."""
    if "NOTESQA_DATA_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="notesqa-test-data-")
        os.environ["NOTESQA_DATA_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the sample corpus with the default embedder. Do not write to it."""
    from index.builder import build_index

    index_dir = tmp_path_factory.mktemp("sample-index")
    build_index(SAMPLE_CORPUS, index_dir, show_progress=False)
    return index_dir


@pytest.fixture(scope="session")
def api_server(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real `notesqa serve` process on loopback, serving `sample_index`."""
    from service.local_server import LocalServer

    log_path = tmp_path_factory.mktemp("api-server") / "serve.log"
    with LocalServer(sample_index, log_path=log_path) as server:
        yield server.url


@pytest.fixture(scope="session")
def api(api_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server, timeout=60) as client:
        yield client
