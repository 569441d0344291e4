"""The authorization request (RFC 6749 4.1.1, RFC 7636 4.3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, quote, urlencode, urlunsplit

from .endpoints import check_endpoint
from .errors import UsageError

__all__ = ["ExtraParams", "build_authorization_url"]

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
    parts = check_endpoint(endpoint, name="authorization endpoint")
    existing = parse_qsl(parts.query, keep_blank_values=True)
    pairs: list[tuple[str, str]] = list(existing)
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
    query = urlencode(pairs, quote_via=quote)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
