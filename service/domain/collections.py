"""Collections (knowledge bases) on disk, and the documents uploaded to them.

    <data_dir>/collections/<name>/
        collection.json          name, description, created_at
        sources/<doc_id>.txt     what the indexer reads (.txt/.md as uploaded, .docx/.pdf as extracted text)
        sources/<doc_id>.jsonl   a bulk file of records, as uploaded
        sources/metadata.json    per source file: doc_id, title, filename, format, uploaded_at (loader format)
        originals/<doc_id>.docx  the uploaded file itself, when it is not the source (.docx, .pdf)
        index/                   snapshots, CURRENT, embedding cache (index.snapshot)
        index/BUILT_FROM         digest of the sources the served snapshot was built from

Every file is written durably (temporary file, fsync, rename, fsync of the folder) before an
upload is acknowledged; writers of one collection's sources are serialised by a file lock, so the
CLI and a running server can both change a collection.
"""
from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import time
from pathlib import Path

from index.loading import METADATA_FILE, SourceError, decode_bytes, make_doc_id, parse_jsonl
from index.snapshot import current_snapshot_path
from service.domain.uploads import SUFFIXES, ConversionError, TooLarge, convert
from service.domain.storage import (durable_unlink, durable_write, file_lock, read_json, remove_stale_temporaries,
                             write_json)

COLLECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DOC_ID = re.compile(r"^\w[\w.\-]{0,127}$")
BUILT_FROM = "BUILT_FROM"
SOURCE_SUFFIXES = (".txt", ".jsonl")


class StoreError(ValueError):
    """A request the store refuses; `kind` tells the API which status to answer."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # invalid_name | invalid_document_id | invalid_filename | unsupported | unreadable |
        #                   not_found | document_not_found | exists | document_exists | reserved |
        #                   doc_id_conflict | too_large
        self.message = message


def check_collection_name(name: str) -> str:
    if not isinstance(name, str) or not COLLECTION_NAME.match(name):
        raise StoreError("invalid_name", "a collection name is 1-64 characters: lowercase letters, digits, "
                                         "'-' and '_', starting with a letter or digit")
    return name


def check_doc_id(doc_id: str) -> str:
    """A document id is also a file name: no separators, no '..', no NUL, nothing the loader would rewrite."""
    if (not isinstance(doc_id, str) or not DOC_ID.match(doc_id) or ".." in doc_id
            or doc_id != _safe_doc_id(doc_id)):
        raise StoreError("invalid_document_id", "a document id is 1-128 letters, digits, '_', '-' or '.', "
                                                "starting with a letter or digit, without '..'")
    return doc_id


def _safe_doc_id(doc_id: str) -> str | None:
    try:
        return make_doc_id(doc_id)
    except ValueError:
        return None


def check_filename(filename: str | None) -> tuple[str, str]:
    """-> (stem, suffix) of an uploaded file's name; paths, NULs and hidden names are refused."""
    if not filename or not isinstance(filename, str):
        raise StoreError("invalid_filename", "the upload has no file name")
    if (len(filename) > 255 or any(c in filename for c in "/\\\x00") or filename.startswith(".")
            or any(ord(c) < 32 for c in filename) or filename.strip() != filename):
        raise StoreError("invalid_filename", "the file name must be a plain name (no path, no leading dot, "
                                             "no control characters)")
    path = Path(filename)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise StoreError("unsupported", f"unsupported file type {suffix or '(none)'}; "
                                        f"use one of {', '.join(SUFFIXES)}")
    return path.stem, suffix


def _original_name(entry: dict, doc_id: str) -> str | None:
    """The file name under originals/ of a stored document, from its metadata (None: the source is the
    upload). Entries written before the name was recorded have `<doc_id>.<format>`."""
    name = entry.get("original")
    if isinstance(name, str) and name and "/" not in name and name == Path(name).name:
        return name
    fmt = entry.get("format")
    return f"{doc_id}.{fmt}" if fmt in ("docx", "pdf") else None


