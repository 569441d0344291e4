"""4. Concurrent refresh: many callers want a token that has just expired, all at once.

The TestProvider (in its own process) answers the token endpoint after 50 ms and
rotates refresh tokens; a replayed refresh token revokes the whole grant, as RFC
9700 2.2.2 recommends. Counted: requests that reached the token endpoint, callers
that failed, callers left holding an access token the provider still accepts, and
the time from the start signal until the last caller returned.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import Row, emit, log, median, row
from benchmarks._provider import ProviderProcess

DELAY = 0.05
SCOPE = "offline_access"


@dataclass
class Outcome:
    requests: int
    elapsed: float
    callers: int
    failed: int
    valid: int
    distinct: int


def fresh_grant(provider: ProviderProcess) -> dict[str, Any]:
    """A new grant whose access token is already expired on the client's side."""
    from pkceflow.testing import PUBLIC_CLIENT_ID

    issued: dict[str, Any] = provider.call("issue", client_id=PUBLIC_CLIENT_ID, scope=SCOPE)
    return issued


def judge(
    provider: ProviderProcess, before: int, results: list[str | None], elapsed: float
) -> Outcome:
    requests = provider.call("count", endpoint="token")["count"] - before
    held = [token for token in results if token is not None]
    active = provider.call("active", tokens=held)["active"] if held else []
    return Outcome(
        requests=requests,
        elapsed=elapsed,
        callers=len(results),
        failed=len(results) - len(held),
        valid=sum(1 for ok in active if ok),
        distinct=len(set(held)),
    )


def run_threads(
    provider: ProviderProcess, make_caller: Callable[[dict[str, Any]], Callable[[], str]], n: int
) -> Outcome:
    """``n`` threads, each with the caller ``make_caller`` gives it, released together."""
    grant = fresh_grant(provider)
    callers = [make_caller(grant) for _ in range(n)]
    results: list[str | None] = [None] * n
    ends = [0.0] * n
    barrier = threading.Barrier(n + 1)

    def work(index: int) -> None:
        barrier.wait()
        try:
            results[index] = callers[index]()
        except Exception:  # noqa: BLE001  (a failed caller is a result here)
            results[index] = None
        ends[index] = time.perf_counter()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    before = provider.call("count", endpoint="token")["count"]
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join(30)
    return judge(provider, before, results, max(ends) - start)


def pkceflow_threads(provider: ProviderProcess, home: Path, store_kind: str) -> Callable[..., Any]:
    from pkceflow import Client, TokenSet
    from pkceflow.file_store import FileStore
    from pkceflow.memory_store import MemoryStore
    from pkceflow.testing import PUBLIC_CLIENT_ID

    def make(grant: dict[str, Any]) -> Callable[[], str]:
        # One Client shared by every thread, as a program would have it.
        store = FileStore(home / "tokens") if store_kind == "file" else MemoryStore()
        store.save(
            "bench",
            TokenSet(
                access_token=grant["access_token"],
                expires_at=time.time() - 1,
                refresh_token=grant["refresh_token"],
                scope=tuple(grant["scope"].split()),
            ),
        )
        client = Client(
            PUBLIC_CLIENT_ID,
            authorization_url=provider["authorization_endpoint"],
            token_url=provider["token_endpoint"],
            store=store,
            profile="bench",
        )
        client.driver  # noqa: B018  (adapters made before the start signal)
        return client.token

    shared: dict[str, Callable[[], str]] = {}

    def make_caller(grant: dict[str, Any]) -> Callable[[], str]:
        key = grant["access_token"]
        if key not in shared:
            shared.clear()
            shared[key] = make(grant)
        return shared[key]

    return make_caller


def authlib_threads(provider: ProviderProcess) -> Callable[..., Any]:
    from authlib.integrations.requests_client import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        OAuth2Session,
    )

    from pkceflow.testing import PUBLIC_CLIENT_ID

    url = provider["token_endpoint"]

    def make_caller(grant: dict[str, Any]) -> Callable[[], str]:
        token = {**grant, "expires_at": int(time.time()) - 1}
        session = OAuth2Session(PUBLIC_CLIENT_ID, token=token, token_endpoint=url)

        def call() -> str:
            new = session.refresh_token(url, refresh_token=grant["refresh_token"])
            return str(new["access_token"])

        return call

    return make_caller


def requests_oauthlib_threads(provider: ProviderProcess) -> Callable[..., Any]:
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # http to the loopback provider
    from requests_oauthlib import OAuth2Session  # type: ignore[import-untyped, import-not-found, unused-ignore]

    from pkceflow.testing import PUBLIC_CLIENT_ID

    url = provider["token_endpoint"]

    def make_caller(grant: dict[str, Any]) -> Callable[[], str]:
        token = {**grant, "expires_at": int(time.time()) - 1}
        session = OAuth2Session(PUBLIC_CLIENT_ID, token=token)

        def call() -> str:
            new = session.refresh_token(
                url, refresh_token=grant["refresh_token"], client_id=PUBLIC_CLIENT_ID
            )
            return str(new["access_token"])

        return call

    return make_caller


