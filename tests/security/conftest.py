"""Fixtures of the security suite: loopback only, a private PKCEFLOW_HOME, the provider.

``network`` is autouse: every name lookup and every connect of this process is recorded,
and anything that is not loopback is refused and fails the test, so "no request ever
reached that host" is checked, not assumed.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pkceflow.file_store import FileStore
from tests.support.fixtures import pkceflow_home, plugin_manager, provider, settings

__all__ = [
    "NetworkLog",
    "network",
    "pkceflow_home",
    "plugin_manager",
    "provider",
    "settings",
    "store",
]


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class NetworkLog:
    """Hosts this process looked up or connected to; the refused ones apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hosts: list[str] = []
        self.refused: list[str] = []

    def note(self, host: object) -> bool:
        with self._lock:
            self.hosts.append(str(host))
            if _is_loopback(host):
                return True
            self.refused.append(str(host))
            return False

    def touched(self, host: str) -> bool:
        with self._lock:
            return any(host.lower() in seen.lower() for seen in self.hosts)


@pytest.fixture(autouse=True)
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkLog]:
    """Only loopback: lookups and connects elsewhere are refused and fail the test."""
    log = NetworkLog()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not log.note(host):
            raise socket.gaierror(socket.EAI_NONAME, "non-loopback lookups are refused here")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not log.note(address[0]):
            raise ConnectionRefusedError("non-loopback connections are refused here")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield log
    assert not log.refused, f"something tried to leave loopback: {log.refused}"


@pytest.fixture
def store(pkceflow_home: Path) -> FileStore:
    """pkceflow's FileStore in the test's PKCEFLOW_HOME."""
    return FileStore(pkceflow_home / "tokens")
