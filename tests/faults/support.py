"""Helpers of the fault tests: the real ``pkceflow`` command, raw socket servers, resources.

Nothing here imitates pkceflow. Commands are the installed console script in a
subprocess, servers are real sockets on 127.0.0.1, and token files are written by
pkceflow's own FileStore. Every wait is bounded (WAIT), so a bug fails a test instead of
hanging the run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pkceflow.file_store import FileStore
from pkceflow.testing import PUBLIC_CLIENT_ID, TestProvider
from pkceflow_core import TokenSet

#: Bounds every wait, so a bug fails a test instead of hanging the run.
WAIT = 15.0
#: The one-line prefix of every error ``pkceflow`` prints.
ERROR_PREFIX = "pkceflow: error: "
#: Environment variables that would change what the command does.
_DROPPED = ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "PYTHONDONTWRITEBYTECODE", "PKCEFLOW_HOME")
#: What the commands import, compiled once per session (see ``warm_bytecode``).
_IMPORTED = (
    "pkceflow.cli, pkceflow.client, pkceflow.plugins, pkceflow._builtins, pkceflow.transport,"
    " pkceflow.file_store, pkceflow.profiles, pkceflow.loopback, pkceflow.browser, urllib3,"
    " filelock, pluggy, tomllib, attrs"
)


# --------------------------------------------------------------------------- the command


def pkceflow_command() -> list[str]:
    """The console script next to the running interpreter, else ``python -m pkceflow.cli``."""
    script = Path(sys.executable).with_name("pkceflow")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "pkceflow.cli"]


def command_env(home: Path, pycache: Path) -> dict[str, str]:
    """The environment of a command: this PKCEFLOW_HOME, bytecode kept in ``pycache``.

    The bytecode goes outside the source tree, and is written once per session rather
    than compiled again by each of the hundreds of commands these tests start.
    """
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env.update(PKCEFLOW_HOME=str(home), PYTHONPYCACHEPREFIX=str(pycache))
    return env


def warm_bytecode(pycache: Path) -> None:
    """Compile what the commands import into ``pycache``, once, in one process."""
    subprocess.run(  # a warm-up only: whatever fails to import is compiled on first use
        [sys.executable, "-c", f"import {_IMPORTED}"],
        env=command_env(pycache / "unused-home", pycache),
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


@dataclass(frozen=True)
class Result:
    """How one ``pkceflow`` run ended."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def one_line_error(self) -> str:
        """The error line, checked to be the only output (no traceback)."""
        assert self.stdout == "", self
        assert self.stderr.startswith(ERROR_PREFIX), self
        assert self.stderr.count("\n") == 1, self
        assert self.stderr.endswith("\n"), self
        assert "Traceback" not in self.stderr, self
        return self.stderr[len(ERROR_PREFIX) : -1]


class Cli:
    """``pkceflow`` with a PKCEFLOW_HOME of its own; profiles seeded from a TestProvider."""

    def __init__(self, home: Path, pycache: Path) -> None:
        self.home = home
        self.command = pkceflow_command()
        self.env = command_env(home, pycache)

    @property
    def tokens_dir(self) -> Path:
        return self.home / "tokens"

    def store(self) -> FileStore:
        return FileStore(self.tokens_dir)

    def token_path(self, profile: str = "work") -> Path:
        return self.tokens_dir / f"{profile}.json"

    def argv(self, *args: str) -> list[str]:
        return [*self.command, *args]

    def run(self, *args: str, timeout: float = WAIT) -> Result:
        """Run ``pkceflow *args`` to the end (stdin is /dev/null)."""
        completed = subprocess.run(
            self.argv(*args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return Result(
            tuple(args),
            completed.returncode,
            completed.stdout.decode("utf-8", "replace"),
            completed.stderr.decode("utf-8", "replace"),
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``pkceflow *args``; the caller waits for it (and reads its pipes)."""
        return subprocess.Popen(
            self.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )

    def seed(self, provider: TestProvider, profile: str = "work") -> TokenSet:
        """A login as ``pkceflow login`` leaves it, with tokens the provider really issued."""
        tokens = issued_token_set(provider)
        self.store().save(profile, tokens)
        path = self.home / "profiles" / f"{profile}.toml"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(
            profile_toml(provider.authorization_endpoint, provider.token_endpoint), "utf-8"
        )
        path.chmod(0o600)
        return tokens


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


def issued_token_set(provider: TestProvider) -> TokenSet:
    """A new grant at ``provider`` (no browser), as the token set pkceflow would store."""
    issued = provider.issue_tokens(PUBLIC_CLIENT_ID, scope="offline_access")
    return TokenSet(
        access_token=issued["access_token"],
        token_type="Bearer",
        expires_at=time.time() + float(issued["expires_in"]),
        refresh_token=issued["refresh_token"],
        scope=tuple(issued["scope"].split()),
    )


def newest_refresh_token(provider: TestProvider) -> str:
    """The refresh token ``provider`` issued last."""
    return [info.token for info in provider.tokens() if info.kind == "refresh"][-1]


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


# --------------------------------------------------------------------------- raw servers


def read_request(conn: socket.socket) -> bytes:
    """One whole HTTP request (head and Content-Length body); b"" if the peer went away."""
    conn.settimeout(WAIT)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        body += chunk
    return head + b"\r\n\r\n" + body


Behaviour = Callable[[socket.socket, "RawServer"], None]


class RawServer:
    """A TCP server on 127.0.0.1 that does to each connection what ``behaviour`` says.

    It counts whole requests received (``requests``); ``stop`` closes everything and
    joins every thread it started.
    """

    def __init__(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self.stopping = threading.Event()
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="raw-server", daemon=True)
        self._acceptor.start()

    def url(self, path: str = "/token") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def record(self, request: bytes) -> None:
        with self._lock:
            self.requests.append(request)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(
                target=self._serve, args=(conn,), name="raw-server-conn", daemon=True
            )
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._behaviour(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self._acceptor.join(WAIT)
        self._sock.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(WAIT)
            assert not thread.is_alive(), "a raw server connection thread did not end"


@contextlib.contextmanager
def raw_server(behaviour: Behaviour) -> Iterator[RawServer]:
    server = RawServer(behaviour)
    try:
        yield server
    finally:
        server.stop()


def hang(conn: socket.socket, server: RawServer) -> None:
    """Read the request, then never answer (until the server stops)."""
    request = read_request(conn)
    if request:
        server.record(request)
    server.stopping.wait(WAIT)


def reset_after_reading(conn: socket.socket, server: RawServer) -> None:
    """Read the whole request, then reset the connection (RST, no answer)."""
    request = read_request(conn)
    if request:
        server.record(request)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def dribble(conn: socket.socket, server: RawServer) -> None:
    """Read the request, then send an answer one byte at a time, 0.1 s apart, forever."""
    request = read_request(conn)
    if request:
        server.record(request)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    for index in range(100_000):  # bounded: 10 000 s of dribbling at most
        if server.stopping.wait(0.1):
            return
        byte = head[index : index + 1] or b" "
        try:
            conn.sendall(byte)
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.EBADF):
                return
            raise
