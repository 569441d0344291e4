"""Helpers of the CLI tests, which run the real ``pkceflow`` command against a TestProvider.

The runner itself (``Cli``, and the ``Result`` of a run) is ``tests.support.cli``,
shared with the other suites; what is here looks at what a login left behind.
"""

from __future__ import annotations

import http.client
import socket
from urllib.parse import parse_qsl, urlsplit

from pkceflow.testing import TestProvider
from tests.support.cli import Cli, Result
from tests.support.oauth import redirect_port

__all__ = [
    "Cli",
    "Result",
    "assert_no_login_kept",
    "bearer_get",
    "query_pairs",
    "redirect_port",
    "refuses_connections",
]


def assert_no_login_kept(cli: Cli, provider: TestProvider) -> None:
    """Nothing reached the token endpoint, and neither a login nor a profile was kept."""
    assert provider.count("token") == 0
    assert cli.stored() is None
    assert not cli.profile_path().exists()


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


def query_pairs(url: str) -> list[tuple[str, str]]:
    """The query of ``url`` as (name, value) pairs, repeats and order kept."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)
