"""Signed view links: what a token opens, for how long, and the secret behind them."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from service.domain.view_links import ViewLinks

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


@pytest.fixture
def links(tmp_path: Path) -> ViewLinks:
    return ViewLinks(tmp_path / "data" / "view_links.key", ttl_s=3600)


def test_a_token_opens_its_document_until_it_expires(links: ViewLinks) -> None:
    token = links.sign("default", "001_report", now=NOW)
    assert links.verify(token, "default", "001_report", now=NOW + 3599)
    assert not links.verify(token, "default", "001_report", now=NOW + 3601)
    assert not links.verify(token, "default", "002_other", now=NOW)
    assert not links.verify(token, "alpha", "001_report", now=NOW)


@pytest.mark.parametrize("token", ["", ".", "zz.abc", "7fffffff.", "7fffffff.!!!!", "7fffffff.AAAA", "文.字"])
def test_malformed_or_forged_tokens_open_nothing(links: ViewLinks, token: str) -> None:
    assert not links.verify(token, "default", "001_report", now=NOW)


def test_a_later_expiry_cannot_be_written_into_a_token(links: ViewLinks) -> None:
    expiry, _, mac = links.sign("default", "001_report", now=NOW).partition(".")
    extended = f"{int(expiry, 16) + 86400:x}.{mac}"
    assert not links.verify(extended, "default", "001_report", now=NOW)


def test_the_secret_is_private_and_shared_by_every_process_on_the_data_folder(links: ViewLinks) -> None:
    token = links.sign("default", "001_report", now=NOW)
    assert stat.S_IMODE(links.secret_path.stat().st_mode) == 0o600
    another_process = ViewLinks(links.secret_path, ttl_s=3600)
    assert another_process.verify(token, "default", "001_report", now=NOW)
    elsewhere = ViewLinks(links.secret_path.parent.parent / "other" / "view_links.key", ttl_s=3600)
    assert not elsewhere.verify(token, "default", "001_report", now=NOW)
