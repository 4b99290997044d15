#!/usr/bin/env python
"""Load test on loopback: concurrent clients ask and search while documents are added and deleted.

    .venv/bin/python scripts/load_test.py [--clients 8] [--duration 30] [--index DIR] [--url URL --api-key K]

Without --url it starts `notesqa serve` on 127.0.0.1 with a fresh data folder (rate limit off,
since every client shares one IP), serving --index (default: the sample corpus, built into a
temporary folder) as the default collection plus a collection "load" that a writer changes all
along: it uploads a note, waits for its indexing job, replaces one, deletes an older one, and so on;
once in the run it uploads a long note (a court judgment's shape, cut into chunks when indexed) and
one over the document limit (refused with 413, the one 4xx that is expected).

Prints throughput, p50/p99 latency per kind of request and of /v1/ask with and without an indexing job
running, the error count (non-2xx other than the expected 413, or transport errors), the indexing jobs
done, the server's peak memory (VmHWM from /proc/<pid>/status), and checks that no answer asked after a
delete's job completed cites the deleted note. The exit status is 1 on any error or such citation.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service.local_server import LocalServer  # noqa: E402

DEV_SET = REPO / "evaluation" / "datasets" / "sample_dev.jsonl"
COLLECTION = "load"
NOTE = ("# 观测站笔记 {n}\n\n第{n}号观测站位于海拔{h}米的山脊上，建于{y}年。\n\n"
        "该站记录了{y}年以来的气温、降水和风速，第{n}号站的年平均气温为{t}摄氏度。\n\n"
        "站内共有{k}名工作人员，负责维护仪器并每日上报数据。\n")
LOAD_QUESTIONS = ["第3号观测站位于海拔多少米？", "观测站的年平均气温是多少？", "观测站有多少名工作人员？",
                  "哪一年建的观测站？"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def memory(pid: int) -> dict[str, int]:
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                fields[key] = int(value.split()[0])  # kB
    except OSError:
        pass
    return fields


LONG_CLAUSE = "被告人在第{n}号观测站附近多次实施盗窃，"
OVERSIZED_CHARS = 1_100_000  # above the service's default max_document_chars (1,000,000)


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.refused: list[str] = []  # the expected 4xx
        self.jobs_running = 0  # jobs the writer is waiting on now
        self.asks: list[tuple[float, str, set[str]]] = []  # (started, collection, cited doc ids)
        self.deleted: dict[str, float] = {}  # doc id -> when its delete job had succeeded

    def record(self, kind: str, seconds: float) -> None:
        self.latency.setdefault(kind, []).append(seconds * 1000)

    def stale_citations(self) -> list[str]:
        return [f"{doc} cited {started - gone:.2f} s after its delete completed"
                for started, collection, cited in self.asks if collection == COLLECTION
                for doc in cited if doc in self.deleted and started > (gone := self.deleted[doc])]


async def asker(client: httpx.AsyncClient, questions: list[str], stats: Stats, stop: asyncio.Event,
                rng: random.Random) -> None:
    while not stop.is_set():
        roll = rng.random()
        if roll < 0.45:
            kind, path, body = "ask", "/v1/ask", {"question": rng.choice(questions)}
        elif roll < 0.7:
            kind, path, body = "search", "/v1/search", {"query": rng.choice(questions), "top_k": 5}
        elif roll < 0.9:
            kind, path, body = "ask:load", "/v1/ask", {"question": rng.choice(LOAD_QUESTIONS), "collection": COLLECTION}
        else:
            kind, path, body = "search:load", "/v1/search", {"query": rng.choice(LOAD_QUESTIONS),
                                                             "collection": COLLECTION}
        started = time.perf_counter()
        during_job = stats.jobs_running > 0
        try:
            response = await client.post(path, json=body)
        except httpx.HTTPError as exc:
            stats.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            continue
        stats.record(kind, time.perf_counter() - started)
        if kind.startswith("ask"):
            stats.record("ask, job running" if during_job else "ask, no job", time.perf_counter() - started)
        if response.status_code != 200:
            stats.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
        elif kind.startswith("ask"):
            stats.asks.append((started, body.get("collection", "default"),
                               {c["doc_id"] for c in response.json().get("citations", [])}))


async def writer(client: httpx.AsyncClient, stats: Stats, stop: asyncio.Event, counts: dict[str, int],
                 rng: random.Random) -> None:
    n = 100
    live: list[str] = []
    documents = f"/v1/collections/{COLLECTION}/documents"

    def note(k: int) -> bytes:
        return NOTE.format(n=k, h=rng.randint(800, 4800), y=rng.randint(1950, 2020), t=rng.randint(-5, 25),
                           k=rng.randint(2, 30)).encode()

    async def submit(kind: str, request) -> dict | None:
        started = time.perf_counter()
        response = await request
        stats.record(kind, time.perf_counter() - started)
        if response.status_code != 202:
            stats.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
            return None
        return response.json()["job"]

    # one note over the document limit, refused before anything is stored
    clause = LONG_CLAUSE.format(n=0)
    oversized = ("# 超长判决\n\n" + clause * (OVERSIZED_CHARS // len(clause) + 1)).encode()
    response = await client.post(documents, files={"file": ("oversized.txt", oversized)})
    (stats.refused if response.status_code == 413 else stats.errors).append(
        f"oversized upload: {response.status_code} {response.text[:120]}")
    # one long note: a build of many chunks while the others ask
    long_note = ("# 观测站判决\n\n" + LONG_CLAUSE.format(n=1) * 600 + "判处有期徒刑一年。\n").encode()
    if job := await submit("upload", client.post(documents, files={"file": ("judgment.txt", long_note)})):
        await wait_job(client, job["id"], stats, counts, stop)
    while not stop.is_set():
        n += 1
        job = await submit("upload", client.post(documents, files={"file": (f"station-{n}.md", note(n))}))
        if job is None:
            continue
        live.append(f"station-{n}")
        await wait_job(client, job["id"], stats, counts, stop)
        if n % 3 == 0:  # replace the newest note by a new version of itself
            job = await submit("replace", client.put(f"{documents}/{live[-1]}",
                                                     files={"file": (f"{live[-1]}.md", note(n))}))
            if job:
                await wait_job(client, job["id"], stats, counts, stop)
        if len(live) > 3:
            doc_id = live.pop(0)
            job = await submit("delete", client.delete(f"{documents}/{doc_id}"))
            if job and (await wait_job(client, job["id"], stats, counts, stop)) == "succeeded":
                stats.deleted[doc_id] = time.perf_counter()


async def wait_job(client: httpx.AsyncClient, job_id: str, stats: Stats, counts: dict[str, int],
                   stop: asyncio.Event | None = None) -> str:
    """The job's final state; "unfinished" when the run ends first (counted, not an error)."""
    stats.jobs_running += 1
    try:
        while True:
            if stop is not None and stop.is_set():
                counts["unfinished"] = counts.get("unfinished", 0) + 1
                return "unfinished"
            job = (await client.get(f"/v1/jobs/{job_id}")).json()
            if job.get("state") in ("succeeded", "failed"):
                counts[job["state"]] = counts.get(job["state"], 0) + 1
                if job["state"] == "failed":
                    stats.errors.append(f"job {job_id}: {job.get('error')}")
                return job["state"]
            await asyncio.sleep(0.05)
    finally:
        stats.jobs_running -= 1


