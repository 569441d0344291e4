"""The driver's rules as steps: run by any runner, and interleaved at random.

A simulated runner here carries out one effect at a time, so hypothesis can
interleave two callers on one store at every effect boundary (what threads or
processes do at worst) and check what the rules promise: a refresh token is
sent at most once, one expiry costs one refresh, and the stored refresh token is
always the one the server will accept next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkceflow_core import (
    ClientConfig,
    HttpRequest,
    HttpResponse,
    LoginEndedError,
    RefreshInDoubtError,
    TokenSet,
    TransportError,
)
from pkceflow_core.steps import (
    AwaitCallbacks,
    CheckIdToken,
    Delete,
    Effect,
    Guarded,
    Load,
    Locked,
    OpenBrowser,
    Policy,
    Replace,
    Save,
    Send,
    Steps,
    run,
)
from tests.core.fakes import NOW, FakeClock, error_response, form_of, make_server, token_response

KEY = "work"


def _expired(refresh_token: str = "rt-0") -> TokenSet:
    return TokenSet(
        "at-0",
        expires_at=NOW - 10,
        obtained_at=NOW - 3610,
        refresh_token=refresh_token,
    )


# -- run: effects in, outcomes and errors back ----------------------------------------


def test_run_sends_each_outcome_back_and_returns_the_result() -> None:
    def steps() -> Steps[str]:
        first = yield Load("a")
        second = yield Load("b")
        return f"{first}+{second}"

    assert run(steps(), lambda effect: effect.key.upper()) == "A+B"  # type: ignore[union-attr]


def test_run_throws_an_effects_failure_into_the_steps_where_they_may_handle_it() -> None:
    def steps() -> Steps[str]:
        try:
            yield Send(HttpRequest("GET", "https://id.example.com/x", {}))
        except TransportError as exc:
            return f"handled: {exc}"
        return "not reached"

    def do(effect: Effect) -> Any:
        raise TransportError("reset")

    assert run(steps(), do) == "handled: reset"


def test_run_lets_an_unhandled_failure_out_with_its_type() -> None:
    def steps() -> Steps[None]:
        yield Delete("a")

    def do(effect: Effect) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(steps(), do)


# -- a simulated runner: one effect per turn --------------------------------------------


@attrs.define
class _Server:
    """A token endpoint that rotates refresh tokens and kills the grant on reuse."""

    live: str = "rt-0"
    issued: int = 0
    sent: list[str] = attrs.field(factory=list)
    reuse_detected: bool = False
    #: When set, the answer to the next refresh is lost after the server acted on it.
    lose_next_answer: bool = False

    def answer(self, request: HttpRequest) -> HttpResponse:
        form = form_of(request)
        assert form["grant_type"] == "refresh_token"
        token = form["refresh_token"]
        self.sent.append(token)
        if token != self.live or self.reuse_detected:
            self.reuse_detected = True
            return error_response("invalid_grant")
        self.issued += 1
        self.live = f"rt-{self.issued}"
        response = token_response(
            access_token=f"at-{self.issued}", refresh_token=self.live, expires_in=3600
        )
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise TransportError("connection reset after the request", maybe_sent=True)
        return response


@attrs.define
class _Store:
    """A store whose lock one simulated runner holds at a time."""

    tokens: dict[str, TokenSet] = attrs.field(factory=dict)
    holder: int | None = None


@attrs.define
class _Frame:
    steps: Steps[Any]
    locked: bool = False


class _Runner:
    """Carries out one effect of its steps per :meth:`turn`."""

    def __init__(self, ident: int, steps: Steps[Any], store: _Store, server: _Server) -> None:
        self.ident = ident
        self.frames = [_Frame(steps)]
        self.store = store
        self.server = server
        self.pending: Effect | None = None
        self.outcome: Any = None
        self.failure: BaseException | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False
        self._advance()

    @property
    def blocked(self) -> bool:
        return (
            isinstance(self.pending, Locked)
            and self.store.holder is not None
            and self.store.holder != self.ident
        )

    def _advance(self) -> None:
        """Run the top steps to their next effect (finishing frames on the way)."""
        while self.frames:
            frame = self.frames[-1]
            try:
                if self.failure is not None:
                    failure, self.failure = self.failure, None
                    effect = frame.steps.throw(failure)
                else:
                    effect = frame.steps.send(self.outcome)
            except StopIteration as stop:
                self._pop(frame)
                self.outcome = stop.value
                continue
            except BaseException as exc:
                self._pop(frame)
                self.failure = exc
                continue
            self.pending, self.outcome = effect, None
            return
        self.done = True
        if self.failure is not None:
            self.error = self.failure
        else:
            self.result = self.outcome

    def _pop(self, frame: _Frame) -> None:
        self.frames.pop()
        if frame.locked:
            self.store.holder = None

    def turn(self) -> None:
        effect = self.pending
        assert effect is not None
        assert not self.blocked
        self.pending = None
        try:
            if isinstance(effect, Locked):
                self.store.holder = self.ident
                self.frames.append(_Frame(effect.steps, locked=True))
            elif isinstance(effect, Guarded):
                self.frames.append(_Frame(effect.steps))
            else:
                self.outcome = self._carry_out(effect)
        except BaseException as exc:
            self.failure = exc
        self._advance()

    def _carry_out(self, effect: Effect) -> Any:
        tokens = self.store.tokens
        if isinstance(effect, Send):
            return self.server.answer(effect.request)
        if isinstance(effect, Load):
            return tokens.get(effect.key)
        if isinstance(effect, Save):
            tokens[effect.key] = effect.tokens
            return None
        if isinstance(effect, Replace):
            if tokens.get(effect.key) != effect.old:
                return False
            tokens[effect.key] = effect.new
            return True
        if isinstance(effect, Delete):
            tokens.pop(effect.key, None)
            return None
        assert isinstance(effect, CheckIdToken)
        return None


def _interleave(runners: list[_Runner], schedule: list[int]) -> None:
    """Turn the runners in the order ``schedule`` picks, then until all are done."""
    picks = iter(schedule)
    while not all(runner.done for runner in runners):
        ready = [r for r in runners if not r.done and not r.blocked]
        assert ready, "every runner waits for a lock no one holds"
        choice = next(picks, 0)
        ready[choice % len(ready)].turn()


def _policy(clock: FakeClock) -> Policy:
    return Policy(make_server(), ClientConfig("pkceflow-cli"), clock=clock)


Operation = Callable[[Policy], Steps[TokenSet]]
_OPERATIONS: dict[str, Operation] = {
    "token": lambda policy: policy.token(KEY, min_ttl=60.0),
    "refresh": lambda policy: policy.refresh(KEY),
}
#: Which of the ready runners turns next, for hypothesis to pick.
_PICKS = st.integers(min_value=0, max_value=3)


def _interleaved(
    names: list[str], schedule: list[int], server: _Server, store: _Store, clock: FakeClock
) -> list[_Runner]:
    """A runner for each operation ``names`` names, on ``store`` and ``server``, turned in
    the order ``schedule`` picks until all are done."""
    runners = [
        _Runner(i, _OPERATIONS[name](_policy(clock)), store, server) for i, name in enumerate(names)
    ]
    _interleave(runners, schedule)
    return runners


@settings(max_examples=300, deadline=None)
@given(
    schedule=st.lists(_PICKS, max_size=60),
    callers=st.integers(min_value=2, max_value=4),
)
def test_callers_asking_for_an_expired_token_send_one_refresh_whatever_the_interleaving(
    schedule: list[int], callers: int
) -> None:
    server, store, clock = _Server(), _Store({KEY: _expired()}), FakeClock()

    runners = _interleaved(["token"] * callers, schedule, server, store, clock)

    assert server.sent == ["rt-0"]  # one refresh for one expiry
    assert not server.reuse_detected
    assert store.tokens[KEY].refresh_token == server.live  # the rotated token was kept
    assert {runner.result.access_token for runner in runners} == {"at-1"}
    assert all(runner.error is None for runner in runners)


@settings(max_examples=300, deadline=None)
@given(
    operations=st.lists(st.sampled_from(sorted(_OPERATIONS)), min_size=2, max_size=4),
    schedule=st.lists(_PICKS, max_size=80),
)
def test_no_interleaving_of_tokens_and_forced_refreshes_replays_or_loses_a_refresh_token(
    operations: list[str], schedule: list[int]
) -> None:
    server, store, clock = _Server(), _Store({KEY: _expired()}), FakeClock()

    runners = _interleaved(operations, schedule, server, store, clock)

    assert len(server.sent) == len(set(server.sent))  # no refresh token is sent twice
    assert not server.reuse_detected
    assert store.tokens[KEY].refresh_token == server.live
    # Each forced refresh may send one; the token callers together send one at most.
    assert 1 <= len(server.sent) <= operations.count("refresh") + 1
    assert all(runner.error is None for runner in runners)


@settings(max_examples=200, deadline=None)
@given(
    schedule=st.lists(_PICKS, max_size=60),
    callers=st.integers(min_value=2, max_value=3),
)
def test_a_lost_refresh_answer_is_never_replayed_by_the_callers_that_waited(
    schedule: list[int], callers: int
) -> None:
    server, store, clock = _Server(lose_next_answer=True), _Store({KEY: _expired()}), FakeClock()

    runners = _interleaved(["token"] * callers, schedule, server, store, clock)

    # The one refresh sent went unanswered: nobody sends its token again, every
    # caller is told so, and the login is kept, marked, for the next call to settle.
    assert server.sent == ["rt-0"]
    assert all(isinstance(runner.error, RefreshInDoubtError) for runner in runners)
    kept = store.tokens[KEY]
    assert kept.refresh_token == "rt-0"
    assert kept.unconfirmed_refresh_at == clock()


def test_the_next_call_after_a_lost_answer_sends_once_and_a_refusal_then_ends_the_login() -> None:
    server, store, clock = _Server(lose_next_answer=True), _Store({KEY: _expired()}), FakeClock()
    first = _Runner(0, _policy(clock).token(KEY), store, server)
    _interleave([first], [])
    assert isinstance(first.error, RefreshInDoubtError)

    clock.advance(1)
    retry = _Runner(1, _policy(clock).token(KEY), store, server)
    _interleave([retry], [])

    # The server rotated rt-0 when the answer was lost: the retry is refused,
    # and the login ends rather than looping.
    assert server.sent == ["rt-0", "rt-0"]
    assert isinstance(retry.error, LoginEndedError)
    assert KEY not in store.tokens


# -- the login's effects, for a runner of one's own ---------------------------------------


def test_a_login_asks_for_the_browser_then_callbacks_then_saves() -> None:
    clock = FakeClock()
    policy = _policy(clock)
    steps = policy.login(KEY, redirect_uri="http://127.0.0.1:8765/callback", timeout=5.0)
    seen: list[str] = []
    state: dict[str, str] = {}

    def do(effect: Effect) -> Any:
        seen.append(type(effect).__name__)
        if isinstance(effect, OpenBrowser):
            from tests.core.fakes import query_of

            state.update(query_of(effect.url))
            return True
        if isinstance(effect, AwaitCallbacks):
            stray = run(effect.handle("/callback?code=x&state=wrong"), do)
            assert not stray.done
            final = run(
                effect.handle(f"/callback?code=c&state={state['state']}&iss={state_issuer()}"),
                do,
            )
            assert final.done
            assert final.ok
            return None
        if isinstance(effect, Send):
            return token_response()
        return None

    tokens = run(steps, do)

    assert tokens.access_token == "access-1"
    assert seen == ["OpenBrowser", "AwaitCallbacks", "Send", "CheckIdToken", "Save"]


def state_issuer() -> str:
    issuer = make_server().issuer
    assert issuer is not None
    return issuer


def test_a_login_nobody_completes_says_what_usually_causes_it() -> None:
    from pkceflow_core import CallbackTimeoutError

    steps = _policy(FakeClock()).login(KEY, redirect_uri="http://127.0.0.1:8765/callback")

    def do(effect: Effect) -> Any:
        if isinstance(effect, AwaitCallbacks):
            raise CallbackTimeoutError("no callback arrived", rejected=0)
        return True

    with pytest.raises(CallbackTimeoutError) as raised:
        run(steps, do)
    assert str(raised.value).startswith("no callback arrived within 300 s. Likely causes:")
    assert raised.value.rejected == 0
