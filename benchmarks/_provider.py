"""A TestProvider in a process of its own, driven by JSON lines on standard input.

Serving from another process keeps the provider's threads off the measured
process's GIL. The first line on standard output describes the provider; each
command line gets one JSON answer line::

    {"cmd": "issue", "client_id": "...", "scope": "..."}   -> the token response body
    {"cmd": "count", "endpoint": "token"}                  -> {"count": n}
    {"cmd": "active", "tokens": ["..."]}                   -> {"active": [true, ...]}
    {"cmd": "set", "name": "token_delay", "value": 0.05}   -> {}
    {"cmd": "add_client", "client_id": "...", "client_secret": "...", "redirect_uris": [...]}
    {"cmd": "errors"}                                      -> {"errors": [...]}
    {"cmd": "stop"}                                        -> {} and exit
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import IO, Any

from pkceflow.testing import TestProvider

__all__ = ["ProviderProcess", "serve"]


def serve() -> None:
    with TestProvider() as provider:
        provider.jwks()  # wait for the signing key before anyone measures
        info = {
            "issuer": provider.issuer,
            "authorization_endpoint": provider.authorization_endpoint,
            "token_endpoint": provider.token_endpoint,
            "revocation_endpoint": provider.revocation_endpoint,
            "jwks_uri": provider.jwks_uri,
        }
        _say(info)
        for line in sys.stdin:
            command: dict[str, Any] = json.loads(line)
            name = command["cmd"]
            if name == "stop":
                _say({})
                return
            if name == "issue":
                _say(provider.issue_tokens(command["client_id"], scope=command["scope"]))
            elif name == "count":
                _say({"count": provider.count(command.get("endpoint"))})
            elif name == "active":
                active = []
                for token in command["tokens"]:
                    found = provider.token_info(token)
                    active.append(found is not None and found.active)
                _say({"active": active})
            elif name == "set":
                setattr(provider.settings, command["name"], command["value"])
                _say({})
            elif name == "add_client":
                provider.add_client(
                    command["client_id"],
                    command.get("client_secret"),
                    redirect_uris=command["redirect_uris"],
                )
                _say({})
            elif name == "errors":
                _say({"errors": provider.errors})
            else:
                _say({"error": f"unknown command {name!r}"})


def _say(value: object) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


class ProviderProcess:
    """The parent's handle on a provider process (a context manager)."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._provider"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info: dict[str, str] = self._read()

    def _read(self) -> Any:
        stdout: IO[str] | None = self._process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError("the provider process ended")
        return json.loads(line)

    def call(self, cmd: str, **fields: Any) -> Any:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        stdin.flush()
        return self._read()

    def __getitem__(self, key: str) -> str:
        return self.info[key]

    def __enter__(self) -> ProviderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._process.poll() is None:
            errors = self.call("errors")["errors"]
            if errors:
                sys.stderr.write("provider errors:\n" + "\n".join(errors) + "\n")
            self.call("stop")
            self._process.wait(15)


if __name__ == "__main__":
    serve()
