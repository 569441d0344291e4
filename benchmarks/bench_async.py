"""7. AsyncClient.token() from 1,000 tasks of one event loop, next to Client.token() from
1,000 threads, on a fresh token and on an expired one.

The TestProvider runs in a process of its own (``_provider.py``), rotating refresh
tokens (a replayed one revokes the grant) and answering at once: a refresh costs
what a loopback round trip and the provider's work cost. Each side has one client,
made and wired (discovery, transport, store) before any clock starts, with the
memory store or a file store of its own. Every round gives both sides a grant the
provider has just issued (stored as fresh, or as expired a second ago) and releases
all 1,000 callers at once: the tasks by one ``asyncio.gather``, the threads (started
beforehand) by a barrier. Timed: from the release until the last caller returned.
The two sides alternate within each round, so a busy neighbour hits both alike; the
ratio is the median of the rounds' own ratios (tasks' time / threads' time), shown
with its range, beside each side's median time and range. Counted at the provider,
worst round shown: token requests, callers that failed, and callers left without an
access token the provider accepts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import Row, emit, fmt_ms, log, median, row
from benchmarks._provider import ProviderProcess

CALLERS = 1000
SCOPE = "offline_access"
PROFILE = "bench"


@dataclass
class Round:
    elapsed: float
    requests: int
    failed: int
    invalid: int
    distinct: int


def grant(provider: ProviderProcess, *, expired: bool) -> Any:
    """A grant the provider has just issued, as the token set pkceflow would store."""
    from pkceflow import TokenSet
    from pkceflow.testing import PUBLIC_CLIENT_ID

    issued = provider.call("issue", client_id=PUBLIC_CLIENT_ID, scope=SCOPE)
    now = time.time()
    lifetime = float(issued["expires_in"])
    obtained = now - lifetime - 1 if expired else now
    return TokenSet(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_at=obtained + lifetime,
        obtained_at=obtained,
        scope=tuple(issued["scope"].split()),
    )


def judge(
    provider: ProviderProcess, before: int, results: list[str | None], elapsed: float
) -> Round:
    requests = provider.call("count", endpoint="token")["count"] - before
    held = [token for token in results if token is not None]
    distinct = sorted(set(held))
    accepted = dict(zip(distinct, provider.call("active", tokens=distinct)["active"], strict=True))
    return Round(
        elapsed=elapsed,
        requests=requests,
        failed=len(results) - len(held),
        invalid=sum(1 for token in held if not accepted[token]),
        distinct=len(distinct),
    )


def new_store(kind: str, folder: Path) -> Any:
    from pkceflow.file_store import FileStore
    from pkceflow.memory_store import MemoryStore

    return MemoryStore() if kind == "memory" else FileStore(folder)


class Threads:
    """The synchronous side: one Client shared by ``CALLERS`` threads."""

    def __init__(self, provider: ProviderProcess, kind: str, folder: Path) -> None:
        from pkceflow import Client
        from pkceflow.plugins import make_plugin_manager
        from pkceflow.testing import PUBLIC_CLIENT_ID

        self.provider = provider
        self.store = new_store(kind, folder)
        self.client = Client(
            PUBLIC_CLIENT_ID,
            authorization_url=provider["authorization_endpoint"],
            token_url=provider["token_endpoint"],
            store=self.store,
            profile=PROFILE,
            plugin_manager=make_plugin_manager(load_entry_points=False),
        )
        self.client.driver  # noqa: B018  (adapters made before the clock starts)

    def round(self, *, expired: bool) -> Round:
        self.store.save(PROFILE, grant(self.provider, expired=expired))
        results: list[str | None] = [None] * CALLERS
        ends = [0.0] * CALLERS
        barrier = threading.Barrier(CALLERS + 1)
        token = self.client.token

        def work(index: int) -> None:
            barrier.wait()
            try:
                results[index] = token()
            except Exception:  # noqa: BLE001  (a failed caller is a result here)
                results[index] = None
            ends[index] = time.perf_counter()

        threads = [threading.Thread(target=work, args=(i,)) for i in range(CALLERS)]
        for thread in threads:
            thread.start()
        before = self.provider.call("count", endpoint="token")["count"]
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join(60)
        return judge(self.provider, before, results, max(ends) - start)

    def close(self) -> None:
        self.client.close()


class Tasks:
    """The asyncio side: one AsyncClient shared by ``CALLERS`` tasks of one event loop."""

    def __init__(self, provider: ProviderProcess, kind: str, folder: Path) -> None:
        from pkceflow.async_client import AsyncClient
        from pkceflow.plugins import make_plugin_manager
        from pkceflow.testing import PUBLIC_CLIENT_ID

        self.provider = provider
        self.store = new_store(kind, folder)
        self.client = AsyncClient(
            PUBLIC_CLIENT_ID,
            authorization_url=provider["authorization_endpoint"],
            token_url=provider["token_endpoint"],
            store=self.store,
            profile=PROFILE,
            plugin_manager=make_plugin_manager(load_entry_points=False),
        )
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.client.driver())

    def round(self, *, expired: bool) -> Round:
        self.store.save(PROFILE, grant(self.provider, expired=expired))
        before = self.provider.call("count", endpoint="token")["count"]
        results, elapsed = self.loop.run_until_complete(self._gather())
        return judge(self.provider, before, results, elapsed)

    async def _gather(self) -> tuple[list[str | None], float]:
        token = self.client.token

        async def one() -> str | None:
            try:
                return await token()
            except Exception:  # noqa: BLE001  (a failed caller is a result here)
                return None

        start = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(CALLERS)))
        return list(results), time.perf_counter() - start

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


def spread(values: list[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def counts(rounds: list[Round], *, expired: bool) -> tuple[str, bool]:
    requests = max(r.requests for r in rounds)
    failed = max(r.failed for r in rounds)
    invalid = max(r.invalid for r in rounds)
    distinct = max(r.distinct for r in rounds)
    ok = requests == (1 if expired else 0) and failed == 0 and invalid == 0 and distinct == 1
    return f"{requests} request(s), {failed} failed, {invalid} without a valid token", ok


def measure(provider: ProviderProcess, kind: str, expired: bool, runs: int, home: Path) -> Row:
    situation = "expired token, one refresh" if expired else "fresh token"
    log(f"async: {CALLERS} callers, {situation}, {kind} store")
    os.makedirs(home / f"{kind}-tasks", mode=0o700, exist_ok=True)
    os.makedirs(home / f"{kind}-threads", mode=0o700, exist_ok=True)
    tasks = Tasks(provider, kind, home / f"{kind}-tasks")
    threads = Threads(provider, kind, home / f"{kind}-threads")
    try:
        tasks.round(expired=expired)  # warm-up: connections, first lock, caches
        threads.round(expired=expired)
        async_rounds: list[Round] = []
        sync_rounds: list[Round] = []
        for index in range(runs):
            sides: list[tuple[Tasks | Threads, list[Round]]] = [
                (tasks, async_rounds),
                (threads, sync_rounds),
            ]
            for side, into in sides if index % 2 == 0 else reversed(sides):
                into.append(side.round(expired=expired))
    finally:
        tasks.close()
        threads.close()
    ratios = [a.elapsed / s.elapsed for a, s in zip(async_rounds, sync_rounds, strict=True)]
    ours, ok = counts(async_rounds, expired=expired)
    theirs, _ = counts(sync_rounds, expired=expired)
    async_times = spread([r.elapsed for r in async_rounds], fmt_ms)
    sync_times = spread([r.elapsed for r in sync_rounds], fmt_ms)
    return row(
        "7 async token",
        f"{CALLERS} tasks: pkceflow AsyncClient.token(), {situation}, {kind} store",
        f"{async_times}; {ours}; ratio range {min(ratios):.2f}-{max(ratios):.2f}x",
        versus=f"{CALLERS} threads: Client.token() {sync_times}; {theirs}",
        ratio=median(ratios),
        goal="1 request, 0 failed" if expired else "0 requests, 0 failed",
        met=ok,
        note=f"{runs} rounds, sides alternating; median (min-max); ratio: of the rounds' ratios",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rows: list[Row] = []
    with ProviderProcess() as provider, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.chmod(home, 0o700)
        provider.call("set", name="refresh_token_rotation", value="rotate")
        for expired in (False, True):
            for kind in ("memory", "file"):
                rows.append(measure(provider, kind, expired, args.runs, home))
    emit(rows)


if __name__ == "__main__":
    main()
