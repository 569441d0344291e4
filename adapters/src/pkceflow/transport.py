"""The urllib3 transport: one pooled, verifying, time-bounded HTTP client."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util import Retry, Timeout

from pkceflow_core import HttpRequest, HttpResponse, TransportError
from pkceflow_core.endpoints import check_endpoint

__all__ = ["MAX_RESPONSE_BYTES", "Urllib3Transport"]

log = logging.getLogger("pkceflow.transport")

#: Responses larger than this are refused; no OAuth answer comes near it.
MAX_RESPONSE_BYTES = 1 << 20
_USER_AGENT = "pkceflow/0.1"


class Urllib3Transport:
    """Sends HttpRequests through one urllib3 PoolManager (keep-alive).

    TLS is always verified (``ca_bundle`` adds a CA file); connect and read
    timeouts are always set; redirects are returned, never followed; plain http
    goes only to loopback hosts. A request is repeated only when the connection
    failed before it was sent, or when the request says it is safe to repeat.
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
        kwargs: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED"}
        if ca_bundle is not None:
            kwargs["ca_certs"] = ca_bundle
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=4,
            timeout=Timeout(connect=connect_timeout, read=timeout),
            **kwargs,
        )
        self._retries = retries
        self._max = max_response_bytes

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
            # MaxRetryError wraps the last failure (timeout, refusal, TLS): name that one.
            reason = getattr(exc, "reason", None)
            cause = reason if isinstance(reason, Exception) else exc
            raise TransportError(
                f"{request.method} to {host} failed: {type(cause).__name__}"
            ) from None
        try:
            body = self._read(response, host)
        finally:
            response.release_conn()
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
                    raise TransportError(f"the answer from {host} is larger than {self._max} bytes")
                chunks.append(chunk)
        except HTTPError as exc:
            raise TransportError(
                f"reading the answer from {host} failed: {type(exc).__name__}"
            ) from None
        return b"".join(chunks)

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
