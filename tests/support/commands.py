"""The ``pkceflow`` command as a user runs it, and the processes the tests start.

Nothing here imports pkceflow: the command is the console script installed next to the
running interpreter (``python -m pkceflow`` where there is none), in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["WAIT", "pkceflow_command", "reap", "scrubbed_environment", "warm_bytecode"]

#: Bounds every wait on a process, so a bug fails a test instead of hanging the run.
WAIT = 15.0
#: Environment variables that would change what the command does, or (the last one)
#: make every run compile pkceflow again: bytecode goes to PYTHONPYCACHEPREFIX instead.
DROPPED = (
    "BROWSER",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "PKCEFLOW_HOME",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONDONTWRITEBYTECODE",
)
#: What the commands import, compiled once per session (see ``warm_bytecode``).
_IMPORTED = (
    "pkceflow.cli, pkceflow.client, pkceflow.plugins, pkceflow._builtins, pkceflow.transport,"
    " pkceflow.file_store, pkceflow.profiles, pkceflow.loopback, pkceflow.browser, urllib3,"
    " filelock, pluggy, tomllib, attrs"
)


def pkceflow_command() -> list[str]:
    """The console script next to the running interpreter, else ``python -m pkceflow``."""
    script = Path(sys.executable).with_name("pkceflow")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "pkceflow"]


def scrubbed_environment(*dropped: str, prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment without ``DROPPED``, ``dropped`` and ``prefixes``."""
    names = {*DROPPED, *dropped}
    return {
        name: value
        for name, value in os.environ.items()
        if name not in names and not (prefixes and name.startswith(prefixes))
    }


def warm_bytecode(pycache: Path) -> None:
    """Compile what the commands import into ``pycache`` (a PYTHONPYCACHEPREFIX), once.

    The bytecode goes outside the source tree, and is written once per session rather
    than compiled again by each of the hundreds of commands the tests start.
    """
    env = scrubbed_environment()
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    subprocess.run(  # a warm-up only: whatever fails to import is compiled on first use
        [sys.executable, "-c", f"import {_IMPORTED}"],
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )


def reap(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Kill whichever of ``processes`` (started by the test) still runs; close their pipes."""
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=WAIT)
