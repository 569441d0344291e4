"""Factories whose products are all closed when the test is done with them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import ParamSpec, Protocol, TypeVar

__all__ = ["closing_all"]

P = ParamSpec("P")


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


@contextlib.contextmanager
def closing_all(make: Callable[P, C]) -> Iterator[Callable[P, C]]:
    """``make``, keeping what it makes; on the way out each of those is closed, in order.

    For a fixture that hands a test a factory: ``with closing_all(make) as tracked:
    yield tracked``.
    """
    made: list[C] = []

    def tracked(*args: P.args, **kwargs: P.kwargs) -> C:
        item = make(*args, **kwargs)
        made.append(item)
        return item

    try:
        yield tracked
    finally:
        for item in made:
            item.close()
