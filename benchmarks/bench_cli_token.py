"""2. ``pkceflow token --profile X`` with a valid cached token, whole process vs ``python -c pass``.

The profile and token are written the way ``tests/cli`` seeds them: the TestProvider
issues real tokens, pkceflow's own Profile and FileStore write them under a temporary
PKCEFLOW_HOME. The provider is stopped before timing: a fresh cached token needs no
server. Also reports ``-X importtime`` (console script, PYTHONPROFILEIMPORTTIME=1).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks._common import (
    Row,
    alternate_processes,
    clean_env,
    emit,
    fmt_ms,
    log,
    median,
    row,
)
from benchmarks._provider import ProviderProcess

PROFILE = "bench"
GOAL = 6.0
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def seed(home: Path) -> str:
    """Write a profile and a fresh token set under ``home``; return the access token."""
    from pkceflow.file_store import FileStore
    from pkceflow.profiles import Profile
    from pkceflow.testing import PUBLIC_CLIENT_ID
    from pkceflow_core import TokenSet

    with ProviderProcess() as provider:
        issued = provider.call("issue", client_id=PUBLIC_CLIENT_ID, scope="openid offline_access")
        tokens = TokenSet(
            access_token=issued["access_token"],
            token_type="Bearer",
            expires_at=time.time() + float(issued["expires_in"]),
            refresh_token=issued["refresh_token"],
            id_token=issued.get("id_token"),
            scope=tuple(issued["scope"].split()),
        )
        FileStore(home / "tokens").save(PROFILE, tokens)
        profile = Profile(
            name=PROFILE,
            client_id=PUBLIC_CLIENT_ID,
            issuer=provider["issuer"],
            auth_url=provider["authorization_endpoint"],
            token_url=provider["token_endpoint"],
            revocation_url=provider["revocation_endpoint"],
            jwks_uri=provider["jwks_uri"],
            iss_parameter_supported=True,
            scope=("openid", "offline_access"),
        )
    path = home / "profiles" / f"{PROFILE}.toml"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(profile.to_toml(), "utf-8")
    path.chmod(0o600)
    return tokens.access_token


def importtime(
    command: list[str], env: dict[str, str], runs: int = 5
) -> list[tuple[str, int, int]]:
    """(module, median self us, median cumulative us) for top-level imports of ``command``."""
    selfs: dict[str, list[int]] = defaultdict(list)
    cumuls: dict[str, list[int]] = defaultdict(list)
    depth0: set[str] = set()
    for _ in range(runs):
        done = subprocess.run(
            command, env={**env, "PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True, check=True
        )
        for line in done.stderr.decode().splitlines():
            match = _LINE.match(line)
            if match:
                name = match.group(4)
                selfs[name].append(int(match.group(1)))
                cumuls[name].append(int(match.group(2)))
                if len(match.group(3)) <= 1:
                    depth0.add(name)
    return [
        (name, int(median(selfs[name])), int(median(cumuls[name])))
        for name in depth0
        if name not in ("site", "encodings")  # the interpreter's own start-up
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    script = str(Path(sys.executable).with_name("pkceflow"))
    with tempfile.TemporaryDirectory(prefix="pkceflow-bench-home-") as tmp:
        home = Path(tmp)
        os.chmod(home, 0o700)
        expected = seed(home)
        env = clean_env({"PKCEFLOW_HOME": str(home)})

        def check(name: str, done: subprocess.CompletedProcess[bytes]) -> None:
            if name != "pass" and done.stdout.decode() != expected + "\n":
                raise RuntimeError(f"{name} printed {done.stdout!r}")

        commands = {
            "pass": [sys.executable, "-c", "pass"],
            "console script": [script, "token", "--profile", PROFILE],
            "python -m pkceflow": [
                sys.executable,
                "-m",
                "pkceflow",
                "token",
                "--profile",
                PROFILE,
            ],
        }
        log(f"cli token: {len(commands)} commands x {args.rounds} rounds")
        times = alternate_processes(commands, rounds=args.rounds, env=env, check=check)
        imports = importtime([script, "token", "--profile", PROFILE], env)
    base = median(times["pass"])
    rows: list[Row] = []
    by_cumulative = sorted(imports, key=lambda item: -item[2])
    top = ", ".join(f"{name} {cum / 1000:.1f}" for name, _, cum in by_cumulative[:6])
    for label, goal in (("console script", GOAL), ("python -m pkceflow", None)):
        value = median(times[label])
        ratio = value / base
        cmd = "pkceflow token" if label == "console script" else "python -m pkceflow token"
        rows.append(
            row(
                "2 cli token (cached)",
                f"`{cmd} --profile {PROFILE}`",
                fmt_ms(value),
                versus=f"`python -c pass` {fmt_ms(base)}",
                ratio=ratio,
                goal="" if goal is None else f"<= {goal:g}x",
                met=None if goal is None else ratio <= goal,
                note=f"median of {args.rounds}"
                + (f"; -X importtime top (cumulative ms): {top}" if goal is not None else ""),
            )
        )
    log("-X importtime of `pkceflow token` (top-level imports, median of 5, microseconds):")
    log(f"  {'cumulative':>10} {'self':>8}  module")
    for name, own, cum in by_cumulative[:15]:
        log(f"  {cum:>10} {own:>8}  {name}")
    emit(rows)


if __name__ == "__main__":
    main()
