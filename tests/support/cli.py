"""Running the real ``pkceflow`` command in a subprocess, with a home of its own.

The command is the installed console script (``commands.pkceflow_command``), its
PKCEFLOW_HOME and XDG folders are inside the test's folder, stdin is /dev/null, and
the browser is ``fake_browser.py`` through ``BROWSER`` (see ``browsers``). Nothing
here imports pkceflow's client code, except ``Cli.seed``, which writes a login with
pkceflow's own Profile and FileStore.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pkceflow_core import TokenSet

from .browsers import FAKE_BROWSER
from .commands import pkceflow_command, scrubbed_environment
from .oauth import PUBLIC_CLIENT_ID, issued_token_set

if TYPE_CHECKING:
    from pkceflow.file_store import FileStore
    from pkceflow.testing import TestProvider

__all__ = ["DEFAULT_TIMEOUT", "ERROR_PREFIX", "Cli", "Result", "Running"]

#: The start of the one line every error of ``pkceflow`` is.
ERROR_PREFIX = "pkceflow: error:"
#: How long one run of the command may take.
DEFAULT_TIMEOUT = 30.0
_URL_LINE = re.compile(r"^\s+(http://\S+/authorize\?\S+)$", re.MULTILINE)


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
    """Runs ``pkceflow`` with its own PKCEFLOW_HOME, XDG folders and fake browser.

    Args:
        root: the test's folder; the commands run in it, and everything they write
            lands under it.
        pycache: a PYTHONPYCACHEPREFIX shared by the session (``commands.warm_bytecode``);
            without one, the commands write no bytecode at all.
        home: the PKCEFLOW_HOME, ``root / "pkceflow-home"`` unless given.
        fake_browser: ``BROWSER`` is ``fake_browser.py``, which signs in at a
            TestProvider and appends what it saw to ``browser_log``; with False there
            is no ``BROWSER`` (nor a display) at all.
    """

    def __init__(
        self,
        root: Path,
        pycache: Path | None = None,
        *,
        home: Path | None = None,
        fake_browser: bool = True,
    ) -> None:
        self.root = root
        self.home = home if home is not None else root / "pkceflow-home"
        self.browser_log = root / "browser.jsonl"
        self.command = pkceflow_command()
        env = scrubbed_environment()
        env.update(
            PKCEFLOW_HOME=str(self.home),
            # Keep keyring backends and anything else that looks at the user's
            # folders inside the test's own.
            XDG_CONFIG_HOME=str(root / "xdg-config"),
            XDG_DATA_HOME=str(root / "xdg-data"),
            XDG_STATE_HOME=str(root / "xdg-state"),
        )
        if fake_browser:
            env["BROWSER"] = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_BROWSER))} %s"
            env["FAKE_BROWSER_LOG"] = str(self.browser_log)
        if pycache is None:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env["PYTHONPYCACHEPREFIX"] = str(pycache)
        self.env = env
        self._running: list[Running] = []

    # ---- running

    def argv(self, *args: str, command: Sequence[str] | None = None) -> list[str]:
        return [*(command or self.command), *args]

    def run(
        self,
        *args: str,
        timeout: float = DEFAULT_TIMEOUT,
        env: dict[str, str] | None = None,
        command: Sequence[str] | None = None,
        umask: int | None = None,
    ) -> Result:
        """Run ``pkceflow *args`` (or ``command + args``) to the end; stdin is /dev/null.

        ``env`` is added to the runner's environment; ``umask`` is the command's.
        """

        def set_umask() -> None:
            if umask is not None:
                os.umask(umask)

        completed = subprocess.run(
            self.argv(*args, command=command),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={**self.env, **(env or {})},
            cwd=self.root,
            timeout=timeout,
            check=False,
            preexec_fn=set_umask if umask is not None else None,
        )
        return Result(
            tuple(args),
            completed.returncode,
            completed.stdout.decode("utf-8"),
            completed.stderr.decode("utf-8"),
        )

    def start(self, *args: str, stdin: int = subprocess.DEVNULL) -> Running:
        """Start ``pkceflow *args`` in the background (see Running); ``close`` kills it."""
        running = Running(tuple(args), self.spawn(*args, stdin=stdin))
        self._running.append(running)
        return running

    def spawn(self, *args: str, stdin: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
        """Start ``pkceflow *args``; the caller waits for it and reads its pipes."""
        return subprocess.Popen(
            self.argv(*args),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.root,
        )

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
        umask: int | None = None,
    ) -> Result:
        """``pkceflow login`` of a new profile at ``provider`` through the fake browser."""
        args = ["login", "--profile", profile, "--client-id", client_id, "--issuer"]
        args += [provider.issuer, "--timeout", timeout]
        if scope is not None:
            args += ["--scope", scope]
        return self.run(*args, *extra, umask=umask)

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

        The provider issues real tokens (``oauth.issued_token_set``); pkceflow's own
        Profile and FileStore write them where the command looks. For tests of the
        other commands, where the login is not what is tested.
        """
        from pkceflow.profiles import Profile, save_client_secret

        tokens = issued_token_set(
            provider,
            client_id=client_id,
            scope=scope,
            refresh_token=refresh_token,
            expires=expires,
        )
        store = self.store()
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

    @property
    def tokens_dir(self) -> Path:
        return self.home / "tokens"

    def store(self) -> FileStore:
        """pkceflow's FileStore over the command's token folder."""
        from pkceflow.file_store import FileStore

        return FileStore(self.tokens_dir)

    def profile_path(self, name: str = "work") -> Path:
        return self.home / "profiles" / f"{name}.toml"

    def token_path(self, name: str = "work") -> Path:
        return self.tokens_dir / f"{name}.json"

    def stored(self, name: str = "work") -> dict[str, Any] | None:
        """The token set the file store holds for ``name`` (read directly), or None."""
        path = self.token_path(name)
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return data

    def files(self) -> Iterator[Path]:
        """Every file under the test's folder (PKCEFLOW_HOME and the XDG ones)."""
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
