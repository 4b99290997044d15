"""The import rules of pyproject.toml's [tool.importlinter]: data flows index -> retrieval -> service,
evaluation may use them all, and no package has an import cycle (not even through a late import)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("index", "retrieval", "service", "evaluation")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.unit


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=300)


def test_the_tree_keeps_its_import_contracts() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _copy_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "web",
                                                                                         "resources", "datasets"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, code: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + code + "\n", encoding="utf-8")


def test_an_import_up_the_chain_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    _append(root / "index" / "snapshot.py", "def _reach_up():\n    import retrieval.pipeline  # noqa")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "index.snapshot -> retrieval.pipeline" in result.stdout


def test_a_cycle_hidden_in_a_late_import_is_found(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    # service.app imports service.routes; a late import back from a route closes a cycle
    _append(root / "service" / "routes" / "health.py", "def _late():\n    import service.app  # noqa")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "no import cycle" in result.stdout and "BROKEN" in result.stdout
