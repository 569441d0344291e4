"""HTTP robustness of the provider: keep-alive, limits, garbage, disconnects."""

from __future__ import annotations

import http.client
import socket

import pytest

from pkceflow.testing import TestProvider

from .helpers import request


def _raw(provider: TestProvider, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", provider.port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_keep_alive(pkceflow_provider: TestProvider) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", pkceflow_provider.port, timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", "/jwks")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
    finally:
        connection.close()
    assert pkceflow_provider.count("jwks") == 3


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"411"),
        (b"POST /token HTTP/1.1\r\nHost: x\r\n\r\n", b"411"),
        (b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", b"400"),
        (b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", b"413"),
        (b"GET / x HTTP/1.1\r\n\r\n", b"400"),
        (b"BREW /token HTTP/1.1\r\nHost: x\r\n\r\n", b"501"),
        (b"HEAD /jwks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"405"),
    ],
)
def test_malformed_requests(pkceflow_provider: TestProvider, data: bytes, status: bytes) -> None:
    answer = _raw(pkceflow_provider, data)
    assert answer.split(b" ")[1] == status, answer
    assert request(pkceflow_provider.jwks_uri).status == 200


def test_non_utf8_form_body(pkceflow_provider: TestProvider) -> None:
    reply = request(
        pkceflow_provider.token_endpoint,
        body=b"grant_type=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"
    reply = request(
        pkceflow_provider.token_endpoint,
        body=b"grant_type=%ff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.json()["error"] == "invalid_request"


def test_client_disconnects_mid_request(pkceflow_provider: TestProvider) -> None:
    with socket.create_connection(("127.0.0.1", pkceflow_provider.port)) as sock:
        sock.sendall(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\nabc"
        )
    with socket.create_connection(("127.0.0.1", pkceflow_provider.port)) as sock:
        sock.sendall(b"GET /jwks HTTP/1.1\r\n")
    assert request(pkceflow_provider.jwks_uri).status == 200


def test_request_timeout() -> None:
    with TestProvider(request_timeout=0.2) as provider:
        with socket.create_connection(("127.0.0.1", provider.port), timeout=5) as sock:
            sock.sendall(b"GET /jwks HTTP/1.1\r\n")
            assert sock.recv(100) == b""  # closed by the server after its timeout
        assert not provider.errors
