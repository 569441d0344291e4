"""Strict JSON reading for everything the core parses from a server or a store."""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import InvalidResponseError, printable

#: Bodies above this size are refused before parsing (a transport bounds reads too).
MAX_BODY = 1 << 20
#: Documents nested deeper are refused. No OAuth or OpenID document comes near it, and
#: what is kept (a token set's extra members) must be written out again by json.dumps,
#: which gives up near the interpreter's recursion limit at another stack depth.
MAX_DEPTH = 32

# Runs that look like credentials (tokens, codes, verifiers, secrets, or their
# percent-encoded and base64 forms) are elided from excerpts: a server that
# reflects the request into an error page must not get a secret into our messages.
_TOKENISH = re.compile(r"[A-Za-z0-9\-._~+/=%]{16,}")


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


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
    text = body[:4096].decode("utf-8", "replace")
    text = _TOKENISH.sub("\u2026", " ".join(text.split()))
    return printable(text, limit)


def loads_object(body: bytes, *, what: str, status: int | None = None) -> dict[str, Any]:
    """Parse ``body`` as one JSON object with unique keys, or raise InvalidResponseError."""
    if len(body) > MAX_BODY:
        raise InvalidResponseError(f"{what} is larger than {MAX_BODY} bytes", status=status)
    try:
        value = json.loads(body, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise InvalidResponseError(
            f"{what} repeats the member {printable(str(exc), 40)!r}", status=status
        ) from None
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and undecodable bytes; RecursionError
        # deeply nested arrays. Neither says anything a caller could act on.
        raise InvalidResponseError(
            f"{what} is not JSON", status=status, excerpt=excerpt(body)
        ) from None
    if not isinstance(value, dict):
        raise InvalidResponseError(
            f"{what} is JSON but not an object", status=status, excerpt=excerpt(body)
        )
    if _too_deep(value):
        raise InvalidResponseError(
            f"{what} is nested more than {MAX_DEPTH} levels deep", status=status
        )
    return value
