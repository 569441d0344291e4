"""Process workers of the fault tests, run in ``spawn``-ed interpreters (so importable).

They use the real Client and FileStore. None of them shares a multiprocessing queue or
lock with the test: a worker killed with SIGKILL while holding one would leave it held.
Each writes what it saw to a file of its own, one line per call; a line cut short by a
kill is simply the last one.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

from pkceflow.settings import HttpOptions

if TYPE_CHECKING:
    from pkceflow import Client

#: pkceflow.testing.PUBLIC_CLIENT_ID, spelt out so that workers need not import the
#: provider (PyJWT, cryptography) just for it.
PUBLIC_CLIENT_ID = "pkceflow-test"
WAIT = 15.0
#: disk_full_main's exit code when no tmpfs can be mounted here.
CANNOT_MOUNT = 77


def make_client(token_url: str, authorization_url: str, directory: str) -> Client:
    """A Client with a FileStore in ``directory`` and only the built-in adapters."""
    from pkceflow import Client
    from pkceflow.file_store import FileStore
    from pkceflow.plugins import make_plugin_manager

    return Client(
        PUBLIC_CLIENT_ID,
        authorization_url=authorization_url,
        token_url=token_url,
        store=FileStore(directory),
        plugin_manager=make_plugin_manager(load_entry_points=False),
        http=HttpOptions(timeout=WAIT),
    )


def refresh_loop(
    token_url: str,
    authorization_url: str,
    directory: str,
    mode: str,
    calls: int,
    seconds: float,
    report: str,
) -> None:
    """Up to ``calls`` times (and ``seconds``): ``tokens(min_ttl=3600)`` or ``refresh()``.

    Appends ``ok`` or ``<ErrorType>: <message>`` to ``report`` per call; stops at the
    first error (a refused login stays refused).
    """
    from pkceflow_core import PkceflowError

    with open(report, "a", encoding="utf-8") as out:
        try:
            client = make_client(token_url, authorization_url, directory)
            deadline = time.monotonic() + seconds
            for _ in range(calls):
                if time.monotonic() > deadline:
                    break
                try:
                    if mode == "token":
                        client.tokens(min_ttl=3600)
                    else:
                        client.refresh()
                except PkceflowError as exc:
                    out.write(f"{type(exc).__name__}: {exc}\n")
                    out.flush()
                    return
                out.write("ok\n")
                out.flush()
            client.close()
        except BaseException:
            out.write("unexpected: " + traceback.format_exc().replace("\n", " | ") + "\n")
            out.flush()
            raise


def die_during_refresh(token_url: str, authorization_url: str, directory: str, when: str) -> None:
    """Refresh once and SIGKILL this process at one exact point of it.

    ``when``: ``before-send`` (the refresh request is not sent), ``after-answer`` (the
    provider's answer is read, nothing written yet) or ``after-temp-write`` (the new token
    set is in the temporary file, not yet renamed over the old one).
    """
    from pkceflow.file_store import FileStore
    from pkceflow.transport import Urllib3Transport

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    send = Urllib3Transport.send
    write_fd = FileStore._write_fd

    def patched_send(self: Urllib3Transport, request: Any) -> Any:
        if when == "before-send":
            die()
        response = send(self, request)
        if when == "after-answer":
            die()
        return response

    def patched_write_fd(self: FileStore, fd: int, data: bytes) -> None:
        write_fd(self, fd, data)
        if when == "after-temp-write":
            die()

    Urllib3Transport.send = patched_send  # type: ignore[method-assign]
    FileStore._write_fd = patched_write_fd  # type: ignore[method-assign]
    make_client(token_url, authorization_url, directory).refresh()
    raise AssertionError(f"the refresh ended without being killed {when}")


def read_only_refresh(
    directory: str,
    token_url: str,
    authorization_url: str,
    stored: dict[str, Any],
    uid: int | None,
    remove_lock_file: bool,
    results: Any,
) -> None:
    """As ``uid``: store a login, make the folder read-only, refresh; report what happened.

    Root ignores folder permissions, so as root the test passes nobody's uid. Everything
    is imported and built before dropping privileges: the interpreter's own files may not
    be readable by the unprivileged user.
    """
    try:
        import encodings.idna  # noqa: F401  (the socket module looks it up when connecting)

        import filelock  # noqa: F401  (FileStore.lock imports it on first use)

        from pkceflow_core import PkceflowError, TokenSet

        client = make_client(token_url, authorization_url, directory)
        _ = client.driver  # the transport, store and plugins, built now
        if uid is not None:
            os.setgid(uid)
            os.setuid(uid)
        old = TokenSet.from_dict(stored)
        client.store.save("default", old)
        if remove_lock_file:
            os.unlink(os.path.join(directory, "default.lock"))
        os.chmod(directory, 0o500)
        try:
            client.refresh()
        except PkceflowError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # the defect the test is after
            outcome = f"not a PkceflowError: {type(exc).__name__}: {exc}"
        else:
            outcome = "refreshed"
        client.close()
        left = sorted(os.listdir(directory))
        results.put(("outcome", (outcome, client.store.load("default") == old, left)))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def disk_full_main(
    mount_point: str, token_url: str, authorization_url: str, stored_json: str, command: str
) -> None:
    """Inside a private mount namespace: a 64 KiB tmpfs, filled up, then a refresh.

    The refresh is the library's (``command`` empty) or ``pkceflow refresh`` (``command``
    is its argv as JSON, run with PKCEFLOW_HOME on the tmpfs). Prints one JSON line: the
    outcome, whether the old login is intact, and the files left in the token folder.
    """
    import json
    import subprocess

    from pkceflow_core import PkceflowError, TokenSet

    from .support import profile_toml

    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mount_point],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        print(f"cannot mount: {mounted.stderr.decode()}", file=sys.stderr)
        raise SystemExit(CANNOT_MOUNT)
    directory = os.path.join(mount_point, "tokens")
    client = make_client(token_url, authorization_url, directory)
    old = TokenSet.from_dict(json.loads(stored_json))
    client.store.save("default", old)
    os.mkdir(os.path.join(mount_point, "profiles"), 0o700)
    with open(os.path.join(mount_point, "profiles", "default.toml"), "w") as file:
        file.write(profile_toml(authorization_url, token_url))
    # Fill what is left of the file system (bounded: 64 KiB is at most 16 pages).
    with open(os.path.join(mount_point, "filler"), "wb", buffering=0) as filler:
        for _ in range(10_000):
            try:
                filler.write(b"\0" * 1024)
            except OSError:
                break
    if command:
        env = {**os.environ, "PKCEFLOW_HOME": mount_point}
        done = subprocess.run(
            json.loads(command), capture_output=True, env=env, timeout=WAIT, check=False
        )
        outcome = f"exit {done.returncode}: {done.stderr.decode()}"
    else:
        try:
            client.refresh()
        except PkceflowError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            outcome = f"not a PkceflowError: {type(exc).__name__}: {exc}"
        else:
            outcome = "refreshed"
        client.close()
    intact = client.store.load("default") == old
    print(json.dumps([outcome, intact, sorted(os.listdir(directory))]))
