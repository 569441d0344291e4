"""Helpers of the fault tests: hand-written profiles, leftovers, this process's resources.

Nothing here imitates pkceflow. The commands, raw servers and grants these tests use
come from ``tests.support``; token files are written by pkceflow's own FileStore. Every
wait is bounded (WAIT), so a bug fails a test instead of hanging the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pkceflow.testing import PUBLIC_CLIENT_ID

#: Bounds every wait, so a bug fails a test instead of hanging the run.
WAIT = 15.0


def profile_toml(authorization_url: str, token_url: str) -> str:
    """A profile as ``pkceflow login`` saves it, written out by hand (format version 1)."""
    return (
        "version = 1\n"
        f"client_id = {json.dumps(PUBLIC_CLIENT_ID)}\n"
        f"auth_url = {json.dumps(authorization_url)}\n"
        f"token_url = {json.dumps(token_url)}\n"
        'scope = ["offline_access"]\n'
        'store = "file"\n'
    )


def temporary_files(folder: Path) -> list[str]:
    """Names of FileStore's temporary files left in ``folder``."""
    if not folder.is_dir():
        return []
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Resources:
    """The threads and file descriptors of this process at one moment."""

    threads: frozenset[threading.Thread]
    fds: dict[int, str]

    @classmethod
    def now(cls) -> Resources:
        fds: dict[int, str] = {}
        for name in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone
                fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        return cls(frozenset(t for t in threading.enumerate() if t.is_alive()), fds)

    def added_since(
        self, before: Resources, ignore_fds: Sequence[int] = ()
    ) -> tuple[list[str], list[str]]:
        """Threads and descriptors here that ``before`` did not have."""
        threads = sorted(t.name for t in self.threads - before.threads)
        fds = sorted(
            f"{fd} -> {target}"
            for fd, target in self.fds.items()
            if fd not in ignore_fds and before.fds.get(fd) != target
        )
        return threads, fds


def wait_released(
    before: Resources, *, timeout: float = 3.0, ignore_fds: Sequence[int] = ()
) -> float:
    """Wait until no thread or descriptor is left beyond ``before``; the seconds it took."""
    started = time.monotonic()
    while True:
        threads, fds = Resources.now().added_since(before, ignore_fds)
        if not threads and not fds:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(
                f"still there after {timeout} s: threads {threads}, descriptors {fds}"
            )
        time.sleep(0.02)
