"""HTTP as data: what the core asks a transport to send, and what comes back."""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

__all__ = ["HttpRequest", "HttpResponse", "freshness_lifetime", "retry_after"]

_MAX_AGE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d{1,10})\"?\s*(?=,|$)", re.I)
_NO_CACHE = re.compile(r"(?:^|,)\s*(no-store|no-cache)\s*(?:=|,|$)", re.I)


def _lower_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@attrs.frozen
class HttpRequest:
    """A request for the transport port to send.

    ``body`` (form data with codes, verifiers, tokens) and ``headers`` (which may
    hold client credentials) are left out of the repr.
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    body: bytes = attrs.field(default=b"", repr=False)
    #: False where the request must never be repeated once it may have reached the
    #: server (a code exchange: codes are single-use, RFC 6749 4.1.2).
    retry_safe: bool = False


@attrs.frozen
class HttpResponse:
    """A response as the transport received it; header names are lower-cased."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_headers)
    body: bytes = attrs.field(default=b"", repr=False)


def freshness_lifetime(response: HttpResponse) -> int | None:
    """Seconds ``response`` may be reused, from its Cache-Control (RFC 9111 4.2.1).

    0 for ``no-store`` or ``no-cache``; ``max-age`` otherwise (a shared cache's
    ``s-maxage`` does not apply to a client); None when the server said nothing.
    """
    value = response.headers.get("cache-control", "")
    if _NO_CACHE.search(value):
        return 0
    for match in _MAX_AGE.finditer(value):
        if match.group(1).lower() == "max-age":
            return int(match.group(2))
    return None


_DELTA_SECONDS = re.compile(r"\s*([0-9]{1,10})\s*\Z")
#: A server asking for more than a day is not asking for a retry.
_MAX_RETRY_AFTER = 86400.0


def retry_after(response: HttpResponse, now: float) -> float | None:
    """Seconds to wait before trying again, from ``Retry-After`` (RFC 9110 10.2.3).

    Delay-seconds or an HTTP-date (then counted from ``now``); None when absent,
    unreadable or more than a day away. A date in the past gives 0.
    """
    value = response.headers.get("retry-after")
    if value is None:
        return None
    match = _DELTA_SECONDS.match(value)
    if match is not None:
        seconds = float(match.group(1))
    else:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = max(0.0, when - now)
    return seconds if seconds <= _MAX_RETRY_AFTER else None
