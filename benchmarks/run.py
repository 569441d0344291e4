"""Run every benchmark in one go and print one markdown table (``bash benchmarks/run.sh``).

Each benchmark is a script of its own (``benchmarks/bench_*.py``), run here in a
subprocess of this interpreter; their rows are collected into one table with the
machine, the versions and the goals. ``--quick`` runs fewer rounds (for trying the
scripts out, not for numbers); ``--profile`` also profiles whatever missed its goal
(``benchmarks/profile.py``); ``--out FILE`` writes the report there as well.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import BENCH_DIR, Row, fmt_ratio, log

ROOT = BENCH_DIR.parent

#: (module, full arguments, --quick arguments, profile targets when a row misses)
BENCHMARKS: list[tuple[str, list[str], list[str], list[str]]] = [
    ("bench_import", ["--rounds", "30"], ["--rounds", "3"], ["import"]),
    ("bench_cli_token", ["--rounds", "40"], ["--rounds", "3"], ["cli-token"]),
    ("bench_core_ops", ["--repeat", "9"], ["--repeat", "2"], ["core"]),
    ("bench_refresh", ["--runs", "5"], ["--runs", "1"], ["refresh"]),
    ("bench_login", ["--logins", "25"], ["--logins", "3"], ["login"]),
    ("bench_memory", ["--runs", "5"], ["--runs", "1"], ["memory"]),
    ("bench_async", ["--runs", "7"], ["--runs", "2"], []),
]

VERSIONS = [
    "pkceflow",
    "pkceflow-core",
    "Authlib",
    "requests",
    "httpx",
    "oauthlib",
    "requests-oauthlib",
    "google-auth-oauthlib",
    "google-auth",
    "msal",
    "pyinstrument",
    "urllib3",
    "attrs",
    "pluggy",
    "filelock",
    "PyJWT",
    "cryptography",
]


def machine() -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- machine: `nproc` {os.cpu_count()}, CPU {model}, {platform.system()}"
        f" {platform.release()}",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- load average when the run started: {load}",
    ]


def versions() -> str:
    found = []
    for name in VERSIONS:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (missing)")
    return ", ".join(found)


def parse_rows(stdout: str) -> list[Row]:
    import json

    rows: list[Row] = []
    for line in stdout.splitlines():
        if line.startswith("ROW "):
            rows.append(json.loads(line[4:]))
    return rows


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| # | measurement | result | compared with | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for item in rows:
        met = "" if item["met"] is None else ("met" if item["met"] else "**missed**")
        cells = [
            item["section"].split()[0],
            item["name"],
            item["result"],
            item["versus"],
            fmt_ratio(item["ratio"]),
            item["goal"],
            met,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds; numbers are rough")
    parser.add_argument("--only", nargs="*", default=None, help="bench_* modules to run")
    parser.add_argument("--profile", action="store_true", help="profile what missed its goal")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args()
    started = time.monotonic()
    report = ["# pkceflow benchmarks", "", *machine(), f"- versions: {versions()}", ""]
    rows: list[Row] = []
    details: list[str] = []
    missed_targets: list[str] = []
    for module, full, quick, targets in BENCHMARKS:
        if args.only and module not in args.only:
            continue
        log(f"== {module}")
        begin = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{module}", *(quick if args.quick else full)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        sys.stderr.write(done.stderr)
        if done.returncode != 0:
            raise SystemExit(f"{module} failed with exit {done.returncode}")
        found = parse_rows(done.stdout)
        rows.extend(found)
        extra = [ln for ln in done.stderr.splitlines() if ln.startswith(" ") or "importtime" in ln]
        if extra:
            details += [f"{module}:", "", "```", *extra, "```", ""]
        log(f"   {module}: {len(found)} rows in {time.monotonic() - begin:.0f} s")
        if any(item["met"] is False for item in found):
            missed_targets += targets
    report += table(rows)
    met = sum(1 for item in rows if item["met"] is True)
    missed = sum(1 for item in rows if item["met"] is False)
    report += ["", f"Goals met: {met}, missed: {missed}."]
    report += [f"Total time {time.monotonic() - started:.0f} s.", ""]
    if details:
        report += ["## Details", "", *details]
    if args.profile and missed_targets:
        for target in missed_targets:
            log(f"== profile {target}")
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.profile", target],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            report += [f"## Profile: {target}", "", "```", done.stdout.rstrip(), "```", ""]
            if done.returncode != 0:
                report += ["(the profile failed:)", "```", done.stderr[-2000:], "```", ""]
    text = "\n".join(report)
    sys.stdout.write(text + "\n")
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
