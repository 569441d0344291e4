"""The asyncio transport: httpx's connection pool under Urllib3Transport's rules.

:class:`HttpxTransport` is :class:`pkceflow.transport.Urllib3Transport` for asyncio:
TLS always verified (``ca_bundle`` the same way), connect and read timeouts and a
deadline for the whole request, redirects returned and never followed, plain http
to loopback hosts only, bodies bounded (compressed ones while they are
decompressed), and a request that is not retry-safe never repeated once it may
have reached the server.

It drives httpx's transport layer (``httpx.AsyncHTTPTransport``, a pool of
keep-alive connections) rather than ``httpx.AsyncClient``: the client would log
every URL whole, query included, keep and send back cookies, and read proxies and
``.netrc`` from the environment, none of which the urllib3 transport does.

httpx is the ``async`` extra (``pip install 'pkceflow[async]'``); ``import
pkceflow`` does not import it, and without it importing this module raises
:class:`~pkceflow_core.errors.MissingExtraError` naming the extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import zlib

from pkceflow_core import HttpRequest, HttpResponse, TransportError, UsageError, check_endpoint
from pkceflow_core.errors import MissingExtraError

try:
    import httpx
except ImportError:  # the async extra is not installed
    raise MissingExtraError(
        "pkceflow.async_transport (HTTP for asyncio) needs httpx, which the async extra"
        " installs: pip install 'pkceflow[async]'",
        extra="pkceflow[async]",
        name="httpx",
    ) from None

from .transport import _USER_AGENT, MAX_RESPONSE_BYTES, _BoundedTransport, _safe_url

__all__ = ["MAX_RESPONSE_BYTES", "HttpxTransport"]

log = logging.getLogger("pkceflow.transport")

#: Failures before a byte of the request was sent: safe to repeat for any request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
#: Failures once the request was (being) written: the server may have acted on it.
_MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
#: The content codings undone here (RFC 9110 8.4.1), as urllib3 always does.
_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "identity"})


class HttpxTransport(_BoundedTransport, contextlib.AbstractAsyncContextManager["HttpxTransport"]):
    """Sends HttpRequests from asyncio through one pool of keep-alive connections.

    The arguments are Urllib3Transport's, with the same meaning: ``timeout`` bounds
    each read, ``connect_timeout`` each connection attempt, ``ca_bundle`` is a file
    of trusted CA certificates used instead of the system's, ``retries`` how often
    a failed request is tried again, ``max_response_bytes`` the largest body read
    (after decompression). A request never takes longer than its attempts could
    with each timeout used in full, however slowly the server sends.

    Use it from one event loop; :meth:`aclose` (or ``async with``) closes the pool.
    """

    def _open_pool(self, ca_bundle: str | None) -> None:
        # The system's trust store, or the bundle alone: what urllib3 does with
        # ca_certs (httpx's default would be certifi's bundle instead).
        try:
            context = ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:  # a missing or unreadable bundle
            raise UsageError(
                f"the CA bundle {ca_bundle!r} cannot be used (HttpOptions.ca_bundle):"
                f" {getattr(exc, 'strerror', None) or type(exc).__name__}"
            ) from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._tls = context
        self._pool = httpx.AsyncHTTPTransport(
            verify=context,
            trust_env=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=16),
            retries=0,  # repeated here, where what was sent is known
        )
        timeout = self._timeout
        self._timeouts = httpx.Timeout(
            connect=self._connect_timeout, read=timeout, write=timeout, pool=timeout
        ).as_dict()

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and return the response (any status).

        Raises TransportError on connection, TLS, timeout and size failures and
        InsecureEndpointError for plain http to a host that is not loopback.
        """
        parts = check_endpoint(request.url, name="request URL")
        host = parts.hostname
        deadline = self._deadline(request)
        try:
            response = await asyncio.wait_for(self._send(request, host), deadline)
        except asyncio.TimeoutError:
            raise TransportError(
                f"{request.method} to {host} took longer than {deadline:g} s", maybe_sent=True
            ) from None
        log.debug("%s %s -> HTTP %s", request.method, _safe_url(request.url), response.status)
        return response

    async def _send(self, request: HttpRequest, host: str | None) -> HttpResponse:
        headers = httpx.Headers({"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"})
        headers.update(request.headers)
        # Connection failures happen before a byte of the request is sent, so
        # repeating them is safe for every request, a code exchange included.
        # Failures after sending are repeated only for retry-safe requests.
        connects = reads = 0
        while True:
            outgoing = httpx.Request(
                request.method,
                request.url,
                headers=headers,
                content=request.body or None,
                extensions={"timeout": self._timeouts},
            )
            try:
                response = await self._pool.handle_async_request(outgoing)
                break
            except _NOT_SENT as exc:
                tls = _tls_failure(exc)
                if tls is not None or connects >= self._retries:
                    raise _failed(request, host, tls or exc, maybe_sent=False) from None
                connects += 1
            except _MAYBE_SENT as exc:
                if not request.retry_safe or reads >= self._retries:
                    raise _failed(request, host, exc, maybe_sent=True) from None
                reads += 1
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise _failed(request, host, exc, maybe_sent=False) from None
            await asyncio.sleep(_backoff(connects + reads))
        try:
            body = await self._read(response, host)
        finally:
            await response.aclose()
        return HttpResponse(response.status_code, dict(response.headers.multi_items()), body)

    async def _read(self, response: httpx.Response, host: str | None) -> bytes:
        codings = [
            coding.strip().lower()
            for coding in response.headers.get("content-encoding", "").split(",")
            if coding.strip()
        ]
        # Undone in the reverse order of their application; a body in a coding
        # this transport does not know is returned as it came, as urllib3 does.
        decoders = (
            [_Inflater(c) for c in reversed(codings) if c != "identity"]
            if all(c in _CODINGS for c in codings)
            else []
        )
        chunks: list[bytes] = []
        size = 0
        try:
            async for raw in response.aiter_raw():
                chunk = raw
                for decoder in decoders:
                    chunk = decoder.feed(chunk, self._max - size)
                size += len(chunk)
                if size > self._max:
                    raise _TooLarge
                chunks.append(chunk)
        except _TooLarge:
            # Closing the response drops the connection: draining an unbounded
            # body is the very thing the limit is there to avoid.
            raise TransportError(
                f"the answer from {host} is larger than {self._max} bytes", maybe_sent=True
            ) from None
        except zlib.error:
            raise TransportError(
                f"reading the answer from {host} failed: DecodeError", maybe_sent=True
            ) from None
        except httpx.HTTPError as exc:
            raise TransportError(
                f"reading the answer from {host} failed: {type(exc).__name__}", maybe_sent=True
            ) from None
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