def run_processes(
    provider: ProviderProcess,
    impl: str,
    n: int,
    home: Path,
    *,
    warm: bool = False,
    trace: list[dict[str, Any]] | None = None,
) -> Outcome:
    """``n`` worker processes, released together; ``trace`` collects their lock timelines."""
    from pkceflow import TokenSet
    from pkceflow.file_store import FileStore
    from pkceflow.testing import PUBLIC_CLIENT_ID

    grant = fresh_grant(provider)
    FileStore(home / "tokens").save(
        "bench",
        TokenSet(
            access_token=grant["access_token"],
            expires_at=time.time() - 1,
            refresh_token=grant["refresh_token"],
            scope=tuple(grant["scope"].split()),
        ),
    )
    token_file = home / "authlib-token.json"
    token_file.write_text(json.dumps({**grant, "expires_at": int(time.time()) - 1}))
    command = [
        sys.executable,
        "-m",
        "benchmarks._refresh_worker",
        "--impl",
        impl,
        "--client-id",
        PUBLIC_CLIENT_ID,
        "--auth-url",
        provider["authorization_endpoint"],
        "--token-url",
        provider["token_endpoint"],
        "--home",
        str(home),
        "--token-file",
        str(token_file),
        *(["--warm"] if warm else []),
        *(["--trace"] if trace is not None else []),
    ]
    workers = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError("a refresh worker did not start")
        before = provider.call("count", endpoint="token")["count"]
        start = time.monotonic()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results: list[str | None] = []
        ends: list[float] = []
        for worker in workers:
            assert worker.stdout is not None
            answer = json.loads(worker.stdout.readline())
            results.append(answer.get("token"))
            ends.append(answer["t"])
            if trace is not None:
                trace.append({**answer, "start": start})
    finally:
        for worker in workers:
            worker.wait(30)
    return judge(provider, before, results, max(ends) - start)


def summarize(name: str, outcomes: list[Outcome], *, ours: bool, kind: str) -> Row:
    worst_requests = max(o.requests for o in outcomes)
    elapsed = median([o.elapsed for o in outcomes])
    callers = outcomes[0].callers
    failed = max(o.failed for o in outcomes)
    valid = min(o.valid for o in outcomes)
    distinct = max(o.distinct for o in outcomes)
    ok = worst_requests == 1 and failed == 0 and valid == callers and distinct == 1
    return row(
        "4 concurrent refresh",
        f"{callers} {kind}: {name}",
        f"{worst_requests} request(s); {failed} failed; {valid}/{callers} hold a valid token;"
        f" all done in {elapsed * 1000:.0f} ms",
        versus=f"token endpoint delay {DELAY * 1000:.0f} ms",
        ratio=elapsed / DELAY,
        goal="1 request, 0 failed" if ours else "",
        met=ok if ours else None,
        note=f"{len(outcomes)} runs (worst counts, median time); {distinct} distinct token(s)",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--processes", type=int, default=8)
    args = parser.parse_args()
    rows: list[Row] = []
    with ProviderProcess() as provider, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.chmod(home, 0o700)
        provider.call("set", name="token_delay", value=DELAY)
        provider.call("set", name="refresh_token_rotation", value="rotate")
        file_store = pkceflow_threads(provider, home, "file")
        memory_store = pkceflow_threads(provider, home, "memory")
        thread_cases: list[tuple[str, Callable[..., Any], bool, int]] = [
            ("pkceflow Client.token(), file store", file_store, True, 1),
            ("pkceflow Client.token(), file store", file_store, True, 0),
            ("pkceflow Client.token(), memory store", memory_store, True, 0),
            ("Authlib OAuth2Session.refresh_token per thread", authlib_threads(provider), False, 0),
            (
                "requests-oauthlib OAuth2Session.refresh_token per thread",
                requests_oauthlib_threads(provider),
                False,
                0,
            ),
        ]
        for name, make_caller, ours, single in thread_cases:
            n = 1 if single else args.threads
            log(f"refresh: {n} thread(s), {name}")
            outcomes = [run_threads(provider, make_caller, n) for _ in range(args.runs)]
            rows.append(summarize(name, outcomes, ours=ours, kind="thread(s)"))
        for impl, name, ours, warm in (
            ("pkceflow", "pkceflow Client.token(), file store, first lock", True, False),
            ("pkceflow", "pkceflow Client.token(), file store, filelock preloaded", True, True),
            ("authlib", "Authlib OAuth2Session.refresh_token per process", False, False),
        ):
            log(f"refresh: {args.processes} processes, {name}")
            outcomes = [
                run_processes(provider, impl, args.processes, home, warm=warm)
                for _ in range(args.runs)
            ]
            rows.append(summarize(name, outcomes, ours=ours, kind="processes"))
    emit(rows)


if __name__ == "__main__":
    main()
