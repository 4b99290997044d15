"""The app's wiring without an index: settings, CORS, error handling (stub service)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.errors import DocumentNotFound
from service.schemas import DocumentList, Health
from service.settings import SAMPLE_CORPUS, Settings

pytestmark = pytest.mark.unit


class StubService:
    """Stands in for QAService: healthy, no documents, and a search that crashes."""

    def health(self) -> Health:
        return Health(documents=0, paragraphs=0, embedder="stub", built_at=None, snapshot="stub")

    def documents(self) -> DocumentList:
        return DocumentList(documents=[])

    def document(self, doc_id: str):
        raise DocumentNotFound(f"no document with id {doc_id!r}")

    def search(self, query: str, top_k: int):
        raise RuntimeError("secret internal detail /etc/passwd")


def client_for(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, qa_service=StubService()), raise_server_exceptions=False)


def test_unexpected_errors_become_opaque_500s() -> None:
    with client_for(Settings()) as client:
        response = client.post("/v1/search", json={"query": "x"})
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_service_errors_keep_their_code() -> None:
    with client_for(Settings()) as client:
        response = client.get("/v1/documents/missing")
    assert response.status_code == 404
    assert response.json() == {"code": "document_not_found", "message": "no document with id 'missing'"}


def test_cors_allows_only_configured_origins() -> None:
    settings = Settings(cors_origins=["https://notes.example/"])
    with client_for(settings) as client:
        allowed = client.options("/v1/ask", headers={"Origin": "https://notes.example",
                                                     "Access-Control-Request-Method": "POST"})
        other = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://notes.example"
    assert "access-control-allow-origin" not in other.headers


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("NOTESQA_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.setenv("NOTESQA_PORT", "9001")
    monkeypatch.setenv("NOTESQA_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("NOTESQA_MAX_TOP_K", "20")
    settings = Settings()
    assert settings.index_dir == tmp_path / "idx"
    assert settings.port == 9001
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.max_top_k == 20
    assert settings.max_question_chars == 2000
    assert settings.corpus_path == SAMPLE_CORPUS and (SAMPLE_CORPUS / "metadata.json").exists()


@pytest.mark.parametrize("overrides", [{"port": 0}, {"port": 70000}, {"max_top_k": 0}, {"max_question_chars": 0},
                                       {"embedder": "word2vec"}, {"embedder": "sentence-transformers:"},
                                       {"host": " "}, {"span_reader": "/nonexistent/reader.safetensors"}])
def test_invalid_settings_are_refused(overrides: dict) -> None:
    with pytest.raises(ValueError):
        Settings(**overrides)


def test_the_span_reader_can_be_turned_off() -> None:
    assert Settings(span_reader="none").span_reader_path is None
    assert Settings().span_reader_path is not None and Settings().span_reader_path.is_file()


def test_the_arbiter_is_checked_against_the_models_it_runs_beside(tmp_path) -> None:
    assert Settings().arbiter_path is not None and Settings().arbiter_path.is_file()
    assert Settings(arbiter="none").arbiter_path is None
    with pytest.raises(ValueError, match="notesqa train arbiter"):
        Settings(arbiter=str(tmp_path / "missing.json"))
    other_reader = tmp_path / "reader.safetensors"
    other_reader.write_bytes(Settings().span_reader_path.read_bytes()[:-1] + b" ")
    with pytest.raises(ValueError, match="span_reader"):
        Settings(span_reader=str(other_reader))
    assert Settings(span_reader=str(other_reader), arbiter="none").arbiter_path is None


def test_index_dir_must_not_be_a_file(tmp_path) -> None:
    file = tmp_path / "index"
    file.write_text("not a folder")
    with pytest.raises(ValueError):
        Settings(index_dir=file)
