"""The shipped sample corpus is the shared one, byte for byte, with metadata the loader applies."""
from __future__ import annotations

import json

import pytest

from index.loading import load_sources
from tests.conftest import REPO_ROOT, SAMPLE_CORPUS

pytestmark = pytest.mark.unit
SHARED_CORPUS = REPO_ROOT.parent / "shared" / "corpus"


@pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason="../shared/corpus is not beside this checkout")
def test_sample_documents_are_the_shared_ones_byte_for_byte():
    shared = sorted(p.name for p in SHARED_CORPUS.glob("*.txt"))
    assert shared == sorted(p.name for p in SAMPLE_CORPUS.glob("*.txt"))
    for name in shared:
        assert (SAMPLE_CORPUS / name).read_bytes() == (SHARED_CORPUS / name).read_bytes(), name


def test_metadata_covers_every_document_and_is_applied():
    metadata = json.loads((SAMPLE_CORPUS / "metadata.json").read_text(encoding="utf-8"))["documents"]
    loaded = load_sources(SAMPLE_CORPUS)
    assert not loaded.skipped
    assert {d.source.split("/")[-1] for d in loaded.documents} == set(metadata)
    for doc in loaded.documents:
        entry = metadata[doc.source.split("/")[-1]]
        assert doc.title == entry["title"]
        assert doc.metadata["language"] == "zh"
        assert doc.metadata["date"] == entry["date"]
