"""What one wait for the callback has seen: the bookkeeping both loopback listeners share.

No locks and no waiting here: each listener calls :class:`CallbackBook` under its own
lock (a thread lock, an asyncio lock), calls the handler itself, and wakes its own
waiter.
"""

from __future__ import annotations

from pkceflow_core import CallbackReply, CallbackTimeoutError

__all__ = ["FAILED", "KEPT", "CallbackBook"]

#: The reply to a callback pasted before the wait began: kept, and checked once it does.
KEPT = CallbackReply(done=False, ok=True, message="Received; checking it shortly.")
#: The reply when the handler itself failed; the wait then ends with its exception.
FAILED = CallbackReply(done=True, ok=False, message="The application failed.")


class CallbackBook:
    """The outcome of one wait, the callbacks refused so far, and pastes kept for later."""

    def __init__(self) -> None:
        #: The final reply, once a callback was final.
        self.final: CallbackReply | None = None
        #: What the handler raised, which ends the wait with it.
        self.failure: BaseException | None = None
        #: The outcome is decided: a final reply, or the handler's failure.
        self.done = False
        #: Callbacks the handler refused (wrong or missing state) and waited on after.
        self.rejected = 0
        #: A handler call is under way: its callback arrived in time, whatever the deadline.
        self.handling = False
        self._pending: list[str] = []

    def admit(
        self, target: str, *, pasted: bool, waiting: bool, closed: bool
    ) -> tuple[bool, CallbackReply | None]:
        """Whether ``target`` goes to the handler now: ``(True, None)``, or ``(False, reply)``.

        A paste before the wait began is kept (reply :data:`KEPT`); once the outcome
        is decided, or when nobody waits (any more), the reply is the final one, or
        None when there is none.
        """
        if not waiting and pasted and not closed:
            self._pending.append(target)
            return False, KEPT
        if self.done or not waiting or closed:
            return False, self.final
        return True, None

    def take_pending(self) -> list[str]:
        """The pastes kept until the wait began, in order; they are forgotten here."""
        pending, self._pending = self._pending, []
        return pending

    def record(self, reply: CallbackReply) -> None:
        """Note the handler's ``reply``: final, or one more refused callback."""
        if reply.done:
            self.final = reply
            self.done = True
        else:
            self.rejected += 1

    def fail(self, error: BaseException) -> CallbackReply:
        """Note that the handler raised ``error``: the wait ends with it."""
        self.failure = error
        self.done = True
        return FAILED

    def timeout_error(self, timeout: float) -> CallbackTimeoutError:
        """The error for a wait of ``timeout`` seconds that saw no final callback."""
        if self.rejected:
            return CallbackTimeoutError(
                f"no valid callback arrived within {timeout:g} s; {self.rejected}"
                " request(s) to the redirect URI were refused (wrong or missing state)",
                rejected=self.rejected,
            )
        return CallbackTimeoutError(f"no callback arrived within {timeout:g} s")
