"""One index from several corpora: merge the sources into one .jsonl and build that.

`build_index` takes one path; `write_combined_corpus` writes every readable document of several
sources (folders of notes, .jsonl files) into one .jsonl (doc_id, title, text and the metadata),
which segments exactly as the originals do. `seed_embedding_cache` copies the embedding caches
of indexes already built from those sources into the new index folder, so the combined build
embeds nothing it has embedded before.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from index.loading import load_sources
from index.models import SkippedSource

CACHE_FILE = "embedding_cache.sqlite"


def write_combined_corpus(sources: Sequence[str | Path], out_path: str | Path) -> tuple[int, list[SkippedSource]]:
    """-> (documents written, sources skipped). A doc_id seen in an earlier source wins."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    skipped: list[SkippedSource] = []
    written = 0
    with out_path.open("w", encoding="utf-8") as fh:
        for source in sources:
            loaded = load_sources(source)
            skipped.extend(loaded.skipped)
            for doc in loaded.documents:
                if doc.doc_id in seen:
                    skipped.append(SkippedSource(doc.source, f"duplicate doc_id {doc.doc_id!r} (kept the first)"))
                    continue
                seen.add(doc.doc_id)
                metadata = {k: v for k, v in doc.metadata.items() if k not in ("doc_id", "title", "text")}
                record = {"doc_id": doc.doc_id, "title": doc.title, "text": doc.text, **metadata}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
    return written, skipped


def seed_embedding_cache(index_dir: str | Path, source_index_dirs: Sequence[str | Path]) -> int:
    """Copy the vectors of other index folders' caches into `index_dir`'s; -> rows added."""
    target = Path(index_dir) / CACHE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(target, timeout=30)
    try:
        db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB)")
        before = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        for source in source_index_dirs:
            path = Path(source) / CACHE_FILE
            if not path.is_file() or path.resolve() == target.resolve():
                continue
            db.execute("ATTACH DATABASE ? AS src", (str(path),))
            with db:
                db.execute("INSERT OR IGNORE INTO vectors SELECT key, vector FROM src.vectors")
            db.execute("DETACH DATABASE src")
        return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] - before
    finally:
        db.close()
