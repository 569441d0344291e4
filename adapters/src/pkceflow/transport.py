"""The urllib3 transport: one pooled, verifying, time-bounded HTTP client."""

from __future__ import annotations

import abc
import contextlib
import logging
import socket
import threading
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, ProtocolError, ReadTimeoutError
from urllib3.util import Retry, Timeout

from pkceflow_core import HttpRequest, HttpResponse, TransportError, check_endpoint

__all__ = ["MAX_RESPONSE_BYTES", "Urllib3Transport"]

log = logging.getLogger("pkceflow.transport")

#: Responses larger than this are refused; no OAuth answer comes near it.
MAX_RESPONSE_BYTES = 1 << 20
_USER_AGENT = "pkceflow/0.1"
#: Added to a request's deadline for the backoff between its attempts.
_BACKOFF_ALLOWANCE = 0.5
_local = threading.local()


class _Deadline:
    """Bounds a whole request, however slowly the server sends its answer.

    The read timeout bounds each wait for a byte; a server that sends one byte now
    and then would hold the request (and the refresh lock around it) for ever. At
    the deadline a timer shuts down the socket of the connection the request uses,
    so the blocked read returns at once.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._over = False
        self._connection: HTTPConnection | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.name = "pkceflow-http-deadline"
        self._timer.daemon = True

    def attach(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connection = connection
            if not self.expired:
                return
        _shut_down(connection)

    def _expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self.expired = True
            connection = self._connection
        if connection is not None:
            _shut_down(connection)

    def __enter__(self) -> _Deadline:
        _local.deadline = self
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._over = True
        _local.deadline = None
        self._timer.cancel()
        self._timer.join()


def _shut_down(connection: HTTPConnection) -> None:
    sock = connection.sock
    if isinstance(sock, socket.socket):
        # socket.socket's own shutdown, also for an SSLSocket: its override would
        # drop the TLS state under the feet of the thread reading.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch(connection: HTTPConnection) -> None:
    """Hand ``connection`` to the deadline of the request this thread is sending."""
    deadline: _Deadline | None = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.attach(connection)


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _BoundedTransport(abc.ABC):
    """What both transports are made with, and the deadline they make of it.

    ``timeout`` bounds each read, ``connect_timeout`` each connection attempt,
    ``ca_bundle`` is a file of trusted CA certificates used instead of the system's,
    ``retries`` how often a failed request is tried again, ``max_response_bytes`` the
    largest body read. Each transport opens its pool in :meth:`_open_pool`, which
    ``__init__`` calls last.
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        ca_bundle: str | None = None,
        retries: int = 2,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._retries = retries
        self._max = max_response_bytes
        self._open_pool(ca_bundle)

    @abc.abstractmethod
    def _open_pool(self, ca_bundle: str | None) -> None:
        """Open the connection pool, trusting ``ca_bundle`` (or the system's CAs)."""

    def _deadline(self, request: HttpRequest) -> float:
        """How long ``request`` may take in all, retries included.

        Every connection attempt may use its connect timeout; every attempt that sent
        the request, its read timeout; a request that is not retry-safe is sent once.
        """
        reads = 1 + (self._retries if request.retry_safe else 0)
        connects = 1 + self._retries
        return connects * self._connect_timeout + reads * self._timeout + _BACKOFF_ALLOWANCE


class Urllib3Transport(_BoundedTransport):
    """Sends HttpRequests through one urllib3 PoolManager (keep-alive).

    TLS is always verified (``ca_bundle`` adds a CA file); connect and read
    timeouts are always set, and a request never takes longer than its attempts
    could with each timeout used in full, however slowly the server sends;
    redirects are returned, never followed; plain http goes only to loopback
    hosts. A request is repeated only when the connection failed before it was
    sent, or when the request says it is safe to repeat.
    """

    def _open_pool(self, ca_bundle: str | None) -> None:
        kwargs: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED"}
        if ca_bundle is not None:
            kwargs["ca_certs"] = ca_bundle
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=4,
            timeout=Timeout(connect=self._connect_timeout, read=self._timeout),
            **kwargs,
        )
        self._pool.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def _retry(self, request: HttpRequest) -> Retry:
        # Connection failures happen before a byte of the request is sent, so
        # repeating them is safe for every request, a code exchange included.
        # Failures after sending are repeated only for retry-safe requests.
        after = self._retries if request.retry_safe else 0
        return Retry(
            total=None,
            connect=self._retries,
            read=after,
            other=0,
            status=0,
            redirect=0,
            raise_on_redirect=False,
            raise_on_status=False,
            allowed_methods=None,
            backoff_factor=0.1,
        )

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and return the response (any status).

        Raises TransportError on connection, TLS, timeout and size failures and
        InsecureEndpointError for plain http to a host that is not loopback.
        """
        parts = check_endpoint(request.url, name="request URL")
        host = parts.hostname
        headers = {"User-Agent": _USER_AGENT, **request.headers}
        with _Deadline(self._deadline(request)) as deadline:
            try:
                response = self._pool.request(
                    request.method,
                    request.url,
                    body=request.body or None,
                    headers=headers,
                    redirect=False,
                    retries=self._retry(request),
                    preload_content=False,
                )
            except HTTPError as exc:
                if deadline.expired:
                    raise _too_slow(request, host, deadline) from None
                # MaxRetryError wraps the last failure (timeout, refusal, TLS): name that one.
                reason = getattr(exc, "reason", None)
                cause = reason if isinstance(reason, Exception) else exc
                # A read timeout or a connection dropped while waiting for the answer
                # came after the request was written: the server may have acted on it.
                raise TransportError(
                    f"{request.method} to {host} failed: {type(cause).__name__}",
                    maybe_sent=isinstance(cause, ReadTimeoutError | ProtocolError),
                ) from None
            try:
                body = self._read(response, host)
            except TransportError:
                if not deadline.expired:
                    raise
            finally:
                response.release_conn()
            # Cut short at the deadline, the answer may even look whole: it is not.
            if deadline.expired:
                raise _too_slow(request, host, deadline) from None
        log.debug("%s %s -> HTTP %s", request.method, _safe_url(request.url), response.status)
        return HttpResponse(response.status, dict(response.headers.items()), body)

    def _read(self, response: urllib3.BaseHTTPResponse, host: str | None) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                chunk = response.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self._max:
                    # Drop the connection: draining an unbounded body is the
                    # very thing the limit is there to avoid.
                    response.close()
                    raise TransportError(
                        f"the answer from {host} is larger than {self._max} bytes", maybe_sent=True
                    )
                chunks.append(chunk)
        except HTTPError as exc:
            raise TransportError(
                f"reading the answer from {host} failed: {type(exc).__name__}", maybe_sent=True
            ) from None
        return b"".join(chunks)

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()


def _too_slow(request: HttpRequest, host: str | None, deadline: _Deadline) -> TransportError:
    return TransportError(
        f"{request.method} to {host} took longer than {deadline.seconds:g} s", maybe_sent=True
    )


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
