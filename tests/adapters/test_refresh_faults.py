"""Refreshes that go wrong at a real (local) server, through the Client (item 27.6).

A server slower than the client's timeout that still carries the refresh out: the
holder of the lock gets no answer, the refresh token may be rotated already, and
the callers that waited for it must not replay it into the server's reuse detection.
"""

from __future__ import annotations

from pkceflow import Client
from pkceflow.settings import HttpOptions
from pkceflow.testing import HttpFollowingBrowser, TestProvider
from pkceflow_core import LoginEndedError, RefreshInDoubtError
from tests.support.threads import at_once

from .conftest import MakeClient


def _refreshes(provider: TestProvider) -> int:
    return sum(
        1
        for r in provider.requests
        if r.endpoint == "token" and r.form.get("grant_type") == "refresh_token"
    )


def test_an_unanswered_refresh_is_not_replayed_by_the_threads_that_waited_for_it(
    provider: TestProvider, browser: HttpFollowingBrowser, make_client: MakeClient
) -> None:
    client: Client = make_client(
        scope="openid offline_access",
        http=HttpOptions(timeout=0.5),
    )
    client.login()
    browser.wait()
    provider.settings.token_answer_delay = 1.5  # rotates at once, answers too late
    errors = at_once(4, client.refresh, timeout=20.0).errors

    assert len(errors) == 4
    assert all(isinstance(e, RefreshInDoubtError) for e in errors)
    assert _refreshes(provider) == 1  # the waiters sent nothing
    kept = client.stored()
    assert kept is not None
    assert kept.unconfirmed_refresh_at is not None

    # The next call tries once. This server did rotate, and detects the replay: the
    # window no client can close (docs/security.md), ended with "log in again".
    provider.settings.token_answer_delay = 0.0
    try:
        client.refresh()
    except LoginEndedError:
        pass
    else:
        raise AssertionError("the replayed, rotated refresh token was accepted")
    assert _refreshes(provider) == 2
    assert client.stored() is None