class _TooLarge(Exception):
    """More than the limit came out: the body is refused."""


class _Inflater:
    """Undoes one gzip or deflate coding, never producing more than it is allowed.

    urllib3 bounds what it decompresses in the same way: a few kilobytes that
    expand to gigabytes are refused once the limit is passed, not expanded first.
    """

    def __init__(self, coding: str) -> None:
        self._gzip = coding in ("gzip", "x-gzip")
        # deflate is zlib-wrapped (RFC 9110 8.4.1.2), though some servers send it
        # raw; the first two bytes tell which.
        self._undecided = b"" if not self._gzip else None
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)
        self._later_member = False
        self._finished = False

    def feed(self, data: bytes, limit: int) -> bytes:
        """Decompress ``data``; raise _TooLarge when more than ``limit`` bytes come out.

        Raises zlib.error for data that is not in the coding.
        """
        if self._undecided is not None:
            data = self._undecided + data
            if len(data) < 2:
                self._undecided = data
                return b""
            self._undecided = None
            if not _zlib_header(data):
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        out = bytearray()
        while data and not self._finished:
            if self._inflate.eof:
                if not self._gzip:
                    self._finished = True  # bytes after the deflate stream: ignored
                    break
                # Another gzip member follows (RFC 1952 2.2).
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._later_member = True
            try:
                # At most one byte over the limit comes out: enough to know.
                out += self._inflate.decompress(data, limit + 1 - len(out))
            except zlib.error:
                if not self._later_member:
                    raise
                self._finished = True  # not another member: trailing bytes, ignored
                break
            if len(out) > limit:
                raise _TooLarge
            data = self._inflate.unconsumed_tail or self._inflate.unused_data
        return bytes(out)


def _zlib_header(data: bytes) -> bool:
    # RFC 1950 2.2: method 8 (deflate), and the two bytes a multiple of 31.
    return data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _backoff(failures: int) -> float:
    # urllib3's Retry(backoff_factor=0.1): none before the first repeat, then doubling.
    return 0.0 if failures <= 1 else 0.1 * 2 ** (failures - 1)


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error under a failed connection (certificate, handshake), if it was one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _failed(
    request: HttpRequest, host: str | None, cause: BaseException, *, maybe_sent: bool
) -> TransportError:
    # The failure is named by its class alone: httpx's messages may quote the request.
    return TransportError(
        f"{request.method} to {host} failed: {type(cause).__name__}", maybe_sent=maybe_sent
    )
