"""The shape of a request check: one rule, answering None or the OAuth error it breaks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple, TypeVar

_Subject = TypeVar("_Subject")


class Refusal(NamedTuple):
    """An OAuth error code and its description."""

    error: str
    description: str


def first_refusal(
    checks: Iterable[Callable[[_Subject], Refusal | None]], subject: _Subject
) -> Refusal | None:
    """The refusal of the first check `subject` fails, in order; None if it passes all."""
    for check in checks:
        refusal = check(subject)
        if refusal is not None:
            return refusal
    return None
