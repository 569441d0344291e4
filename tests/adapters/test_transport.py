"""Urllib3Transport against small HTTP servers on 127.0.0.1: security, limits, retries."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pluggy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pkceflow.transport import MAX_RESPONSE_BYTES, Urllib3Transport
from pkceflow_core import InsecureEndpointError, TransportError
from tests.support.closing import closing_all

from .support import (
    WAIT,
    Handler,
    LocalServer,
    assert_posted_as_given,
    drop_the_first,
    endless,
    exactly_the_limit,
    get,
    post,
    reset_mid_body,
    serving,
    too_large_then_ok,
    wait_until,
)

MakeTransport = Callable[..., Urllib3Transport]


@pytest.fixture
def make_transport() -> Iterator[MakeTransport]:
    def make(**kwargs: float) -> Urllib3Transport:
        kwargs.setdefault("timeout", WAIT)
        kwargs.setdefault("connect_timeout", WAIT)
        return Urllib3Transport(**kwargs)  # type: ignore[arg-type]

    with closing_all(make) as tracked:
        yield tracked


@pytest.fixture
def transport(make_transport: MakeTransport) -> Urllib3Transport:
    return make_transport()


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose accept queue is full: a new connection's handshake never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    try:
        yield port
    finally:
        filler.close()
        listener.close()


def _threads_settle(before: set[threading.Thread]) -> bool:
    return set(threading.enumerate()) <= before


# --------------------------------------------------------------------------- where requests go


def test_plain_http_to_a_non_loopback_host_is_refused_without_connecting(
    transport: Urllib3Transport,
) -> None:
    with serving() as server:
        # An IPv4-mapped address reaches this very server, but is not a loopback name.
        url = f"http://[::ffff:127.0.0.1]:{server.port}/token"
        with pytest.raises(InsecureEndpointError):
            transport.send(post(url))
        assert server.connections == 0
        with socket.create_connection(("::ffff:127.0.0.1", server.port), timeout=WAIT):
            pass  # the address itself works: only the transport refused it
        wait_until(lambda: server.connections == 1)


@pytest.mark.parametrize("url", ["http://192.0.2.1/token", "http://example.com/token"])
def test_plain_http_to_a_public_host_is_refused(transport: Urllib3Transport, url: str) -> None:
    started = time.monotonic()
    with pytest.raises(InsecureEndpointError, match="plain http"):
        transport.send(post(url))
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_from_the_token_endpoint_is_returned_not_followed(
    transport: Urllib3Transport, status: int
) -> None:
    with serving() as other:

        def redirect(handler: Handler) -> None:
            handler.reply(status, b"", {"Location": other.url("/steal")})

        with serving(redirect) as server:
            response = transport.send(post(server.url("/token")))
        assert response.status == status
        assert response.headers["location"] == other.url("/steal")
        assert other.connections == 0
        assert other.requests == []


def test_the_request_reaches_the_server_as_given(transport: Urllib3Transport) -> None:
    with serving() as server:
        response = transport.send(post(server.url("/token")))
    assert_posted_as_given(response, server)


def test_an_error_status_is_returned_as_a_response(transport: Urllib3Transport) -> None:
    def fail(handler: Handler) -> None:
        handler.reply(503, b"busy", {"Retry-After": "1"})

    with serving(fail) as server:
        response = transport.send(get(server.url("/.well-known/openid-configuration")))
    assert (response.status, response.body) == (503, b"busy")
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- TLS


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pkceflow test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LocalServer, Path]]:
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = LocalServer()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.start()
    try:
        yield server, cert
    finally:
        server.stop()


def test_tls_certificates_are_verified(
    transport: Urllib3Transport, tls_server: tuple[LocalServer, Path]
) -> None:
    server, _ = tls_server
    with pytest.raises(TransportError):
        transport.send(post(f"https://127.0.0.1:{server.port}/token"))
    assert server.requests == []


def test_a_ca_bundle_adds_a_trusted_ca(
    make_transport: MakeTransport, tls_server: tuple[LocalServer, Path]
) -> None:
    server, cert = tls_server
    transport = Urllib3Transport(timeout=WAIT, ca_bundle=str(cert))
    try:
        response = transport.send(post(f"https://127.0.0.1:{server.port}/token"))
    finally:
        transport.close()
    assert response.status == 200
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- timeouts


def test_a_server_that_never_answers_times_out_and_the_socket_is_closed(
    make_transport: MakeTransport,
) -> None:
    def never_answer(handler: Handler) -> None:
        if handler.wait_for_client_close():
            handler.server.event("client closed").set()
        handler.drop()

    with serving(never_answer) as server:
        before = set(threading.enumerate())
        transport = make_transport(timeout=0.3)
        started = time.monotonic()
        with pytest.raises(TransportError, match="ReadTimeoutError"):
            transport.send(post(server.url("/token")))
        elapsed = time.monotonic() - started
        assert server.event("client closed").wait(WAIT)
        wait_until(lambda: _threads_settle(before))
    assert 0.25 < elapsed < 2.0
    assert len(server.requests) == 1


def test_a_connection_that_never_completes_times_out(
    make_transport: MakeTransport, unanswered_port: int
) -> None:
    transport = make_transport(connect_timeout=0.3, retries=0)
    started = time.monotonic()
    with pytest.raises(TransportError, match="ConnectTimeoutError"):
        transport.send(post(f"http://127.0.0.1:{unanswered_port}/token"))
    assert 0.25 < time.monotonic() - started < 2.0


def test_the_built_in_transport_bounds_connecting_by_its_timeout(
    plugin_manager: pluggy.PluginManager, unanswered_port: int
) -> None:
    # The hook's contract: ``timeout`` bounds connecting and each read.
    transport = plugin_manager.hook.pkceflow_transport(timeout=0.2, ca_bundle=None)
    started = time.monotonic()
    try:
        with pytest.raises(TransportError):
            transport.send(get(f"http://127.0.0.1:{unanswered_port}/metadata"))
    finally:
        transport.close()
    # Three attempts (connection failures are retried) of 0.2 s and a short backoff.
    assert time.monotonic() - started < 3.0


# --------------------------------------------------------------------------- size and breakage


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "until-close"])
def test_a_body_over_one_mebibyte_is_refused_without_reading_it_all(
    transport: Urllib3Transport, declare_length: bool
) -> None:
    with serving(endless(declare_length)) as server:
        with pytest.raises(TransportError, match=f"larger than {MAX_RESPONSE_BYTES} bytes"):
            transport.send(post(server.url("/token")))
        wait_until(lambda: "sent" in server.values)
    # The server stopped because the client hung up, far short of the 100 MiB offered.
    assert server.values["sent"] < 50 << 20


def test_the_transport_still_works_after_refusing_a_large_body(
    transport: Urllib3Transport,
) -> None:
    with serving(too_large_then_ok) as server:
        with pytest.raises(TransportError, match="larger than"):
            transport.send(get(server.url("/jwks")))
        assert transport.send(post(server.url("/token"))).status == 200


def test_a_compressed_body_that_expands_over_the_limit_is_refused(
    transport: Urllib3Transport,
) -> None:
    bomb = gzip.compress(b" " * (8 << 20))  # 8 MiB of spaces in about 8 KiB

    def compressed(handler: Handler) -> None:
        handler.reply(200, bomb, {"Content-Encoding": "gzip"})

    with serving(compressed) as server, pytest.raises(TransportError, match="larger than"):
        transport.send(get(server.url("/.well-known/openid-configuration")))


def test_a_body_of_exactly_the_limit_is_accepted(transport: Urllib3Transport) -> None:
    with serving(exactly_the_limit) as server:
        response = transport.send(get(server.url("/jwks")))
    assert len(response.body) == MAX_RESPONSE_BYTES


def test_a_connection_reset_mid_body_is_a_transport_error(transport: Urllib3Transport) -> None:
    with serving(reset_mid_body) as server, pytest.raises(TransportError):
        transport.send(post(server.url("/token")))


# --------------------------------------------------------------------------- retries


def test_a_request_that_is_not_retry_safe_is_sent_once_when_the_connection_drops(
    make_transport: MakeTransport,
) -> None:
    def drop(handler: Handler) -> None:
        handler.drop()

    transport = make_transport(retries=3)
    with serving(drop) as server:
        with pytest.raises(TransportError):
            transport.send(post(server.url("/token")))
        assert len(server.requests) == 1


def test_a_retry_safe_request_is_sent_again_when_the_connection_drops(
    transport: Urllib3Transport,
) -> None:
    with serving(drop_the_first) as server:
        response = transport.send(get(server.url("/.well-known/oauth-authorization-server")))
    assert response.status == 200
    assert len(server.requests) == 2


def test_a_refused_connection_is_retried_even_for_a_code_exchange(
    make_transport: MakeTransport, caplog: pytest.LogCaptureFixture
) -> None:
    server = LocalServer()  # bound, not yet listening: connections are refused
    late_start = threading.Timer(0.1, server.start)
    transport = make_transport(retries=5)
    try:
        late_start.start()
        with caplog.at_level(logging.WARNING, logger="urllib3"):
            response = transport.send(post(server.url("/token")))
    finally:
        late_start.join()
        server.stop()
    assert response.status == 200
    assert len(server.requests) == 1
    retried = [r for r in caplog.records if "Retrying" in r.getMessage()]
    assert retried, "the first attempt was not refused"
    assert all("NewConnectionError" in r.getMessage() for r in retried)


def test_a_port_that_keeps_refusing_is_a_transport_error(make_transport: MakeTransport) -> None:
    server = LocalServer()  # bound, never listening
    transport = make_transport(retries=2)
    started = time.monotonic()
    try:
        with pytest.raises(
            TransportError, match=r"POST to 127\.0\.0\.1 failed: NewConnectionError"
        ):
            transport.send(post(server.url("/token")))
    finally:
        server.stop()
    assert time.monotonic() - started < 2.0


def test_keep_alive_reuses_one_connection(transport: Urllib3Transport) -> None:
    with serving() as server:
        first = transport.send(get(server.url("/.well-known/openid-configuration")))
        second = transport.send(post(server.url("/token")))
    assert (first.status, second.status) == (200, 200)
    assert len(server.requests) == 2
    assert server.connections == 1
