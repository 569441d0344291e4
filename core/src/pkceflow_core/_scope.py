"""Scopes (RFC 6749 3.3): a space-delimited list of case-sensitive tokens."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import UsageError

__all__ = ["Scope", "normalize_scope"]

Scope = tuple[str, ...]

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+\Z")


def normalize_scope(value: str | Iterable[str] | None) -> Scope:
    """Return the scope tokens in order, without repeats.

    A string is split on spaces; an iterable gives one token per item. Raises
    UsageError for a token with characters RFC 6749 3.3 does not allow.
    """
    if value is None:
        return ()
    items = value.split(" ") if isinstance(value, str) else list(value)
    result: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str):
            raise UsageError("scope items must be strings")
        if item == "" and isinstance(value, str):
            continue
        if not _TOKEN.match(item):
            raise UsageError(f"{item!r} is not a valid scope token (RFC 6749 3.3)")
        result[item] = None
    return tuple(result)