async def run(url: str, api_key: str | None, clients: int, duration: float, pid: int | None) -> int:
    questions = [json.loads(line)["question"] for line in DEV_SET.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as client:
        existing = await client.get(f"/v1/collections/{COLLECTION}")
        if existing.status_code == 404:
            created = await client.post("/v1/collections", json={"name": COLLECTION})
            assert created.status_code == 201, created.text
        setup = Stats()
        counts: dict[str, int] = {}
        for n in range(1, 4):  # something to ask about from the start
            note = NOTE.format(n=n, h=1000 + n, y=1990 + n, t=10 + n, k=5 + n)
            response = await client.post(f"/v1/collections/{COLLECTION}/documents",
                                         files={"file": (f"station-{n}.md", note.encode())})
            if response.status_code == 202:
                await wait_job(client, response.json()["job"]["id"], setup, counts)
        counts.clear()
        stats, stop, rng = Stats(), asyncio.Event(), random.Random(7)
        tasks = [asyncio.create_task(asker(client, questions, stats, stop, random.Random(i))) for i in range(clients)]
        tasks.append(asyncio.create_task(writer(client, stats, stop, counts, rng)))
        started = time.perf_counter()
        peak_rss = 0
        while time.perf_counter() - started < duration:
            await asyncio.sleep(0.5)
            if pid:
                peak_rss = max(peak_rss, memory(pid).get("VmRSS", 0))
        stop.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    writes = ("upload", "replace", "delete", "ask, job running", "ask, no job")  # the last two: asks again
    queries = sum(len(v) for k, v in stats.latency.items() if k not in writes)
    everything = [x for k, v in stats.latency.items() if k not in writes for x in v]
    print(f"\n{clients} clients for {elapsed:.1f} s against {url}")
    print(f"  questions and searches: {queries} ({queries / elapsed:.1f}/s)")
    print(f"  latency all queries:    p50 {percentile(everything, 0.5):.0f} ms, p99 {percentile(everything, 0.99):.0f} ms,"
          f" mean {statistics.fmean(everything) if everything else float('nan'):.0f} ms")
    for kind in sorted(stats.latency):
        values = stats.latency[kind]
        print(f"    {kind:<17} n={len(values):<6} p50 {percentile(values, 0.5):7.0f} ms   "
              f"p99 {percentile(values, 0.99):7.0f} ms")
    idle, busy = stats.latency.get("ask, no job", []), stats.latency.get("ask, job running", [])
    if idle and busy:
        print(f"  /v1/ask p50 with a job running / without: {percentile(busy, 0.5) / percentile(idle, 0.5):.2f}x")
    print(f"  indexing jobs during the run: {counts.get('succeeded', 0)} succeeded, {counts.get('failed', 0)} failed, "
          f"{counts.get('unfinished', 0)} still running at the end")
    print(f"  expected refusals: {len(stats.refused)}" + "".join(f"\n    {r}" for r in stats.refused))
    print(f"  errors: {len(stats.errors)}")
    for error in stats.errors[:10]:
        print(f"    {error}")
    stale = stats.stale_citations()
    print(f"  answers citing a note after its delete completed: {len(stale)} "
          f"(of {sum(1 for _, c, _ in stats.asks if c == COLLECTION)} answers from '{COLLECTION}', "
          f"{len(stats.deleted)} deletes)")
    for line in stale[:10]:
        print(f"    {line}")
    if pid:
        mem = memory(pid)
        print(f"  server peak memory (VmHWM): {mem.get('VmHWM', 0) / 1024:.0f} MiB "
              f"(peak RSS sampled {peak_rss / 1024:.0f} MiB)")
    return 1 if stats.errors or stale else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=30.0, help="Seconds of load.")
    parser.add_argument("--index", type=Path, help="Index folder served as the default collection.")
    parser.add_argument("--url", help="Use this running server instead of starting one.")
    parser.add_argument("--api-key", help="An editor key for --url (documents are changed).")
    parser.add_argument("--pid", type=int, help="The server's pid with --url, for its peak memory.")
    args = parser.parse_args()
    if args.url:
        return asyncio.run(run(args.url, args.api_key, args.clients, args.duration, args.pid))
    with tempfile.TemporaryDirectory(prefix="notesqa-load-") as tmp:
        index = args.index
        if index is None:
            from index.builder import build_index

            index = Path(tmp) / "index"
            print("building the sample corpus index…", file=sys.stderr)
            build_index(REPO / "corpus", index, show_progress=False)
        env = {"NOTESQA_DATA_DIR": str(Path(tmp) / "data"), "NOTESQA_RATE_LIMIT_PER_MINUTE": "0",
               "NOTESQA_AUDIT_ENABLED": os.environ.get("NOTESQA_AUDIT_ENABLED", "true")}
        with LocalServer(index, env=env, log_path=Path(tmp) / "serve.log") as server:
            print(f"server pid {server.pid} on {server.url}", file=sys.stderr)
            return asyncio.run(run(server.url, None, args.clients, args.duration, server.pid))


if __name__ == "__main__":
    sys.exit(main())
