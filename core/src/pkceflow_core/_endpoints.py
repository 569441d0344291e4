"""Which URLs the client may send credentials to."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from .errors import InsecureEndpointError, UsageError, printable

__all__ = ["check_endpoint", "is_loopback_host"]

_IPV4_LOOPBACK = re.compile(r"127(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\Z")


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost`` (RFC 8252 7.3, 8.3)."""
    host = host.lower().strip("[]")
    return host in ("localhost", "::1") or bool(_IPV4_LOOPBACK.match(host))


def check_endpoint(url: str, *, name: str = "endpoint", allow_query: bool = True) -> SplitResult:
    """Check that ``url`` is an absolute https URL, or http to a loopback host.

    Credentials, codes and tokens travel to these URLs, so plain http elsewhere is
    refused (RFC 6749 3.1, 3.2; RFC 9700 2.6). A fragment is never allowed.
    Raises InsecureEndpointError or UsageError.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        raise UsageError(f"the {name} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise UsageError(f"the {name} must be an absolute https URL")
    if parts.fragment or url.endswith("#"):
        raise UsageError(f"the {name} must not have a fragment (RFC 6749 3.1)")
    if parts.query and not allow_query:
        raise UsageError(f"the {name} must not have a query")
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"the {name} must not carry user information")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise InsecureEndpointError(
            f"the {name} uses plain http on {printable(host, 80)!r};"
            " only loopback hosts may (RFC 9700 2.6)"
        )
    return parts
