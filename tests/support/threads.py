"""Calls in a background thread, many calls at once, and polling: each with a bound."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["WAIT", "AtOnce", "Background", "at_once", "wait_until"]

T = TypeVar("T")

#: Bounds every wait, so a bug fails a test instead of hanging the run.
WAIT = 10.0


class Background(Generic[T]):
    """Runs ``fn`` in a daemon thread and keeps its result or its exception."""

    def __init__(self, fn: Callable[[], T], *, name: str = "test-background") -> None:
        self._fn = fn
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._fn()
        except BaseException as exc:  # handed to the test by result()
            self._error = exc

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float = WAIT) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the background call did not finish within {timeout} s")

    def result(self, timeout: float = WAIT) -> T:
        """The call's return value; re-raises what it raised."""
        self.join(timeout)
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def error(self, timeout: float = WAIT) -> BaseException | None:
        """What the call raised, or None."""
        self.join(timeout)
        return self._error


@dataclass
class AtOnce(Generic[T]):
    """What the calls of ``at_once`` returned and raised, in the order they ended."""

    results: list[T] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def at_once(count: int, call: Callable[[], T], *, timeout: float = 30.0) -> AtOnce[T]:
    """``call()`` in ``count`` threads released together; what they returned and raised.

    Every thread must end within ``timeout`` seconds.
    """
    start = threading.Barrier(count)
    outcome: AtOnce[T] = AtOnce()
    lock = threading.Lock()

    def run() -> None:
        try:
            start.wait(timeout)
            value = call()
        except BaseException as exc:  # handed to the test in outcome.errors
            with lock:
                outcome.errors.append(exc)
        else:
            with lock:
                outcome.results.append(value)

    threads = [threading.Thread(target=run, name=f"test-at-once-{n}") for n in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    alive = [thread.name for thread in threads if thread.is_alive()]
    assert not alive, f"still running after {timeout} s: {alive}"
    return outcome


def wait_until(
    condition: Callable[[], bool], *, timeout: float = WAIT, step: float = 0.005
) -> None:
    """Poll ``condition`` until it holds; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
