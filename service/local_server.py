"""Run `notesqa serve` in a child process on loopback (for tests and benchmarks)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

STARTUP_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def notesqa_command() -> list[str]:
    """The installed console script next to this interpreter, else the package's __main__."""
    script = Path(sys.executable).parent / "notesqa"
    return [str(script)] if script.exists() else [sys.executable, "-m", "service"]


class LocalServer:
    """`with LocalServer(index_dir) as server:` serves until the block ends; `server.url` is its address."""

    def __init__(self, index_dir: str | Path, *, corpus: str | Path | None = None, embedder: str | None = None,
                 env: dict[str, str] | None = None, log_path: str | Path | None = None,
                 startup_timeout: float = STARTUP_TIMEOUT_S, workers: int = 1) -> None:
        self.index_dir = Path(index_dir)
        self.workers = workers
        self.corpus = corpus
        self.embedder = embedder
        self.env = {**os.environ, **(env or {})}
        self._owns_log = log_path is None
        if log_path is None:
            handle, log_path = tempfile.mkstemp(prefix="notesqa-serve-", suffix=".log")
            os.close(handle)
        self.log_path = Path(log_path)
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "server not started"
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The processes answering requests: the uvicorn workers under `serve --workers N`, else `pid`."""
        if self.workers <= 1:
            return [self.pid]
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            return []
        pids = []
        for child in map(int, children):
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"resource_tracker" not in command:  # multiprocessing's helper is no worker
                pids.append(child)
        return pids

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def start(self) -> LocalServer:
        # a free port can be taken between probing and binding; try another one then
        for _ in range(3):
            self.port = free_port()
            self._spawn()
            if self._wait_until_healthy():
                return self
            if "address already in use" not in self.log().lower():
                break
        log = self.log()
        self.stop()
        raise RuntimeError(f"notesqa serve did not become healthy; its log:\n{log[-4000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._owns_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _workers_started(self) -> bool:
        return self.log().count("Application startup complete") >= self.workers

    def _spawn(self) -> None:
        command = [*notesqa_command(), "serve", "--index", str(self.index_dir), "--host", "127.0.0.1",
                   "--port", str(self.port)]
        if self.corpus is not None:
            command += ["--corpus", str(self.corpus)]
        if self.embedder is not None:
            command += ["--embedder", self.embedder]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        # output goes to a file: a pipe nobody reads would fill up and block the server
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)

    def _wait_until_healthy(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                # with workers, the first one up answers: wait until every one of them is up
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200 and \
                        (self.workers <= 1 or self._workers_started()):
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        return False
