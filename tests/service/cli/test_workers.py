"""`notesqa serve --workers 2`: two processes on one port and one index folder, both answering, and both
swapping in a snapshot that `notesqa index build` publishes while they serve."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from index.snapshot import current_snapshot_path
from service.local_server import LocalServer

pytestmark = pytest.mark.integration

NOTESQA = Path(sys.executable).parent / "notesqa"
SWAP_TIMEOUT_S = 120.0
# uvicorn's supervisor replaces a worker that misses its 5 s health check: a stopped one is resumed sooner
STOP_AT_MOST_S = 3.0


def notesqa(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NOTESQA), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture()
def notes(tmp_path: Path) -> Path:
    corpus = tmp_path / "notes"
    corpus.mkdir()
    (corpus / "panda.md").write_text("# 熊猫笔记\n\n大熊猫主要生活在四川、陕西和甘肃的山区竹林中。\n\n"
                                     "2016年，世界自然保护联盟将大熊猫的受威胁等级从濒危下调为易危。\n", encoding="utf-8")
    (corpus / "river.md").write_text("# 长江笔记\n\n长江全长约6300公里，是中国第一长河。\n\n"
                                     "三峡大坝位于湖北省宜昌市三斗坪镇。\n", encoding="utf-8")
    return corpus


@contextlib.contextmanager
def only(server: LocalServer, pid: int) -> Iterator[None]:
    """Every other worker stopped (SIGSTOP): whatever answers now is `pid`."""
    others = [p for p in server.worker_pids() if p != pid]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    started = time.monotonic()
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)
    assert time.monotonic() - started < STOP_AT_MOST_S + 2, "a stopped worker may have been replaced"


def mapped_snapshots(pid: int) -> set[str]:
    """The snapshots whose dense index `pid` has memory-mapped (what it serves, or still holds)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {Path(line.split()[-1]).parent.name for line in maps.splitlines() if line.endswith("/dense.faiss")}


def test_two_workers_answer_and_swap_a_new_snapshot_together(notes: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    built = notesqa("index", "build", "--corpus", notes, "--index", index, "--dense-index", "faiss:HNSW32,Flat")
    assert built.returncode == 0, built.stderr
    first = current_snapshot_path(index).name
    assert json.loads((index / "snapshots" / first / "manifest.json").read_text())["dense"]["spec"] == \
        "faiss:HNSW32,Flat"

    with LocalServer(index, corpus=notes, workers=2, log_path=tmp_path / "serve.log",
                     env={"NOTESQA_WATCH_INTERVAL_S": "0.5", "NOTESQA_DATA_DIR": str(tmp_path / "data")}) as server:
        pids = server.worker_pids()
        assert len(pids) == 2 and server.pid not in pids, server.log()
        for pid in pids:
            assert mapped_snapshots(pid) == {first}  # each worker maps the one snapshot file
            with only(server, pid):
                answer = httpx.post(f"{server.url}/v1/ask", json={"question": "大熊猫主要生活在哪里？"}, timeout=10)
            assert answer.status_code == 200 and answer.json()["citations"][0]["title"] == "熊猫笔记"

        (notes / "yellow.md").write_text("# 黄河笔记\n\n黄河发源于青海省巴颜喀拉山脉北麓的约古宗列盆地。\n", encoding="utf-8")
        rebuilt = notesqa("index", "build", "--corpus", notes, "--index", index)  # names no backend: keeps HNSW
        assert rebuilt.returncode == 0, rebuilt.stderr
        second = current_snapshot_path(index).name
        assert second != first

        deadline = time.monotonic() + SWAP_TIMEOUT_S
        while any(second not in mapped_snapshots(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(second in mapped_snapshots(pid) for pid in pids), server.log()
        for pid in pids:
            with only(server, pid):
                health = httpx.get(f"{server.url}/healthz", timeout=10).json()
                answer = httpx.post(f"{server.url}/v1/ask", json={"question": "黄河发源于哪里？"}, timeout=10)
            assert health["snapshot"] == second
            assert answer.status_code == 200 and answer.json()["citations"][0]["title"] == "黄河笔记"
        assert server.worker_pids() == pids  # nobody was restarted: both swapped in place
