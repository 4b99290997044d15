"""index.openmp: how idle OpenMP threads wait, set before the runtimes load unless the operator chose."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from index.openmp import WAIT_VARIABLES, OpenMPSettings, configure_openmp, wait_settings

pytestmark = pytest.mark.unit


@pytest.fixture
def clean_environment(monkeypatch):
    for name in WAIT_VARIABLES:
        monkeypatch.setenv(name, "")  # recorded first, so what a test sets is undone too
        monkeypatch.delenv(name)


def test_a_short_spin_is_set_when_the_operator_chose_nothing(clean_environment):
    configure_openmp(OpenMPSettings(spin_count=123))
    assert os.environ["GOMP_SPINCOUNT"] == "123"
    assert "OMP_WAIT_POLICY" not in os.environ


@pytest.mark.parametrize("name, value", [("OMP_WAIT_POLICY", "PASSIVE"), ("GOMP_SPINCOUNT", "INFINITE")])
def test_an_operators_own_setting_wins(clean_environment, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    configure_openmp(OpenMPSettings(spin_count=123))
    assert os.environ[name] == value
    assert [n for n in WAIT_VARIABLES if n in os.environ] == [name]  # the other one is not added beside it


def test_importing_the_dense_index_sets_the_spin_count_and_loads_faiss():
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}
    probe = ("import sys, os; import index.dense; "
             "print(os.environ.get('GOMP_SPINCOUNT'), 'faiss' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(OpenMPSettings().spin_count), "True"]


def test_the_wait_settings_are_reported_as_the_runtimes_read_them(clean_environment, monkeypatch):
    assert wait_settings() == "libgomp defaults"
    configure_openmp(OpenMPSettings(spin_count=123))
    assert wait_settings() == "GOMP_SPINCOUNT=123"
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert wait_settings() == "OMP_WAIT_POLICY=PASSIVE, GOMP_SPINCOUNT=123"
