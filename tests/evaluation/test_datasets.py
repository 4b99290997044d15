"""The dev sets: format, gold answers verified against the corpus, the robustness and holdout sets."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.datasets import dataset_name, load_dataset

pytestmark = pytest.mark.unit

DATASETS = Path(__file__).resolve().parents[2] / "evaluation" / "datasets"
CHECK = DATASETS / "check_sample_dev.py"
ROBUSTNESS = DATASETS / "sample_dev_robustness.jsonl"


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", timeout=60)


def test_the_main_dev_set_passes_its_checks() -> None:
    result = check(DATASETS / "sample_dev.jsonl", "-q")
    assert result.returncode == 0, result.stdout


def test_the_robustness_set_passes_without_the_minimums_only() -> None:
    result = check(ROBUSTNESS, "--no-minimums")
    assert result.returncode == 0, result.stdout
    strict = check(ROBUSTNESS)
    assert strict.returncode == 1 and "coverage:" in strict.stdout


def test_the_robustness_set_covers_each_variant() -> None:
    items = load_dataset(ROBUSTNESS)
    assert 15 <= len(items) <= 25
    tags = {t for item in items for t in item.tags}
    assert {"traditional", "long", "typo", "spacing", "english_terms"} <= tags
    traditional = [i for i in items if "traditional" in i.tags]
    assert all(any("\u4e00" <= c <= "\u9fff" for c in i.question) for i in traditional)
    assert any(len(i.question) > 80 for i in items if "long" in i.tags)
    assert any(not i.answerable for i in items)


def test_the_holdout_set_passes_its_checks() -> None:
    result = check(DATASETS / "sample_dev_holdout.jsonl", "--no-minimums")
    assert result.returncode == 0, result.stdout
    items = load_dataset(DATASETS / "sample_dev_holdout.jsonl")
    assert {i.id[0] for i in items} == {"h"} and sum(not i.answerable for i in items) >= 8


def test_check_flags_bad_tags(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    line = ROBUSTNESS.read_text(encoding="utf-8").splitlines()[0].replace('"tags": ["traditional"]', '"tags": "x"')
    bad.write_text(line + "\n", encoding="utf-8")
    result = check(bad, "--no-minimums")
    assert result.returncode == 1 and "tags must be a list" in result.stdout


def test_dataset_name() -> None:
    assert dataset_name("evaluation/datasets/sample_dev.jsonl") == "sample_dev"
    assert dataset_name("/data/cmrc2018/qa.jsonl") == "cmrc2018"
