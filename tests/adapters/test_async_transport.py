"""HttpxTransport against small HTTP servers on 127.0.0.1: the urllib3 transport's cases, awaited.

Each test runs its coroutine with ``asyncio.run``; the servers are the blocking ones of
``support`` (threads), the test provider, or raw sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import importlib
import logging
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pluggy
import pytest

from pkceflow.async_transport import MAX_RESPONSE_BYTES, HttpxTransport
from pkceflow.testing import PUBLIC_CLIENT_ID, TestProvider
from pkceflow.transport import Urllib3Transport
from pkceflow_core import (
    HttpRequest,
    HttpResponse,
    InsecureEndpointError,
    MissingExtraError,
    ServerMetadata,
    TransportError,
)
from pkceflow_core._metadata import discovery_requests, parse_metadata

from . import test_transport as _sync_tests
from .support import (
    FORM,
    SECRET_CODE,
    SECRET_VERIFIER,
    WAIT,
    Handler,
    LocalServer,
    assert_posted_as_given,
    drop_the_first,
    endless,
    exactly_the_limit,
    get,
    ok,
    post,
    reset_mid_body,
    serving,
    too_large_then_ok,
    wait_until,
)

T = TypeVar("T")

# The fixtures of the urllib3 transport's tests: a TLS server whose CA is not
# trusted, and a port whose accept queue is full.
tls_server = _sync_tests.tls_server
unanswered_port = _sync_tests.unanswered_port


def transport(**options: Any) -> HttpxTransport:
    options.setdefault("timeout", WAIT)
    options.setdefault("connect_timeout", WAIT)
    return HttpxTransport(**options)


def run(use: Callable[[HttpxTransport], Awaitable[T]], **options: Any) -> T:
    """``use(transport)`` on a new event loop, the transport closed afterwards."""

    async def main() -> T:
        async with transport(**options) as made:
            return await use(made)

    return asyncio.run(main())


def send(request: HttpRequest, **options: Any) -> HttpResponse:
    """Send one request through a new transport made with ``options``."""
    return run(lambda made: made.send(request), **options)


def send_error(request: HttpRequest, **options: Any) -> TransportError:
    """The TransportError sending ``request`` raises."""
    with pytest.raises(TransportError) as caught:
        send(request, **options)
    return caught.value


# --------------------------------------------------------------------------- where requests go


def test_plain_http_to_a_non_loopback_host_is_refused_without_connecting() -> None:
    with serving() as server:
        # An IPv4-mapped address reaches this very server, but is not a loopback name.
        url = f"http://[::ffff:127.0.0.1]:{server.port}/token"
        with pytest.raises(InsecureEndpointError):
            send(post(url))
        assert server.connections == 0
        with socket.create_connection(("::ffff:127.0.0.1", server.port), timeout=WAIT):
            pass  # the address itself works: only the transport refused it
        wait_until(lambda: server.connections == 1)


@pytest.mark.parametrize("url", ["http://192.0.2.1/token", "http://example.com/token"])
def test_plain_http_to_a_public_host_is_refused(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(InsecureEndpointError, match="plain http"):
        send(post(url))
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_from_the_token_endpoint_is_returned_not_followed(status: int) -> None:
    with serving() as other:

        def redirect(handler: Handler) -> None:
            handler.reply(status, b"", {"Location": other.url("/steal")})

        with serving(redirect) as server:
            response = send(post(server.url("/token")))
        assert response.status == status
        assert response.headers["location"] == other.url("/steal")
        assert other.connections == 0


def test_the_request_reaches_the_server_as_given() -> None:
    with serving() as server:
        response = send(post(server.url("/token")))
    request = assert_posted_as_given(response, server)
    # As urllib3 (http.client) sends it: no compressed answer is asked for.
    assert request.headers["accept-encoding"] == "identity"
    assert "cookie" not in request.headers


def test_an_error_status_is_returned_as_a_response() -> None:
    def fail(handler: Handler) -> None:
        handler.reply(503, b"busy", {"Retry-After": "1"})

    with serving(fail) as server:
        response = send(get(server.url("/.well-known/openid-configuration")))
    assert (response.status, response.body) == (503, b"busy")
    assert response.headers["retry-after"] == "1"
    assert len(server.requests) == 1


def test_cookies_are_neither_kept_nor_sent_back() -> None:
    def set_cookie(handler: Handler) -> None:
        handler.reply(200, b"{}", {"Set-Cookie": "session=abc; Path=/"})

    async def twice(made: HttpxTransport) -> None:
        await made.send(get(server.url("/one")))
        await made.send(get(server.url("/two")))

    with serving(set_cookie) as server:
        run(twice)
    assert [r.headers.get("cookie") for r in server.requests] == [None, None]


def test_the_test_provider_answers_discovery_and_refuses_a_forged_code(
    provider: TestProvider,
) -> None:
    async def talk(made: HttpxTransport) -> tuple[ServerMetadata, HttpResponse]:
        [oauth, _] = discovery_requests(provider.issuer)
        metadata = parse_metadata(await made.send(oauth), issuer=provider.issuer)
        forged = post(metadata.token_endpoint)
        body = forged.body + f"&client_id={PUBLIC_CLIENT_ID}".encode()
        return metadata, await made.send(HttpRequest("POST", forged.url, FORM, body))

    metadata, token = run(talk)
    assert metadata.token_endpoint == provider.token_endpoint
    assert token.status == 400
    assert b"invalid_grant" in token.body
    assert provider.count("token") == 1


# --------------------------------------------------------------------------- TLS


def test_tls_certificates_are_verified(tls_server: tuple[LocalServer, Path]) -> None:
    server, _ = tls_server
    error = send_error(post(f"https://127.0.0.1:{server.port}/token"))
    assert "SSLCertVerificationError" in str(error)
    assert not error.maybe_sent
    assert server.requests == []


def test_a_ca_bundle_adds_a_trusted_ca(tls_server: tuple[LocalServer, Path]) -> None:
    server, cert = tls_server
    response = send(post(f"https://127.0.0.1:{server.port}/token"), ca_bundle=str(cert))
    assert response.status == 200
    assert len(server.requests) == 1


def test_a_ca_bundle_is_trusted_instead_of_the_system_store(tmp_path: Path) -> None:
    # As urllib3 does with ca_certs: the bundle's CAs alone, not added to the system's.
    cert, _ = _sync_tests._certificate(tmp_path)
    tls = transport(ca_bundle=str(cert))._tls
    assert tls.cert_store_stats()["x509_ca"] == 1
    assert tls.verify_mode is ssl.CERT_REQUIRED
    assert tls.check_hostname
    assert tls.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_a_tls_failure_is_not_tried_again(tmp_path: Path) -> None:
    cert, key = _sync_tests._certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handshakes = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            handshakes.append(conn)
            with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True):
                pass  # the client refuses the certificate
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        error = send_error(get(f"https://127.0.0.1:{listener.getsockname()[1]}/jwks"), retries=5)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(WAIT)
        listener.close()
    # One handshake: a certificate that failed will fail again.
    assert len(handshakes) == 1
    assert "SSLCertVerificationError" in str(error)
    assert elapsed < 2.0


# --------------------------------------------------------------------------- timeouts


def test_a_server_that_never_answers_times_out_and_the_socket_is_closed() -> None:
    def never_answer(handler: Handler) -> None:
        if handler.wait_for_client_close():
            handler.server.event("client closed").set()
        handler.drop()

    with serving(never_answer) as server:
        started = time.monotonic()
        error = send_error(post(server.url("/token")), timeout=0.3)
        elapsed = time.monotonic() - started
        assert server.event("client closed").wait(WAIT)
    assert "ReadTimeout" in str(error)
    assert error.maybe_sent
    assert 0.25 < elapsed < 2.0
    assert len(server.requests) == 1


def test_a_connection_that_never_completes_times_out(unanswered_port: int) -> None:
    started = time.monotonic()
    error = send_error(
        post(f"http://127.0.0.1:{unanswered_port}/token"), connect_timeout=0.3, retries=0
    )
    assert "ConnectTimeout" in str(error)
    assert not error.maybe_sent
    assert 0.25 < time.monotonic() - started < 2.0


def test_the_built_in_transport_bounds_connecting_by_its_timeout(
    plugin_manager: pluggy.PluginManager, unanswered_port: int
) -> None:
    # The hook's contract: ``timeout`` bounds connecting and each read.
    made = plugin_manager.hook.pkceflow_async_transport(timeout=0.2, ca_bundle=None)
    assert isinstance(made, HttpxTransport)

    async def main() -> None:
        async with made:
            await made.send(get(f"http://127.0.0.1:{unanswered_port}/metadata"))

    started = time.monotonic()
    with pytest.raises(TransportError):
        asyncio.run(main())
    # Three attempts (connection failures are retried) of 0.2 s and a short backoff.
    assert time.monotonic() - started < 3.0


def _dribble_body(handler: Handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    try:
        for _ in range(600):  # a byte every 0.05 s: each read is quick, the whole is not
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.05)
    except OSError:
        handler.server.event("client hung up").set()
    handler.drop()


def test_a_server_that_dribbles_its_answer_is_cut_off_at_the_deadline() -> None:
    with serving(_dribble_body) as server:
        started = time.monotonic()
        error = send_error(post(server.url("/token")), timeout=0.3, connect_timeout=0.3, retries=0)
        elapsed = time.monotonic() - started
        assert server.event("client hung up").wait(WAIT)
    # One connect and one read, each of 0.3 s, and the backoff allowance.
    assert "took longer than 1.1 s" in str(error)
    assert error.maybe_sent
    assert 1.0 < elapsed < 2.5


@pytest.mark.parametrize("retry_safe", [True, False])
@pytest.mark.parametrize("retries", [0, 2])
def test_the_deadline_is_the_urllib3_transports(retry_safe: bool, retries: int) -> None:
    request = post("http://127.0.0.1/token", retry_safe=retry_safe)
    options = {"timeout": 4.0, "connect_timeout": 1.5, "retries": retries}
    sync = Urllib3Transport(**options)  # type: ignore[arg-type]
    try:
        assert transport(**options)._deadline(request) == sync._deadline(request)
    finally:
        sync.close()


# --------------------------------------------------------------------------- size and breakage


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "until-close"])
def test_a_body_over_one_mebibyte_is_refused_without_reading_it_all(declare_length: bool) -> None:
    assert MAX_RESPONSE_BYTES == 1 << 20
    with serving(endless(declare_length)) as server:
        error = send_error(post(server.url("/token")))
        wait_until(lambda: "sent" in server.values)
    assert f"larger than {MAX_RESPONSE_BYTES} bytes" in str(error)
    assert error.maybe_sent
    # The server stopped because the client hung up, far short of the 100 MiB offered.
    assert server.values["sent"] < 50 << 20


def test_the_transport_still_works_after_refusing_a_large_body() -> None:
    async def both(made: HttpxTransport) -> int:
        with pytest.raises(TransportError, match="larger than"):
            await made.send(get(server.url("/jwks")))
        return (await made.send(post(server.url("/token")))).status

    with serving(too_large_then_ok) as server:
        assert run(both) == 200


def _compressed(body: bytes, encoding: str) -> Callable[[Handler], None]:
    def respond(handler: Handler) -> None:
        handler.reply(200, body, {"Content-Encoding": encoding})

    return respond


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
    ],
    ids=["gzip", "deflate", "raw-deflate"],
)
def test_a_compressed_body_that_expands_over_the_limit_is_refused(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    bomb = compress(b" " * (64 << 20))  # 64 MiB of spaces in about 64 KiB

    with serving(_compressed(bomb, encoding)) as server:
        error = send_error(get(server.url("/.well-known/openid-configuration")))
    assert "larger than" in str(error)


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(b'{"a": 1}')),
        ("x-gzip", gzip.compress(b'{"a": 1}')),
        ("deflate", zlib.compress(b'{"a": 1}')),
        ("deflate", zlib.compress(b'{"a": 1}')[2:-4]),
        ("gzip", gzip.compress(b'{"a": ') + gzip.compress(b"1}")),  # two members
        ("gzip, gzip", gzip.compress(gzip.compress(b'{"a": 1}'))),
        ("identity", b'{"a": 1}'),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "gzip-members", "gzip-twice", "identity"],
)
def test_a_compressed_body_within_the_limit_is_decompressed(encoding: str, body: bytes) -> None:
    with serving(_compressed(body, encoding)) as server:
        response = send(get(server.url("/jwks")))
    assert response.body == b'{"a": 1}'


def test_a_body_in_an_unknown_coding_is_returned_as_it_came() -> None:
    with serving(_compressed(b"\x8b\x00opaque", "br")) as server:
        response = send(get(server.url("/jwks")))
    assert response.body == b"\x8b\x00opaque"


def test_a_corrupt_compressed_body_is_a_transport_error() -> None:
    with serving(_compressed(b"\x1f\x8b not gzip at all", "gzip")) as server:
        error = send_error(get(server.url("/jwks")))
    assert "DecodeError" in str(error)


def test_a_body_of_exactly_the_limit_is_accepted() -> None:
    with serving(exactly_the_limit) as server:
        response = send(get(server.url("/jwks")))
    assert len(response.body) == MAX_RESPONSE_BYTES


def test_a_gzip_body_of_exactly_the_limit_is_accepted() -> None:
    body = b"x" * MAX_RESPONSE_BYTES
    with serving(_compressed(gzip.compress(body), "gzip")) as server:
        response = send(get(server.url("/jwks")))
    assert response.body == body


def test_a_connection_reset_mid_body_is_a_transport_error() -> None:
    with serving(reset_mid_body) as server:
        error = send_error(post(server.url("/token")))
    assert error.maybe_sent


# --------------------------------------------------------------------------- retries


def test_a_request_that_is_not_retry_safe_is_sent_once_when_the_connection_drops() -> None:
    def drop(handler: Handler) -> None:
        handler.drop()

    with serving(drop) as server:
        error = send_error(post(server.url("/token")), retries=3)
        assert len(server.requests) == 1
    assert error.maybe_sent
    assert "RemoteProtocolError" in str(error)


def test_a_request_that_is_not_retry_safe_is_sent_once_when_the_answer_is_late() -> None:
    def late(handler: Handler) -> None:
        handler.wait_for_client_close()
        handler.drop()

    with serving(late) as server:
        error = send_error(post(server.url("/token")), timeout=0.2, retries=3)
        wait_until(lambda: server.connections == 1)
        assert len(server.requests) == 1
    assert error.maybe_sent


def test_a_retry_safe_request_is_sent_again_when_the_connection_drops() -> None:
    with serving(drop_the_first) as server:
        response = send(get(server.url("/.well-known/oauth-authorization-server")))
    assert response.status == 200
    assert len(server.requests) == 2


def test_a_retry_safe_request_is_sent_again_when_the_answer_is_late() -> None:
    def late_then_ok(handler: Handler) -> None:
        if len(handler.server.requests) == 1:
            handler.wait_for_client_close()
            handler.drop()
        else:
            ok(handler)

    with serving(late_then_ok) as server:
        response = send(get(server.url("/jwks")), timeout=0.3, retries=1)
    assert response.status == 200
    assert len(server.requests) == 2


def test_a_refused_connection_is_retried_even_for_a_code_exchange() -> None:
    server = LocalServer()  # bound, not yet listening: connections are refused
    late_start = threading.Timer(0.1, server.start)
    try:
        late_start.start()
        response = send(post(server.url("/token")), retries=5)
    finally:
        late_start.join()
        server.stop()
    assert response.status == 200
    assert len(server.requests) == 1


def test_a_port_that_keeps_refusing_is_a_transport_error_sent_nowhere() -> None:
    server = LocalServer()  # bound, never listening
    started = time.monotonic()
    try:
        error = send_error(post(server.url("/token")), retries=2)
    finally:
        server.stop()
    assert str(error) == "POST to 127.0.0.1 failed: ConnectError"
    assert not error.maybe_sent
    # Three attempts, backing off 0 s and then 0.2 s, as urllib3 does.
    assert 0.15 < time.monotonic() - started < 2.0


def test_keep_alive_reuses_one_connection() -> None:
    async def both(made: HttpxTransport) -> tuple[int, int]:
        first = await made.send(get(server.url("/.well-known/openid-configuration")))
        second = await made.send(post(server.url("/token")))
        return first.status, second.status

    with serving() as server:
        assert run(both) == (200, 200)
    assert len(server.requests) == 2
    assert server.connections == 1


def test_aclose_closes_the_pooled_connection() -> None:
    def answer_then_watch(handler: Handler) -> None:
        ok(handler)
        if handler.wait_for_client_close():
            handler.server.event("client closed").set()
        handler.drop()

    async def main() -> None:
        made = transport()
        await made.send(get(server.url("/jwks")))
        assert not server.event("client closed").is_set()
        await made.aclose()
        await made.aclose()  # twice is fine

    with serving(answer_then_watch) as server:
        asyncio.run(main())
        assert server.event("client closed").wait(WAIT)


# --------------------------------------------------------------------------- secrets


def test_no_secret_reaches_a_log_line_or_an_error(caplog: pytest.LogCaptureFixture) -> None:
    bearer = "Bearer at-Zr8QxvY2Lm5Kp0"
    query = "introspect-Wq4Pd7Ns1Hf"

    def request(url: str) -> HttpRequest:
        return HttpRequest(
            "POST", f"{url}?token={query}", {**FORM, "Authorization": bearer}, post(url).body
        )

    def drop(handler: Handler) -> None:
        handler.drop()

    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        with serving() as server:
            send(request(server.url("/userinfo")))
        with serving(drop) as server:
            errors.append(str(send_error(request(server.url("/token")))))
        with serving(_dribble_body) as server:
            errors.append(
                str(send_error(request(server.url("/token")), timeout=0.2, connect_timeout=0.2))
            )
    text = "\n".join([*errors, *(record.getMessage() for record in caplog.records)])
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for secret in (SECRET_CODE, SECRET_VERIFIER, bearer.split()[1], query):
        assert secret not in text


# --------------------------------------------------------------------------- imports


def test_importing_pkceflow_imports_neither_httpx_nor_an_asyncio_listener() -> None:
    program = (
        "import sys, pkceflow, pkceflow.loopback, pkceflow.transport\n"
        "from pkceflow.plugins import make_plugin_manager\n"
        "make_plugin_manager()\n"
        "loaded = {'asyncio', 'httpx', 'pkceflow.async_loopback', 'pkceflow.async_transport'}\n"
        "print(sorted(loaded & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_without_httpx_the_import_raises_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import pkceflow

    original = importlib.import_module("pkceflow.async_transport")
    monkeypatch.setattr(pkceflow, "async_transport", original, raising=False)
    monkeypatch.setitem(sys.modules, "httpx", None)  # as if httpx were not installed
    monkeypatch.delitem(sys.modules, "pkceflow.async_transport")
    with pytest.raises(MissingExtraError) as caught:
        importlib.import_module("pkceflow.async_transport")
    error = caught.value
    assert isinstance(error, ImportError)
    assert "pip install 'pkceflow[async]'" in str(error)
    assert (error.extra, error.name) == ("pkceflow[async]", "httpx")


def test_without_httpx_the_built_in_hook_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, plugin_manager: pluggy.PluginManager
) -> None:
    import pkceflow

    original = importlib.import_module("pkceflow.async_transport")
    monkeypatch.setattr(pkceflow, "async_transport", original, raising=False)
    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.delitem(sys.modules, "pkceflow.async_transport")
    with pytest.raises(MissingExtraError, match=r"pip install 'pkceflow\[async\]'"):
        plugin_manager.hook.pkceflow_async_transport(timeout=1.0, ca_bundle=None)
