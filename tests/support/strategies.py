"""Hypothesis strategies more than one property test draws from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

__all__ = ["any_json", "any_json_or_edited"]


def any_json(*, text: int = 10, width: int = 3, leaves: int = 8) -> st.SearchStrategy[object]:
    """Any JSON value: null, booleans, numbers, strings of up to ``text`` characters, and
    arrays and objects of up to ``width`` members, ``leaves`` scalars in all at most."""
    scalars: st.SearchStrategy[object] = (
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=text)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=width)
            | st.dictionaries(st.text(max_size=8), children, max_size=width)
        ),
        max_leaves=leaves,
    )


def any_json_or_edited(
    anything: st.SearchStrategy[object],
    document: Callable[[], dict[str, Any]],
    names: st.SearchStrategy[str],
    values: st.SearchStrategy[object],
) -> st.SearchStrategy[object]:
    """``anything`` half the time; otherwise a real ``document()`` with up to three of its
    members (drawn from ``names``) each replaced by one of ``values`` or removed."""

    @st.composite
    def edited(draw: st.DrawFn) -> object:
        if draw(st.booleans()):
            return draw(anything)
        data = document()
        for name in draw(st.lists(names, max_size=3)):
            if draw(st.booleans()):
                data[name] = draw(values)
            else:
                data.pop(name, None)
        return data

    return edited()
