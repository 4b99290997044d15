"""Fixtures for the operations tests: a tiny default index, apps with a private data folder, keys.

Every index here is a 1-3 document corpus built with the real embedder (a second or two), so the
whole folder runs in well under the time of one sample-corpus build.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from index.builder import build_index
from service.app import create_app
from service.domain.keys import KeyStore
from service.settings import Settings
from tests.index.conftest import write_tiny_corpus

PANDA = ("# 熊猫保护笔记\n\n大熊猫主要生活在四川、陕西和甘肃的山区竹林中。\n\n"
         "2016年，世界自然保护联盟将大熊猫的受威胁等级从濒危下调为易危。\n")
RIVER = ("# 长江笔记\n\n长江全长约6300公里，是中国第一长河。\n\n"
         "三峡大坝位于湖北省宜昌市三斗坪镇，是世界上装机容量最大的水电站。\n")
SECRET = ("# 内部备忘\n\n代号青鸾的项目预算为四千万元，由财务部门单独审批。\n\n"
          "青鸾项目的负责人是李明，计划于明年三月启动。\n")


@pytest.fixture(scope="session")
def tiny_default_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default collection of every in-process app here (two short notes). Read-only."""
    root = tmp_path_factory.mktemp("ops-default")
    index_dir = root / "index"
    build_index(write_tiny_corpus(root / "corpus"), index_dir, show_progress=False)
    return index_dir


def ops_settings(index_dir: Path, data_dir: Path, **overrides) -> Settings:
    values = {"index_dir": index_dir, "data_dir": data_dir, "watch_interval_s": 0, "rate_limit_per_minute": 0}
    return Settings(**{**values, **overrides})


@pytest.fixture
def make_client(tiny_default_index: Path, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """make_client(**settings) -> a started TestClient on a private data folder (tmp_path / "data")."""
    clients: list[TestClient] = []

    def make(data_dir: Path | None = None, **overrides) -> TestClient:
        settings = ops_settings(tiny_default_index, data_dir or tmp_path / "data", **overrides)
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def wait_job(client: TestClient, job_id: str, headers: dict | None = None, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job.get("state") in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def upload(client: TestClient, collection: str, name: str, content: str | bytes, headers: dict | None = None,
           **form) -> dict:
    data = content.encode("utf-8") if isinstance(content, str) else content
    response = client.post(f"/v1/collections/{collection}/documents", files={"file": (name, data)},
                           data=form, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def create_indexed(client: TestClient, collection: str, documents: dict[str, str],
                   headers: dict | None = None) -> None:
    """Create `collection` and index `documents` (file name -> text); fails the test on any error."""
    assert client.post("/v1/collections", json={"name": collection}, headers=headers).status_code == 201
    job = None
    for name, text in documents.items():
        job = upload(client, collection, name, text, headers)["job"]
    assert wait_job(client, job["id"], headers)["state"] == "succeeded"
    # merged builds: the last job may finish first; wait until every document is indexed
    deadline = time.monotonic() + 30
    while not all(d["indexed"] for d in client.get(f"/v1/collections/{collection}/documents",
                                                   headers=headers).json()["documents"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.fixture(scope="session")
def two_collections(tiny_default_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with collections "alpha" (panda note) and "beta" (river and secret notes), built once."""
    data_dir = tmp_path_factory.mktemp("ops-two") / "data"
    with TestClient(create_app(ops_settings(tiny_default_index, data_dir))) as client:
        create_indexed(client, "alpha", {"panda.md": PANDA})
        create_indexed(client, "beta", {"river.txt": RIVER, "qingluan.txt": SECRET})
    return data_dir


@pytest.fixture
def data_copy(two_collections: Path, tmp_path: Path) -> Path:
    """A private copy of `two_collections` (with its embedding caches)."""
    return Path(shutil.copytree(two_collections, tmp_path / "data"))


@pytest.fixture
def keys(data_copy: Path) -> dict[str, str]:
    """Tokens by name: admin, reader_alpha, editor_alpha, reader_beta, reader_all, public_alpha, revoked."""
    store = KeyStore(data_copy / "keys.json")
    tokens = {
        "admin": store.create("admin", "admin", ["*"])[1],
        "reader_alpha": store.create("reader-alpha", "reader", ["alpha"])[1],
        "editor_alpha": store.create("editor-alpha", "editor", ["alpha"])[1],
        "reader_beta": store.create("reader-beta", "reader", ["beta"])[1],
        "reader_default": store.create("reader-default", "reader", ["default"])[1],
        "public_alpha": store.create("widget", "public", ["alpha"], ["https://widget.example"])[1],
        "revoked": store.create("old", "reader", ["alpha"])[1],
    }
    store.revoke("old")
    return tokens


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}
