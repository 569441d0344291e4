"""The authorization request (RFC 6749 4.1.1, RFC 7636 4.3)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, quote

from ._endpoints import check_endpoint
from .errors import UsageError

__all__ = ["ExtraParams", "build_authorization_url", "compose_authorization_url"]

_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*\Z")

#: Extra authorize parameters; a sequence value repeats the parameter (``resource``,
#: RFC 8707 2).
ExtraParams = Mapping[str, "str | Sequence[str]"]


def build_authorization_url(
    endpoint: str,
    params: Sequence[tuple[str, str]],
    extra: ExtraParams | None = None,
) -> str:
    """Append ``params`` and ``extra`` to ``endpoint``, keeping its own query.

    No parameter may come from two places (the endpoint's query, the protocol
    parameters, ``extra``): a clash raises UsageError rather than letting the
    server pick one (RFC 6749 3.1: parameters must not be included more than once).
    """
    check_endpoint(endpoint, name="authorization endpoint")
    return compose_authorization_url(endpoint, params, extra)


def _quote(text: str) -> str:
    # Most values (ids, states, challenges) need no escaping at all.
    return text if _UNRESERVED.match(text) else quote(text, safe="")


def compose_authorization_url(
    endpoint: str,
    params: Sequence[tuple[str, str]],
    extra: ExtraParams | None = None,
) -> str:
    """:func:`build_authorization_url` for an endpoint already checked (no fragment)."""
    base, _, existing_query = endpoint.partition("?")
    existing = parse_qsl(existing_query, keep_blank_values=True) if existing_query else []
    pairs: list[tuple[str, str]] = []
    seen = {name for name, _ in existing}
    for name, value in params:
        if name in seen:
            raise UsageError(f"the authorization endpoint already sets {name!r}")
        pairs.append((name, value))
        seen.add(name)
    for name, given in (extra or {}).items():
        if name in seen:
            raise UsageError(f"the parameter {name!r} is set twice")
        seen.add(name)
        if isinstance(given, str):
            values = [given]
        elif isinstance(given, (list, tuple)):
            values = list(given)
        else:
            raise UsageError(f"the parameter {name!r} needs a string or a list of strings")
        if not values or not all(isinstance(v, str) for v in values):
            raise UsageError(f"the parameter {name!r} needs string values")
        pairs.extend((name, v) for v in values)
    query = "&".join(f"{_quote(name)}={_quote(value)}" for name, value in pairs)
    if existing_query:
        return f"{base}?{existing_query}&{query}"
    return f"{base}?{query}"
