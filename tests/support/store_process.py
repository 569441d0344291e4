"""A second process on a FileStore folder: a synchronous Client, or a held store lock.

The asyncio tests race these against the tasks of their event loop::

    python tests/support/store_process.py token ISSUER CLIENT_ID FOLDER PROFILE SCOPE
    python tests/support/store_process.py hold FOLDER PROFILE

``token`` builds a ``pkceflow.Client`` on ``FileStore(FOLDER)`` (its server
discovered, its driver made, filelock imported), prints ``ready`` and, at the line
``go`` on standard input, prints ``{"token": ACCESS_TOKEN}`` from ``client.token()``
as JSON, or ``{"error": "Type: message"}``. ``hold`` takes the FileStore's lock of
PROFILE, prints ``ready``, and at ``go`` releases it and prints ``{"released": true}``.

:class:`StoreProcess` is the parent's side. Importing this module imports no pkceflow.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["StoreProcess"]

SCRIPT = Path(__file__).resolve()
#: Bounds every wait on the process, so a bug fails a test instead of hanging the run.
WAIT = 30.0


class StoreProcess:
    """The script above in a subprocess (a context manager that ends it by its PID)."""

    def __init__(self, *args: str) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(SCRIPT), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="store-process-out", daemon=True)
        self._reader.start()

    @classmethod
    def token(
        cls, issuer: str, client_id: str, folder: Path, profile: str, scope: str
    ) -> StoreProcess:
        """A process whose Client asks for ``profile``'s token at :meth:`go`."""
        return cls("token", issuer, client_id, str(folder), profile, scope)

    @classmethod
    def hold(cls, folder: Path, profile: str) -> StoreProcess:
        """A process holding ``profile``'s lock until :meth:`go`."""
        return cls("hold", str(folder), profile)

    def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        for line in stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put("")  # end of output

    def _line(self, timeout: float = WAIT) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the store process said nothing within {timeout} s") from None
        if not line:
            raise AssertionError(f"the store process ended early:\n{self._stderr()}")
        return line

    def _stderr(self) -> str:
        self._process.wait(WAIT)
        stderr = self._process.stderr
        return "" if stderr is None else stderr.read()

    def ready(self) -> StoreProcess:
        """Wait until the process is set up (``ready``); returns self."""
        line = self._line()
        assert line == "ready", line
        return self

    def go(self) -> None:
        """Tell the process to act now."""
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write("go\n")
        stdin.flush()

    def result(self) -> dict[str, Any]:
        """What the process printed after :meth:`go`, parsed."""
        answer: dict[str, Any] = json.loads(self._line())
        return answer

    def __enter__(self) -> StoreProcess:
        return self.ready()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stdin = self._process.stdin
        if stdin is not None and not stdin.closed:
            stdin.close()  # the script ends at the end of its input
        try:
            self._process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(WAIT)
        self._reader.join(WAIT)
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()


# -- the child's side ---------------------------------------------------------------------


def _say(value: object) -> None:
    sys.stdout.write(value if isinstance(value, str) else json.dumps(value))
    sys.stdout.write("\n")
    sys.stdout.flush()


def _token(issuer: str, client_id: str, folder: str, profile: str, scope: str) -> None:
    import filelock  # noqa: F401  (imported by the first lock otherwise, inside the race)

    from pkceflow import Client, PkceflowError
    from pkceflow.file_store import FileStore
    from pkceflow.plugins import make_plugin_manager
    from pkceflow.settings import HttpOptions

    client = Client.from_issuer(
        issuer,
        client_id,
        scope=scope,
        store=FileStore(folder),
        profile=profile,
        http=HttpOptions(timeout=WAIT),
        plugin_manager=make_plugin_manager(load_entry_points=False),
    )
    client.driver  # noqa: B018  (made before the start signal)
    _say("ready")
    if sys.stdin.readline().strip() != "go":
        return
    try:
        _say({"token": client.token()})
    except PkceflowError as exc:
        _say({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        client.close()
    sys.stdin.read()  # until the parent closes it


def _hold(folder: str, profile: str) -> None:
    from pkceflow.file_store import FileStore

    with FileStore(folder).lock(profile):
        _say("ready")
        sys.stdin.readline()
    _say({"released": True})
    sys.stdin.read()


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "token":
        _token(*args)
    elif command == "hold":
        _hold(*args)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
