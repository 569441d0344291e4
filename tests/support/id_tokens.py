"""An assertion on IdTokenError: raised, and for the rule expected."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from pkceflow_core import IdTokenError, IdTokenRule


@contextlib.contextmanager
def raises_check(
    check: IdTokenRule, *, match: str | None = None
) -> Iterator[pytest.ExceptionInfo[IdTokenError]]:
    """Like ``pytest.raises(IdTokenError, match=match)``, and the error's ``check`` is ``check``."""
    with pytest.raises(IdTokenError, match=match) as info:
        yield info
    assert info.value.check == check, f"check {info.value.check!r}, not {check!r}: {info.value}"
