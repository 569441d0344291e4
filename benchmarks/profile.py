"""Profiles behind the benchmarks: ``python -m benchmarks.profile TARGET`` (run.py --profile).

Targets:
  import     ``-X importtime`` of ``from pkceflow import Client`` (top-level and heaviest)
  cli-token  ``-X importtime`` of ``pkceflow token`` with a cached token
  core       pyinstrument of each pkceflow_core operation of bench_core_ops
  refresh    each process's lock timeline in the 8-process refresh (cold and warm)
  login      a timeline of one pkceflow login, and the provider's keep-alive latency
  memory     tracemalloc of importing pkceflow_core and building one authorize URL
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._common import clean_env, median

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def importtime(command: list[str], env: dict[str, str], runs: int = 7) -> None:
    """Print the import tree (cumulative >= 1 ms), median of ``runs``, in import order."""
    samples: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    order: list[tuple[int, str]] = []
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(runs):
            done = subprocess.run(
                command,
                env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
                cwd=cwd,
                capture_output=True,
                text=True,
                check=True,
            )
            for line in done.stderr.splitlines():
                match = _LINE.match(line)
                if match:
                    key = ((len(match.group(3)) - 1) // 2, match.group(4))
                    if key not in samples:
                        order.append(key)
                    samples[key].append((int(match.group(1)), int(match.group(2))))
    total = sum(
        median([c for _, c in samples[key]]) for key in order if key[0] == 0
    )  # the whole import work of the process
    print(f"{' '.join(command[-4:])}: all imports {total / 1000:.1f} ms (median of {runs})")
    print(f"{'cumul ms':>9} {'self ms':>8}  module (children listed above their parent)")
    for depth, name in order:
        values = samples[(depth, name)]
        cumulative = median([c for _, c in values])
        own = median([s for s, _ in values])
        if cumulative >= 1000:
            print(f"{cumulative / 1000:9.1f} {own / 1000:8.1f}  {'  ' * depth}{name}")


def target_import() -> None:
    importtime([sys.executable, "-c", "from pkceflow import Client"], clean_env())


def target_cli_token() -> None:
    from benchmarks.bench_cli_token import PROFILE, seed

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.chmod(home, 0o700)
        seed(home)
        script = str(Path(sys.executable).with_name("pkceflow"))
        env = clean_env({"PKCEFLOW_HOME": str(home)})
        importtime([script, "token", "--profile", PROFILE], env)


def target_core() -> None:
    from pyinstrument import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        Profiler,
    )

    from benchmarks.bench_core_ops import groups

    for group, _, candidates in groups():
        for label, fn in candidates.items():
            if not label.startswith("pkceflow"):
                continue
            profiler = Profiler(interval=0.0001)
            deadline = time.perf_counter() + 1.0
            profiler.start()
            while time.perf_counter() < deadline:
                for _ in range(100):
                    fn()
            profiler.stop()
            print(f"=== {group}: {label}")
            print(profiler.output_text(unicode=False, color=False, show_all=True))


def target_refresh() -> None:
    from benchmarks._provider import ProviderProcess
    from benchmarks.bench_refresh import DELAY, run_processes

    with ProviderProcess() as provider, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.chmod(home, 0o700)
        provider.call("set", name="token_delay", value=DELAY)
        for warm in (False, True):
            for run in range(2):
                trace: list[dict[str, Any]] = []
                outcome = run_processes(provider, "pkceflow", 8, home, warm=warm, trace=trace)
                kind = "filelock preloaded" if warm else "first lock of each process"
                print(f"--- 8 processes, {kind}, run {run + 1}: {outcome}")
                print("    (ms after the start signal: go, lock wanted/got/released, done)")
                for answer in sorted(trace, key=lambda a: float(a["t"])):
                    start = float(answer["start"])
                    events = " ".join(
                        f"{name}@{(at - start) * 1000:.0f}" for name, at in answer["trace"]
                    )
                    go = (float(answer["go"]) - start) * 1000
                    done = (float(answer["t"]) - start) * 1000
                    print(f"    go@{go:.0f} {events} done@{done:.0f}")


@contextmanager
def _marks(targets: list[tuple[Any, str, str]], marks: list[tuple[str, float]]) -> Iterator[None]:
    """Record entry and exit times of the given methods (any thread) while inside."""
    saved = []
    for owner, name, label in targets:
        original = owner.__dict__[name]
        saved.append((owner, name, original))

        def wrapper(
            *args: Any, _f: Callable[..., Any] = original, _label: str = label, **kwargs: Any
        ) -> Any:
            marks.append((_label + " >", time.perf_counter()))
            try:
                return _f(*args, **kwargs)
            finally:
                marks.append((_label + " <", time.perf_counter()))

        setattr(owner, name, wrapper)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def target_login() -> None:
    import http.client
    from urllib.parse import urlsplit

    import pkceflow.transport
    from benchmarks._provider import ProviderProcess
    from benchmarks.bench_login import CLIENT_ID, CLIENT_SECRET, make_logins
    from pkceflow.loopback import LoopbackListener
    from pkceflow.testing import DEFAULT_REDIRECT_URIS, HttpFollowingBrowser
    from pkceflow.testing import browser as testing_browser
    from pkceflow_core import driver

    with ProviderProcess() as provider:
        provider.call(
            "add_client",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uris=[*DEFAULT_REDIRECT_URIS, "http://127.0.0.1/"],
        )
        login = make_logins(provider)["pkceflow Client.login()"]
        login(HttpFollowingBrowser())  # warm up
        marks: list[tuple[str, float]] = []
        targets = [
            (LoopbackListener, "wait", "listener.wait"),
            (LoopbackListener, "_accept", "listener accepts a connection"),
            (LoopbackListener, "_dispatch", "listener hands the callback to the driver"),
            (driver.Driver, "_exchange", "driver exchanges the code"),
            (pkceflow.transport.Urllib3Transport, "send", "transport.send"),
            (testing_browser.HttpFollowingBrowser, "_request", "browser request"),
        ]
        for attempt in range(3):
            marks.clear()
            browser = HttpFollowingBrowser()
            with _marks(targets, marks):
                start = time.perf_counter()
                login(browser)
                end = time.perf_counter()
            browser.wait()
            print(f"--- pkceflow Client.login() #{attempt + 1}: {(end - start) * 1000:.1f} ms")
            for label, at in marks:
                print(f"  {(at - start) * 1000:7.2f} ms  {label}")
            print(f"  {(end - start) * 1000:7.2f} ms  login() returns")

        # A keep-alive connection to the provider: the second request and later.
        parts = urlsplit(provider["issuer"])
        assert parts.hostname is not None
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        times = []
        for _ in range(6):
            begin = time.perf_counter()
            connection.request("GET", "/.well-known/openid-configuration")
            connection.getresponse().read()
            times.append((time.perf_counter() - begin) * 1000)
        connection.close()
        print("--- TestProvider, one keep-alive connection, 6 GETs (ms):")
        print("  " + " ".join(f"{t:.1f}" for t in times))


def target_memory() -> None:
    import tracemalloc

    tracemalloc.start(1)
    from pkceflow_core import AuthorizationCodeFlow, ClientConfig, ServerMetadata

    server = ServerMetadata(
        authorization_endpoint="https://id.example.com/authorize",
        token_endpoint="https://id.example.com/token",
    )
    url = AuthorizationCodeFlow(
        server, ClientConfig("cid"), redirect_uri="http://127.0.0.1:8765/callback"
    ).authorization_url
    assert url
    snapshot = tracemalloc.take_snapshot()
    by_package: dict[str, int] = defaultdict(int)
    for stat in snapshot.statistics("filename"):
        path = stat.traceback[0].filename
        parts = Path(path).parts
        if "site-packages" in parts:
            package = parts[parts.index("site-packages") + 1]
        else:
            package = "stdlib/" + Path(path).name
        by_package[package] += stat.size
    total = sum(by_package.values())
    print(f"Python objects allocated by the imports and one URL: {total / 1024:.0f} KiB")
    for package, size in sorted(by_package.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {size / 1024:8.0f} KiB  {package}")


TARGETS: dict[str, Callable[[], None]] = {
    "import": target_import,
    "cli-token": target_cli_token,
    "core": target_core,
    "refresh": target_refresh,
    "login": target_login,
    "memory": target_memory,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target", choices=sorted(TARGETS))
    TARGETS[parser.parse_args().target]()


if __name__ == "__main__":
    main()
