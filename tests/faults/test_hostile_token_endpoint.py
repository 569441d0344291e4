"""Token endpoints that hang, reset or dribble: bounded, never retried, nothing left behind.

The servers are raw sockets on 127.0.0.1 that read the whole token request and then
misbehave. The Client runs with ``HttpOptions(timeout=0.5)``. Threads and file descriptors of
this process are compared before and after (once the Client is closed, so that its
pooled connections do not count).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import pytest

from pkceflow import Client, TokenSet, TransportError
from pkceflow.plugins import make_plugin_manager
from pkceflow.settings import HttpOptions, Interaction, Redirect
from pkceflow.testing import PUBLIC_CLIENT_ID, HttpFollowingBrowser, TestProvider
from tests.support.raw_http import Behaviour, RawServer, dribble, hang, reset_after_reading

from .support import WAIT, Resources, wait_released

HTTP_TIMEOUT = 0.5
STORED = TokenSet("stored-access", expires_at=1.0, refresh_token="stored-refresh")


def _client(provider: TestProvider, server: RawServer, browser: HttpFollowingBrowser) -> Client:
    return Client(
        PUBLIC_CLIENT_ID,
        authorization_url=provider.authorization_endpoint,
        token_url=server.url("/token"),
        redirect=Redirect(path="/callback"),
        interaction=Interaction(paste=False, timeout=WAIT),
        http=HttpOptions(
            timeout=HTTP_TIMEOUT
        ),  # the provider's registration; the token endpoint is not its
        browser=browser,
        plugin_manager=make_plugin_manager(load_entry_points=False),
    )


def _refresh(client: Client, browser: HttpFollowingBrowser) -> None:
    client.store.save(client.profile, STORED)
    try:
        client.refresh()
    finally:
        # Nothing stored is lost to a failed refresh; one that may have reached the
        # server only marks the login, so that waiters do not replay it.
        kept = client.stored()
        assert kept is not None
        assert attrs.evolve(kept, unconfirmed_refresh_at=None) == STORED


def _login(client: Client, browser: HttpFollowingBrowser) -> None:
    try:
        client.login()
    finally:
        final = browser.wait(WAIT)
        # The browser was told the truth: the last step failed.
        assert final is not None
        assert "The sign-in failed at the last step" in final.text
        assert client.stored() is None


Operation = Callable[[Client, HttpFollowingBrowser], None]
OPERATIONS = {"refresh": _refresh, "code-exchange": _login}


def _fail(
    provider: TestProvider, behaviour: Behaviour, operation: str
) -> tuple[TransportError, float, int]:
    """Run ``operation`` against a token endpoint that does ``behaviour``.

    Returns the error, the seconds it took and how many token requests the server
    read; checks that every thread and descriptor the attempt made is gone after.
    """
    before = Resources.now()
    with RawServer(behaviour) as server:
        browser = HttpFollowingBrowser()
        client = _client(provider, server, browser)
        started = time.monotonic()
        with pytest.raises(TransportError) as raised:
            OPERATIONS[operation](client, browser)
        elapsed = time.monotonic() - started
        client.close()
    wait_released(before)
    return raised.value, elapsed, len(server.requests)


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_token_endpoint_that_never_answers_ends_in_a_transport_error_at_the_read_timeout(
    provider: TestProvider, operation: str
) -> None:
    error, elapsed, requests = _fail(provider, hang, operation)
    assert "POST to 127.0.0.1 failed: ReadTimeoutError" in str(error)
    assert requests == 1  # neither request is retried once sent
    if operation == "refresh":
        assert HTTP_TIMEOUT * 0.9 < elapsed < HTTP_TIMEOUT + 1.5


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_reset_after_the_token_request_was_read_is_never_retried(
    provider: TestProvider, operation: str
) -> None:
    # The request may have reached the server: a code is single-use, a refresh token
    # rotates. Sending either again could only do harm.
    error, _, requests = _fail(provider, reset_after_reading, operation)
    assert "POST to 127.0.0.1 failed: " in str(error)
    assert requests == 1


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_token_endpoint_that_dribbles_its_answer_is_cut_off_at_the_request_deadline(
    provider: TestProvider, operation: str
) -> None:
    # One byte every 0.1 s never trips the 0.5 s read timeout. (Before the deadline,
    # this held the refresh, and the profile's lock with it, for hours.)
    error, elapsed, requests = _fail(provider, dribble, operation)
    # 3 connection attempts of 0.5 s, one read of 0.5 s, 0.5 s for backoff.
    assert "POST to 127.0.0.1 took longer than 2.5 s" in str(error)
    assert requests == 1
    if operation == "refresh":
        assert 2.4 < elapsed < 4.0
