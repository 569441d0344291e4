"""1. Cold import of what a program imports for a PKCE login, as a multiple of ``python -c pass``.

Each import runs in a fresh interpreter (whole process, wall time), every command
once per round in a shuffled order; the median of the rounds is compared with the
median of ``python -c pass`` from the same rounds.
"""

from __future__ import annotations

import argparse
import sys

from benchmarks._common import Row, alternate_processes, clean_env, emit, fmt_ms, log, median, row

BASELINE = "pass"
STDLIB = "import secrets, hashlib, base64, urllib.parse, json, hmac"

#: (label, statement, goal as a multiple of the baseline or None)
TARGETS: list[tuple[str, str, float | None]] = [
    ("pkceflow_core", "import pkceflow_core", 5.0),
    ("pkceflow", "import pkceflow", 7.0),
    ("pkceflow Client", "from pkceflow import Client", 7.0),
    ("stdlib PKCE baseline", STDLIB, None),
    ("Authlib", "from authlib.integrations.requests_client import OAuth2Session", None),
    ("requests-oauthlib", "from requests_oauthlib import OAuth2Session", None),
    ("google-auth-oauthlib", "from google_auth_oauthlib.flow import InstalledAppFlow", None),
    ("msal", "import msal", None),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    commands = {"pass": [sys.executable, "-c", BASELINE]}
    commands.update({label: [sys.executable, "-c", stmt] for label, stmt, _ in TARGETS})
    log(f"import: {len(commands)} commands x {args.rounds} rounds")
    times = alternate_processes(commands, rounds=args.rounds, env=clean_env())
    base = median(times["pass"])
    rows: list[Row] = []
    for label, stmt, goal in TARGETS:
        value = median(times[label])
        ratio = value / base
        rows.append(
            row(
                "1 cold import",
                f"`{stmt}`",
                fmt_ms(value),
                versus=f"`python -c pass` {fmt_ms(base)}",
                ratio=ratio,
                goal="" if goal is None else f"<= {goal:g}x",
                met=None if goal is None else ratio <= goal,
                note=f"median of {args.rounds}, min {fmt_ms(min(times[label]))}",
            )
        )
    emit(rows)


if __name__ == "__main__":
    main()
