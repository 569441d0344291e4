"""Strict JSON reading for everything the core parses from a server or a store."""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidResponseError, printable, redact

#: Bodies above this size are refused before parsing (a transport bounds reads too).
MAX_BODY = 1 << 20
#: Documents nested deeper are refused. No OAuth or OpenID document comes near it, and
#: what is kept (a token set's extra members) must be written out again by json.dumps,
#: which gives up near the interpreter's recursion limit at another stack depth.
MAX_DEPTH = 32


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


# One decoder for every call: json.loads with a hook builds a new one each time.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def _too_deep(value: Any) -> bool:
    """Whether containers nest in ``value`` more than MAX_DEPTH levels (no recursion)."""
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        todo.extend((child, depth + 1) for child in children)
    return False


def excerpt(body: bytes, limit: int = 120) -> str:
    """A short, printable start of ``body`` with anything token-like elided."""
    # Control characters go first, so that none can split a token-like run in two.
    text = printable(" ".join(body[:4096].decode("utf-8", "replace").split()), 4096)
    return printable(redact(text), limit)


def loads_object(body: bytes, *, what: str, status: int | None = None) -> dict[str, Any]:
    """Parse ``body`` as one JSON object with unique keys, or raise InvalidResponseError."""
    if len(body) > MAX_BODY:
        raise InvalidResponseError(f"{what} is larger than {MAX_BODY} bytes", status=status)
    error: InvalidResponseError | None = None
    try:
        # RFC 8259 8.1: JSON between systems is UTF-8.
        value = _DECODER.decode(body.decode("utf-8"))
    except _DuplicateKey as exc:
        error = InvalidResponseError(
            f"{what} repeats the member {redact(printable(str(exc), 40))!r}", status=status
        )
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and undecodable bytes; RecursionError
        # deeply nested arrays. Neither says anything a caller could act on.
        error = InvalidResponseError(f"{what} is not JSON", status=status, excerpt=excerpt(body))
    if error is not None:
        # Raised outside the handlers: the exception caught there would ride along as
        # __context__, and it holds the body (a member name, a UnicodeDecodeError's bytes).
        raise error
    if not isinstance(value, dict):
        raise InvalidResponseError(
            f"{what} is JSON but not an object", status=status, excerpt=excerpt(body)
        )
    # Fewer openers than levels cannot nest too deep: the walk is for the rare rest.
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and _too_deep(value):
        raise InvalidResponseError(
            f"{what} is nested more than {MAX_DEPTH} levels deep", status=status
        )
    return value
