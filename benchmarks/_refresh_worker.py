"""One process of the concurrent-refresh benchmark (run by bench_refresh.py).

It imports and builds its client, prints ``ready``, waits for ``go`` on standard
input, asks for a valid token once, and prints a JSON line: the access token it
ended up with (or the error) and ``time.monotonic()`` when it had it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

#: (event, time.monotonic()) of the store's lock, with --trace: want, got, released.
TRACE: list[tuple[str, float]] = []


def trace_lock() -> None:
    """Record when this process wanted, got and released the file store's lock."""
    import contextlib
    from collections.abc import Iterator

    from pkceflow.file_store import FileStore

    original = FileStore.lock

    @contextlib.contextmanager
    def lock(self: FileStore, key: str) -> Iterator[None]:
        TRACE.append(("want", time.monotonic()))
        with original(self, key):
            TRACE.append(("got", time.monotonic()))
            yield
        TRACE.append(("released", time.monotonic()))

    FileStore.lock = lock  # type: ignore[method-assign]


def pkceflow_caller(args: argparse.Namespace) -> Callable[[], str]:
    from pkceflow import Client
    from pkceflow.file_store import FileStore

    client = Client(
        args.client_id,
        authorization_url=args.auth_url,
        token_url=args.token_url,
        store=FileStore(Path(args.home) / "tokens"),
        profile="bench",
    )
    client.driver  # noqa: B018  (adapters made before the start signal)
    return client.token


def authlib_caller(args: argparse.Namespace) -> Callable[[], str]:
    from authlib.integrations.requests_client import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        OAuth2Session,
    )

    token = json.loads(Path(args.token_file).read_text())
    session = OAuth2Session(args.client_id, token=token, token_endpoint=args.token_url)

    def call() -> str:
        new = session.refresh_token(args.token_url, refresh_token=token["refresh_token"])
        return str(new["access_token"])

    return call


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["pkceflow", "authlib"], required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--auth-url", required=True)
    parser.add_argument("--token-url", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--token-file")
    parser.add_argument(
        "--warm", action="store_true", help="import filelock first, as a process that locked before"
    )
    parser.add_argument("--trace", action="store_true", help="report the lock's timeline")
    args = parser.parse_args()
    if args.warm:
        import filelock  # noqa: F401
    if args.trace:
        trace_lock()
    call = pkceflow_caller(args) if args.impl == "pkceflow" else authlib_caller(args)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    started = time.monotonic()
    result: dict[str, object]
    try:
        result = {"token": call()}
    except Exception as exc:  # noqa: BLE001  (a failed caller is a result here)
        result = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    result["t"] = time.monotonic()
    result["go"] = started
    if args.trace:
        result["trace"] = TRACE
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
