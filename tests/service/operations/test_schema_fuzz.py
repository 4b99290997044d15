"""Property-based fuzzing of the whole HTTP API from its OpenAPI schema (schemathesis): no 500s.

In-process (ASGI) on an open app with two small collections; a bounded number of examples per
operation keeps the run around a minute. (Schemathesis' own pytest plugin is not used: it does not
support this pytest version; the operations are driven through hypothesis directly.)
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from service.app import create_app  # noqa: E402
from service.domain.keys import KeyStore  # noqa: E402
from tests.service.operations.conftest import ops_settings  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]

EXAMPLES_PER_OPERATION = 20


def fuzz(schema, headers: dict[str, str] | None = None, skip: tuple[str, ...] = ()) -> dict[str, str]:
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in skip:
            continue

        @given(case=operation.as_strategy(), collection=st.sampled_from([None, "alpha", "beta", "default"]),
               doc_id=st.sampled_from([None, "panda", "river"]))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case, collection: str | None, doc_id: str | None) -> None:
            # random names mostly meet 404s; real ones reach the code behind them
            if collection and case.path_parameters and "collection" in case.path_parameters:
                case.path_parameters["collection"] = collection
            if doc_id and case.path_parameters and "doc_id" in case.path_parameters:
                case.path_parameters["doc_id"] = doc_id
            if collection and isinstance(case.body, dict) and "collection" in case.body:
                case.body["collection"] = collection
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # collect every operation's failure, not just the first
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:2000]}"
    return failures


def test_no_operation_answers_500(two_collections: Path, tiny_default_index: Path, tmp_path: Path) -> None:
    data_dir = Path(shutil.copytree(two_collections, tmp_path / "data"))
    app = create_app(ops_settings(tiny_default_index, data_dir, max_upload_bytes=64 * 1024))
    started = time.monotonic()
    # creating a key would close the open API to the rest of the run (as it should)
    failures = fuzz(schemathesis.openapi.from_asgi("/openapi.json", app), skip=("POST /v1/keys",))
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
    assert time.monotonic() - started < 240


def test_no_operation_answers_500_with_a_restricted_key(two_collections: Path, tiny_default_index: Path,
                                                         tmp_path: Path) -> None:
    data_dir = Path(shutil.copytree(two_collections, tmp_path / "data"))
    _, token = KeyStore(data_dir / "keys.json").create("fuzzer", "editor", ["alpha"])
    app = create_app(ops_settings(tiny_default_index, data_dir, max_upload_bytes=64 * 1024))
    failures = fuzz(schemathesis.openapi.from_asgi("/openapi.json", app), {"Authorization": f"Bearer {token}"})
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
