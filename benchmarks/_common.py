"""Shared helpers of the benchmark scripts: rows, process timing, medians.

Every benchmark script prints its results as JSON lines starting with ``ROW `` on
standard output; ``run.py`` collects them into one table. Anything else a script
prints (progress, profiles) goes to standard error.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypedDict

__all__ = [
    "BENCH_DIR",
    "Row",
    "alternate_processes",
    "best_rate",
    "clean_env",
    "emit",
    "fmt_ms",
    "fmt_ratio",
    "log",
    "median",
    "row",
]

BENCH_DIR = Path(__file__).resolve().parent


class Row(TypedDict):
    """One line of the results table."""

    section: str  # "1 import", "2 cli token", ...
    name: str  # what was measured
    result: str  # the measurement as shown
    versus: str  # what it was compared with, as shown
    ratio: float | None  # result / versus as a multiple (time, memory)
    goal: str  # "<= 5x", "" when there is none
    met: bool | None  # None when there is no goal
    note: str  # extra facts (versions, counts, profiles)


def row(
    section: str,
    name: str,
    result: str,
    *,
    versus: str = "",
    ratio: float | None = None,
    goal: str = "",
    met: bool | None = None,
    note: str = "",
) -> Row:
    return Row(
        section=section,
        name=name,
        result=result,
        versus=versus,
        ratio=ratio,
        goal=goal,
        met=met,
        note=note,
    )


def emit(rows: Sequence[Row]) -> None:
    """Hand the rows to the driver (one ``ROW {json}`` line each)."""
    for item in rows:
        sys.stdout.write("ROW " + json.dumps(item) + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    """Progress on standard error."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for measured child processes: nothing that changes start-up."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "PYTHONPATH",
            "PYTHONPROFILEIMPORTTIME",
            "PYTHONSTARTUP",
            "PYTHONDEVMODE",
            "PYTHONTRACEMALLOC",
            "PYTHONWARNINGS",
            "BROWSER",
        )
    }
    env.update(extra or {})
    return env


def alternate_processes(
    commands: Mapping[str, Sequence[str]],
    *,
    rounds: int,
    env: Mapping[str, str] | None = None,
    warmup: int = 2,
    check: Callable[[str, subprocess.CompletedProcess[bytes]], None] | None = None,
    seed: int = 7,
) -> dict[str, list[float]]:
    """Wall time of each command, run ``rounds`` times, interleaved in a shuffled order.

    Interleaving spreads a busy neighbour's load over every command alike, so the
    ratios of medians stay meaningful on a shared machine. Runs in a temporary
    working directory so that nothing near the repository is importable by accident.
    """
    times: dict[str, list[float]] = {name: [] for name in commands}
    rng = random.Random(seed)
    names = list(commands)
    with tempfile.TemporaryDirectory(prefix="pkceflow-bench-") as cwd:
        for _ in range(warmup):  # compile .pyc files, fill the page cache
            for name in names:
                subprocess.run(commands[name], cwd=cwd, env=env, capture_output=True, check=False)
        for _ in range(rounds):
            rng.shuffle(names)
            for name in names:
                start = time.perf_counter()
                done = subprocess.run(
                    commands[name], cwd=cwd, env=env, capture_output=True, check=False
                )
                elapsed = time.perf_counter() - start
                if done.returncode != 0:
                    raise RuntimeError(
                        f"{name}: exit {done.returncode}: {done.stderr.decode(errors='replace')}"
                    )
                if check is not None:
                    check(name, done)
                times[name].append(elapsed)
    return times


def best_rate(
    candidates: Mapping[str, Callable[[], object]],
    *,
    repeat: int = 7,
    target: float = 0.08,
) -> dict[str, float]:
    """Operations per second of each callable: the best of ``repeat`` timed batches.

    Batch sizes are calibrated so one batch takes about ``target`` seconds; the
    candidates' batches are interleaved so drift hits them alike. The best batch is
    the least disturbed one, the usual estimator for CPU-bound micro-benchmarks.
    Time is this process's CPU time, so that the machine's other work (a shared
    machine preempts a batch now and then) does not count against a candidate.
    """
    clock = time.process_time
    numbers: dict[str, int] = {}
    for name, fn in candidates.items():
        number = 1
        while True:
            start = clock()
            for _ in range(number):
                fn()
            elapsed = clock() - start
            if elapsed >= target / 4 or number >= 1 << 22:
                numbers[name] = max(1, int(number * target / max(elapsed, 1e-9)))
                break
            number *= 4
    best: dict[str, float] = dict.fromkeys(candidates, float("inf"))
    for _ in range(repeat):
        for name, fn in candidates.items():
            number = numbers[name]
            start = clock()
            for _ in range(number):
                fn()
            per_op = (clock() - start) / number
            best[name] = min(best[name], per_op)
    return {name: 1.0 / per_op for name, per_op in best.items()}