def _jsonl_ids(path: Path) -> list[str]:
    try:
        return [d.doc_id for d in parse_jsonl(decode_bytes(path.read_bytes(), path.name), path.name).documents]
    except (OSError, SourceError):
        return []


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class CollectionStore:
    def __init__(self, data_dir: Path, reserved: tuple[str, ...] = ("default",)) -> None:
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "collections"
        self.reserved = reserved

    # --- collections -------------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        return self.root / check_collection_name(name)

    def index_dir(self, name: str) -> Path:
        return self.folder(name) / "index"

    def sources_dir(self, name: str) -> Path:
        return self.folder(name) / "sources"

    def exists(self, name: str) -> bool:
        try:
            return (self.folder(name) / "collection.json").is_file()
        except StoreError:
            return False

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if COLLECTION_NAME.match(p.name) and (p / "collection.json").is_file())

    def require(self, name: str) -> Path:
        folder = self.folder(name)
        if not (folder / "collection.json").is_file():
            raise StoreError("not_found", f"no collection named {name!r}")
        return folder

    def create(self, name: str, description: str = "") -> dict:
        check_collection_name(name)
        if name in self.reserved:
            raise StoreError("reserved", f"{name!r} is the name of the default collection (the index folder)")
        folder = self.folder(name)
        with file_lock(self.root / ".create.lock"):
            if (folder / "collection.json").is_file():
                raise StoreError("exists", f"collection {name!r} already exists")
            for sub in ("sources", "originals", "index"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            info = {"name": name, "description": description, "created_at": _now()}
            write_json(folder / "collection.json", info)
        return info

    def info(self, name: str) -> dict:
        return read_json(self.require(name) / "collection.json", {})

    def lock(self, name: str):
        return file_lock(self.folder(name) / ".sources.lock")

    # --- documents -----------------------------------------------------------------------------
    def _metadata(self, name: str) -> dict:
        data = read_json(self.sources_dir(name) / METADATA_FILE, None) or {}
        return data.get("documents", {}) if isinstance(data, dict) else {}

    def _source_files(self, name: str) -> dict[str, Path]:
        folder = self.sources_dir(name)
        if not folder.is_dir():
            return {}
        return {p.stem: p for p in sorted(folder.iterdir())
                if p.is_file() and p.suffix in SOURCE_SUFFIXES and not p.name.startswith(".")}

    def documents(self, name: str) -> list[dict]:
        self.require(name)
        metadata = self._metadata(name)
        documents = []
        for doc_id, path in self._source_files(name).items():
            meta = metadata.get(path.name, {})
            stat = path.stat()
            documents.append({"doc_id": doc_id, "title": meta.get("title", ""),
                              "filename": meta.get("filename", path.name), "format": meta.get("format", path.suffix[1:]),
                              "size": meta.get("size", stat.st_size), "sha256": meta.get("sha256", ""),
                              "uploaded_at": meta.get("uploaded_at", ""), "records": meta.get("records", 1)})
        return documents

    def document(self, name: str, doc_id: str) -> dict:
        check_doc_id(doc_id)
        for document in self.documents(name):
            if document["doc_id"] == doc_id:
                return document
        raise StoreError("document_not_found", f"collection {name!r} has no document {doc_id!r}")

    def put_document(self, name: str, *, filename: str | None, data: bytes, doc_id: str | None = None,
                     title: str | None = None, replace: bool | None = None,
                     max_bytes: int | None = None, max_chars: int | None = None) -> dict:
        """Convert, then store durably. replace: None = either, False = must be new, True = must exist.

        `max_bytes` bounds what a .docx inflates to and the text extracted, `max_chars` the text of each
        document (kind "too_large").
        Raises StoreError (ConversionError becomes kind "unreadable"); OSError (e.g. ENOSPC) propagates
        with nothing half-written: each file is either its old or its new version.
        """
        self.require(name)
        stem, suffix = check_filename(filename)
        if doc_id is None:
            doc_id = _safe_doc_id(stem)
            if doc_id is None:
                raise StoreError("invalid_document_id", f"cannot derive a document id from {filename!r}; "
                                                        "give one explicitly")
        check_doc_id(doc_id)
        try:
            converted = convert(data, suffix, filename, max_bytes, max_chars)
        except TooLarge as exc:
            raise StoreError("too_large", str(exc)) from None
        except ConversionError as exc:
            raise StoreError("unreadable", str(exc)) from None
        sources, originals = self.sources_dir(name), self.folder(name) / "originals"
        with self.lock(name):
            existing = self._source_files(name).get(doc_id)
            if replace is False and existing is not None:
                raise StoreError("document_exists", f"collection {name!r} already has a document {doc_id!r}; "
                                                    "replace it instead (PUT, or `notesqa documents replace`)")
            if replace is True and existing is None:
                raise StoreError("document_not_found", f"collection {name!r} has no document {doc_id!r}")
            target = sources / f"{doc_id}{converted.source_suffix}"
            self._check_unique_ids(name, converted.doc_ids or [doc_id], target, existing)
            metadata = self._metadata(name)
            old_entry = metadata.get(existing.name, {}) if existing is not None else {}
            old_original = _original_name(old_entry, doc_id) if existing is not None else None
            new_original = f"{doc_id}{suffix}" if converted.format in ("docx", "pdf") else None
            # the original first: once the source exists the document is part of the collection
            if new_original is not None:
                durable_write(originals / new_original, data)
            durable_write(target, converted.source)
            if existing is not None and existing != target:
                durable_unlink(existing)
            if old_original is not None and old_original != new_original:
                durable_unlink(originals / old_original)  # this document's own original, by its exact name
            if existing is not None:
                metadata.pop(existing.name, None)
            entry = {"doc_id": doc_id, "filename": filename, "format": converted.format,
                     "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "uploaded_at": _now(),
                     "records": converted.records}
            if new_original is not None:
                entry["original"] = new_original
            if converted.doc_ids is not None:
                entry["doc_ids"] = converted.doc_ids
            if title:
                entry["title"] = title
            metadata[target.name] = entry
            write_json(sources / METADATA_FILE, {"documents": metadata})
        return {"doc_id": doc_id, "title": title or "", **{k: entry[k] for k in
                                                           ("filename", "format", "size", "sha256",
                                                            "uploaded_at", "records")},
                "replaced": existing is not None}

    def _claimed_ids(self, name: str) -> dict[str, Path]:
        """Every document id the indexer reads from the collection's sources -> the source file holding it
        (a .txt holds its stem; a .jsonl the ids of its records)."""
        metadata = self._metadata(name)
        claimed: dict[str, Path] = {}
        for stem, path in self._source_files(name).items():
            ids = [stem]
            if path.suffix == ".jsonl":
                ids = metadata.get(path.name, {}).get("doc_ids")
                if not isinstance(ids, list):  # stored before record ids were kept: read the file
                    ids = _jsonl_ids(path)
            for doc_id in ids:
                claimed.setdefault(doc_id, path)
        return claimed

    def _check_unique_ids(self, name: str, new_ids: list[str], target: Path, existing: Path | None) -> None:
        """A document id names one document in a collection: refuse an upload whose ids (a .jsonl's record
        ids included) another source file already holds."""
        own = {target.name} | ({existing.name} if existing is not None else set())
        for doc_id in new_ids:
            holder = self._claimed_ids(name).get(doc_id)
            if holder is not None and holder.name not in own:
                raise StoreError("doc_id_conflict", f"collection {name!r} already has a document {doc_id!r} "
                                                    f"(from {holder.name}); document ids must be unique in a "
                                                    "collection: rename the record or delete that document first")

    def delete_document(self, name: str, doc_id: str) -> None:
        self.require(name)
        check_doc_id(doc_id)
        with self.lock(name):
            existing = self._source_files(name).get(doc_id)
            if existing is None:
                raise StoreError("document_not_found", f"collection {name!r} has no document {doc_id!r}")
            metadata = self._metadata(name)
            original = _original_name(metadata.get(existing.name, {}), doc_id)
            durable_unlink(existing)
            if original is not None:  # by its exact stored name: never another document's file
                durable_unlink(self.folder(name) / "originals" / original)
            metadata.pop(existing.name, None)
            write_json(self.sources_dir(name) / METADATA_FILE, {"documents": metadata})

    def original_path(self, name: str, doc_id: str) -> Path:
        check_doc_id(doc_id)
        source = self._source_files(name).get(doc_id)
        if source is None:
            raise StoreError("document_not_found", f"collection {name!r} has no document {doc_id!r}")
        original = _original_name(self._metadata(name).get(source.name, {}), doc_id)
        if original is not None and (self.folder(name) / "originals" / original).is_file():
            return self.folder(name) / "originals" / original
        return source

    # --- what the served index was built from ------------------------------------------------
    def sources_digest(self, name: str) -> str:
        digest = hashlib.sha256()
        folder = self.sources_dir(name)
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.is_file() and not path.name.startswith("."):
                digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()

    def has_sources(self, name: str) -> bool:
        return bool(self._source_files(name))

    def built_from(self, name: str) -> dict:
        return read_json(self.index_dir(name) / BUILT_FROM, {}) or {}

    def record_build(self, name: str, digest: str, snapshot: str | None, job_id: str) -> None:
        write_json(self.index_dir(name) / BUILT_FROM, {"digest": digest, "snapshot": snapshot, "job": job_id,
                                                       "at": _now()})

    def needs_build(self, name: str) -> bool:
        """True when the sources changed since the served snapshot was built (e.g. a crash mid-update)."""
        built = self.built_from(name)
        current = current_snapshot_path(self.index_dir(name))
        if not self.has_sources(name):
            return current is not None
        return built.get("digest") != self.sources_digest(name) or current is None \
            or built.get("snapshot") != current.name

    def clean(self, name: str) -> None:
        """Temporary files a crash left behind (never the data itself), and half-written snapshot
        folders when no build holds the index lock."""
        for sub in ("sources", "originals", "index"):
            remove_stale_temporaries(self.folder(name) / sub)
        remove_stale_temporaries(self.folder(name))
        snapshots = self.index_dir(name) / "snapshots"
        lock_path = self.index_dir(name) / ".lock"
        if not snapshots.is_dir() or not lock_path.exists():
            return
        with lock_path.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a build (the CLI's) is running: its temporary folder is in use
            try:
                for tmp in snapshots.glob(".tmp-*"):
                    shutil.rmtree(tmp, ignore_errors=True)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
