"""One dataset asked of the same corpus indexed by several index backends, side by side:

    notesqa eval backends evaluation/datasets/sample_dev.jsonl --corpus corpus/ \\
        --backend embedded --backend milvus://127.0.0.1:19530
    notesqa eval backends evaluation/datasets/sample_dev.jsonl --corpus corpus/ --backend embedded --milvus-lite

Each backend gets an index folder of its own under the work folder; the corpus is embedded once (the
later builds start from a copy of the first one's embedding cache, so every backend holds the same
vectors); the backends then answer every question in turn, in-process (NotesQA.ask). `--milvus-lite`
starts a Milvus Lite gRPC server on a free loopback port for the run and adds it as a backend, named
`milvus-lite` in the results (its port changes from run to run).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evaluation.combined import seed_embedding_cache
from evaluation.datasets import SCOPED_SUFFIX, dataset_name, load_dataset
from evaluation.report import Result
from evaluation.runner import KS, InProcessClient, run_systems
from evaluation.scoring import summarize
from index.builder import EMBEDDED_BACKEND, build_index, index_backend_specs
from index.embedders import DEFAULT_EMBEDDER, Embedder, create_embedder
from index.snapshot import load_snapshot
from retrieval.pipeline import NotesQA

MILVUS_LITE = "milvus-lite"  # the system name of the Milvus Lite server `--milvus-lite` starts

def _slug(backend: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in backend).strip("_")


def build_backend_indexes(corpus: Path, workdir: Path, backends: Sequence[str], embedder: Embedder,
                          embedder_spec: str = DEFAULT_EMBEDDER, seed: Sequence[Path] = ()) -> dict[str, Path]:
    """backend -> its index folder of `corpus` under `workdir` (BuildError for an unknown backend). Each
    folder's embedding cache is seeded from the `seed` index folders and the backends built before it, so
    the corpus is embedded at most once and every backend holds the same vectors."""
    folders: dict[str, Path] = {}
    for backend in backends:
        dense, keyword = index_backend_specs(backend)
        folder = workdir / _slug(backend)
        seed_embedding_cache(folder, [*seed, *folders.values()])
        build_index(corpus, folder, embedder_spec, embedder=embedder, dense_index=dense, keyword_index=keyword)
        folders[backend] = folder
    return folders


def evaluate_backends(dataset: Path, corpus: Path, backends: Sequence[str], workdir: Path, *,
                      embedder_spec: str = DEFAULT_EMBEDDER, top_k: int = 5, limit: int | None = None,
                      scoped: bool = False, seed: Sequence[Path] = ()) -> list[Result]:
    """One Result per backend (its `system` is the backend), the same questions asked of each in turn."""
    embedder = create_embedder(embedder_spec)
    folders = build_backend_indexes(corpus, workdir, backends, embedder, embedder_spec, seed)
    clients = {backend: InProcessClient(NotesQA(load_snapshot(folder, expected_embedder=embedder.name), embedder))
               for backend, folder in folders.items()}
    items = load_dataset(dataset, limit=limit)
    per_backend = run_systems(items, clients, top_k=top_k, scoped=scoped)
    name = dataset_name(dataset) + (SCOPED_SUFFIX if scoped else "")
    return [Result(name, backend, summarize(records, ks=KS), records) for backend, records in per_backend.items()]


__all__ = ["EMBEDDED_BACKEND", "MILVUS_LITE", "build_backend_indexes", "evaluate_backends"]
