"""Running the real ``pkceflow`` command in a subprocess against an in-process TestProvider.

Nothing here imports pkceflow's client code: the command under test is the installed
console script (or ``python -m pkceflow.cli`` where there is none), its home is a
temporary folder, and the browser is ``fake_browser.py`` through ``BROWSER``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from pkceflow.testing import PUBLIC_CLIENT_ID, TestProvider
from pkceflow_core import TokenSet

__all__ = [
    "ERROR_PREFIX",
    "FAKE_BROWSER",
    "Cli",
    "Result",
    "Running",
    "bearer_get",
    "pkceflow_command",
    "query_pairs",
    "redirect_port",
    "refuses_connections",
]

FAKE_BROWSER = Path(__file__).with_name("fake_browser.py")
ERROR_PREFIX = "pkceflow: error:"
DEFAULT_TIMEOUT = 30.0
_URL_LINE = re.compile(r"^\s+(http://\S+/authorize\?\S+)$", re.MULTILINE)
# Environment variables that would change what the command does, or (the last one)
# make every run compile pkceflow again: bytecode goes to PYTHONPYCACHEPREFIX instead,
# outside the source tree.
_DROPPED = (
    "BROWSER",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONDONTWRITEBYTECODE",
)


def pkceflow_command() -> list[str]:
    """The console script next to the running interpreter, else ``python -m pkceflow.cli``."""
    script = Path(sys.executable).with_name("pkceflow")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "pkceflow.cli"]


def bearer_get(url: str, token: str) -> int:
    """GET ``url`` with ``Authorization: Bearer token``; the HTTP status."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", parts.path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def refuses_connections(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on ``host:port`` any more."""
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return False
    except ConnectionRefusedError:
        return True


@dataclass(frozen=True)
class Result:
    """What one run of the command did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def error_line(self) -> str:
        """The one ``pkceflow: error:`` line, which must end standard error, no traceback."""
        lines = self.stderr.splitlines()
        errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
        assert len(errors) == 1, f"not exactly one error line: {self}"
        assert lines[-1] == errors[0], f"the error line is not the last one: {self}"
        assert "Traceback" not in self.stderr, self
        return errors[0]

    def fails(self, code: int, *fragments: str, alone: bool = True) -> str:
        """Check the exit code, an empty stdout and one error line holding ``fragments``.

        ``alone``: standard error is that one line and nothing else. Returns the line.
        """
        assert self.returncode == code, f"exit {self.returncode}, not {code}: {self}"
        assert self.stdout == "", self
        line = self.error_line()
        if alone:
            assert self.stderr == line + "\n", self
        for fragment in fragments:
            assert fragment in line, f"{fragment!r} not in {line!r}"
        return line

    def ok(self) -> Result:
        """Check that the command succeeded; returns self."""
        assert self.returncode == 0, self
        assert ERROR_PREFIX not in self.stderr, self
        assert "Traceback" not in self.stderr, self
        return self

    def authorization_url(self) -> str:
        """The authorization URL the command showed on standard error."""
        found = _URL_LINE.findall(self.stderr)
        assert len(found) == 1, self
        return str(found[0])

    def json(self) -> Any:
        return json.loads(self.stdout)


def query_pairs(url: str) -> list[tuple[str, str]]:
    """The query of ``url`` as (name, value) pairs, repeats and order kept."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def redirect_port(authorization_url: str) -> int:
    """The port of the loopback redirect URI named in an authorization URL."""
    (redirect_uri,) = parse_qs(urlsplit(authorization_url).query)["redirect_uri"]
    port = urlsplit(redirect_uri).port
    assert port is not None
    return port


@dataclass
class Running:
    """A command started in the background, its output collected as it comes."""

    args: tuple[str, ...]
    process: subprocess.Popen[bytes]
    _out: list[bytes] = field(default_factory=list)
    _err: list[bytes] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _readers: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        for stream, sink in ((self.process.stdout, self._out), (self.process.stderr, self._err)):
            reader = threading.Thread(target=self._read, args=(stream, sink), daemon=True)
            reader.start()
            self._readers.append(reader)

    def _read(self, stream: IO[bytes], sink: list[bytes]) -> None:
        fd = stream.fileno()
        while chunk := os.read(fd, 65536):
            with self._changed:
                sink.append(chunk)
                self._changed.notify_all()

    @property
    def stderr(self) -> str:
        with self._changed:
            return b"".join(self._err).decode("utf-8", "replace")

    def wait_for_stderr(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """Wait until standard error matches ``pattern`` (a regex, multi-line)."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.MULTILINE)
        with self._changed:
            while True:
                match = regex.search(b"".join(self._err).decode("utf-8", "replace"))
                if match is not None:
                    return match
                left = deadline - time.monotonic()
                assert left > 0, f"{pattern!r} never appeared on stderr: {self.stderr!r}"
                assert self.process.poll() is None or self._readers_alive(), (
                    f"the command ended without printing {pattern!r}: {self.stderr!r}"
                )
                self._changed.wait(min(left, 0.1))

    def _readers_alive(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def wait_for_url(self, timeout: float = 15.0) -> str:
        """The authorization URL, once the command has printed it."""
        return self.wait_for_stderr(_URL_LINE.pattern, timeout).group(1)

    def interrupt(self) -> None:
        """Send SIGINT, as Ctrl-C in a terminal would."""
        self.process.send_signal(signal.SIGINT)

    def finish(self, timeout: float = DEFAULT_TIMEOUT) -> Result:
        """Wait for the command to end and return what it did."""
        try:
            code = self.process.wait(timeout)
        finally:
            self.close()
        return Result(
            self.args,
            code,
            b"".join(self._out).decode("utf-8"),
            b"".join(self._err).decode("utf-8"),
        )

    def close(self) -> None:
        """Kill the command if it still runs; close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class Cli:
    """Runs ``pkceflow`` with its own PKCEFLOW_HOME, config folders and fake browser."""

    def __init__(self, root: Path, pycache: Path) -> None:
        self.root = root
        self.home = root / "pkceflow-home"
        self.browser_log = root / "browser.jsonl"
        self.command = pkceflow_command()
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
        env.update(
            PKCEFLOW_HOME=str(self.home),
            # Keep keyring backends and anything else that looks at the user's
            # folders inside the test's own.
            XDG_CONFIG_HOME=str(root / "xdg-config"),
            XDG_DATA_HOME=str(root / "xdg-data"),
            XDG_STATE_HOME=str(root / "xdg-state"),
            BROWSER=f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_BROWSER))} %s",
            FAKE_BROWSER_LOG=str(self.browser_log),
            PYTHONPYCACHEPREFIX=str(pycache),
        )
        self.env = env
        self._running: list[Running] = []

    # ---- running

    def run(
        self,
        *args: str,
        timeout: float = DEFAULT_TIMEOUT,
        env: dict[str, str] | None = None,
        command: Sequence[str] | None = None,
    ) -> Result:
        """Run ``pkceflow *args`` to the end (stdin is /dev/null)."""
        completed = subprocess.run(
            [*(command or self.command), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={**self.env, **(env or {})},
            timeout=timeout,
            check=False,
        )
        return Result(
            tuple(args),
            completed.returncode,
            completed.stdout.decode("utf-8"),
            completed.stderr.decode("utf-8"),
        )

    def start(self, *args: str, stdin: int = subprocess.DEVNULL) -> Running:
        """Start ``pkceflow *args`` in the background (see Running)."""
        process = subprocess.Popen(
            [*self.command, *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        running = Running(tuple(args), process)
        self._running.append(running)
        return running

    def close(self) -> None:
        """Stop whatever a test left running."""
        for running in self._running:
            running.close()

    def login(
        self,
        provider: TestProvider,
        *extra: str,
        profile: str = "work",
        client_id: str = PUBLIC_CLIENT_ID,
        scope: str | None = "openid offline_access",
        timeout: str = "20",
    ) -> Result:
        """``pkceflow login`` of a new profile at ``provider`` through the fake browser."""
        args = ["login", "--profile", profile, "--client-id", client_id, "--issuer"]
        args += [provider.issuer, "--timeout", timeout]
        if scope is not None:
            args += ["--scope", scope]
        return self.run(*args, *extra)

    def seed(
        self,
        provider: TestProvider,
        *,
        profile: str = "work",
        client_id: str = PUBLIC_CLIENT_ID,
        client_secret: str | None = None,
        scope: str = "openid offline_access",
        refresh_token: bool = True,
        expires: bool = True,
    ) -> TokenSet:
        """A login as ``pkceflow login`` would leave it, without the browser round trip.

        The provider issues real tokens (``issue_tokens``, honouring its settings);
        pkceflow's own Profile and FileStore write them where the command looks. For
        tests of the other commands, where the login is not what is tested.
        """
        from pkceflow.file_store import FileStore
        from pkceflow.profiles import Profile, save_client_secret

        issued = provider.issue_tokens(client_id, scope=scope)
        lifetime = issued["expires_in"]
        tokens = TokenSet(
            access_token=issued["access_token"],
            token_type="Bearer",
            expires_at=time.time() + float(lifetime) if expires else None,
            refresh_token=issued["refresh_token"] if refresh_token else None,
            id_token=issued.get("id_token"),
            scope=tuple(issued["scope"].split()),
        )
        store = FileStore(self.home / "tokens")
        store.save(profile, tokens)
        if client_secret is not None:
            save_client_secret(store, profile, client_secret)
        saved = Profile(
            name=profile,
            client_id=client_id,
            issuer=provider.issuer,
            auth_url=provider.authorization_endpoint,
            token_url=provider.token_endpoint,
            revocation_url=provider.revocation_endpoint,
            userinfo_url=provider.userinfo_endpoint,
            jwks_uri=provider.jwks_uri,
            iss_parameter_supported=True,
            scope=tuple(scope.split()),
            has_client_secret=client_secret is not None,
        )
        path = self.profile_path(profile)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(saved.to_toml(), "utf-8")
        path.chmod(0o600)
        return tokens

    def token(self, profile: str = "work", *extra: str) -> str:
        """The access token ``pkceflow token`` prints (checked to be all it prints)."""
        result = self.run("token", "--profile", profile, *extra).ok()
        assert result.stderr == "", result
        assert result.stdout.endswith("\n"), result
        assert result.stdout.count("\n") == 1, result
        return result.stdout[:-1]

    # ---- looking at what it left behind

    def profile_path(self, name: str = "work") -> Path:
        return self.home / "profiles" / f"{name}.toml"

    def token_path(self, name: str = "work") -> Path:
        return self.home / "tokens" / f"{name}.json"

    def stored(self, name: str = "work") -> dict[str, Any] | None:
        """The token set the file store holds for ``name`` (read directly), or None."""
        path = self.token_path(name)
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return data

    def files(self) -> Iterator[Path]:
        """Every file under the test's folders (PKCEFLOW_HOME and the XDG ones)."""
        return (path for path in self.root.rglob("*") if path.is_file())

    def browser_visits(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The fake browser's records, once ``count`` of them are there."""
        deadline = time.monotonic() + timeout
        while True:
            records: list[dict[str, Any]] = []
            if self.browser_log.exists():
                text = self.browser_log.read_text("utf-8")
                records = [json.loads(line) for line in text.splitlines() if line.strip()]
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.02)
