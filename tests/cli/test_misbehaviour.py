"""The TestProvider's misbehaviour switches, each met through the command line."""

from __future__ import annotations

from typing import Any

import pytest

from pkceflow.testing import TestProvider

from .helpers import Cli, assert_no_login_kept

FAILURES = [
    pytest.param("http_500", "(HTTP 500); body starts: 'Internal Server Error", id="http-500"),
    pytest.param("html_200", "the token response is not JSON (HTTP 200)", id="html-page"),
    pytest.param("invalid_json", "the token response is not JSON (HTTP 200)", id="invalid-json"),
    pytest.param("disconnect", "POST to 127.0.0.1 failed", id="disconnect"),
]


@pytest.mark.parametrize(("failure", "message"), FAILURES)
def test_a_failing_token_endpoint_at_login_exits_1(
    cli: Cli, provider: TestProvider, failure: Any, message: str
) -> None:
    provider.settings.token_failure = failure

    cli.login(provider).fails(1, message, alone=False)

    assert provider.count("token") == 1  # a code exchange is never repeated
    assert cli.stored() is None
    assert not cli.profile_path().exists()
    (visit,) = cli.browser_visits()
    assert visit["final_status"] == 200  # the browser was shown the failure page


@pytest.mark.parametrize(("failure", "message"), [FAILURES[0], FAILURES[-1]])
def test_a_failing_token_endpoint_at_refresh_exits_1_and_keeps_the_login(
    cli: Cli, provider: TestProvider, failure: Any, message: str
) -> None:
    seeded = cli.seed(provider)
    provider.settings.token_failure = failure

    cli.run("refresh", "--profile", "work").fails(1, message)

    kept = cli.stored()
    assert kept is not None
    assert (kept["access_token"], kept["refresh_token"]) == (
        seeded.access_token,
        seeded.refresh_token,
    )
    # A dropped connection may have been processed: the login is marked, not replayed.
    assert (kept["unconfirmed_refresh_at"] is not None) == (failure == "disconnect")
    assert provider.count("token") == 1  # a refresh is never repeated either
    provider.settings.token_failure = None
    cli.run("refresh", "--profile", "work").ok()


def test_a_wrong_iss_at_the_redirect_is_refused_before_the_token_endpoint(
    cli: Cli, provider: TestProvider
) -> None:
    provider.settings.authorization_iss = "wrong"

    result = cli.login(provider)

    result.fails(1, "iss names another authorization server", alone=False)
    assert_no_login_kept(cli, provider)


def test_a_missing_iss_when_promised_is_refused(cli: Cli, provider: TestProvider) -> None:
    provider.settings.authorization_iss = "omit"

    cli.login(provider).fails(1, "promised an iss parameter and sent none", alone=False)

    assert provider.count("token") == 0


def test_no_iss_is_fine_when_none_was_promised(cli: Cli, provider: TestProvider) -> None:
    provider.settings.authorization_iss = "omit"
    provider.settings.advertise_iss_parameter = False

    cli.login(provider).ok()

    assert cli.stored() is not None


@pytest.mark.parametrize(
    ("defect", "message"),
    [
        pytest.param("bad_signature", "signature does not verify", id="bad-signature"),
        pytest.param("wrong_nonce", "nonce is not the one this login sent", id="wrong-nonce"),
    ],
)
def test_a_bad_id_token_at_login_exits_1_and_stores_nothing(
    cli: Cli, provider: TestProvider, defect: Any, message: str
) -> None:
    provider.settings.id_token_defect = defect

    cli.login(provider).fails(1, message, alone=False)

    assert cli.stored() is None
    assert not cli.profile_path().exists()


def test_a_bad_id_token_at_refresh_keeps_the_rotated_tokens_and_the_checked_id_token(
    cli: Cli, provider: TestProvider
) -> None:
    # The server rotated the refresh token before the id_token could be checked:
    # keeping the old token set would keep a dead login.
    seeded = cli.seed(provider)
    provider.settings.id_token_defect = "wrong_iss"

    cli.run("refresh", "--profile", "work").ok()

    kept = cli.stored()
    assert kept is not None
    assert kept["refresh_token"] != seeded.refresh_token
    assert kept["id_token"] == seeded.id_token


def test_a_slow_token_endpoint_within_the_timeout_succeeds(
    cli: Cli, provider: TestProvider
) -> None:
    provider.settings.token_delay = 0.5

    cli.login(provider, timeout="15").ok()

    assert provider.count("token") == 1
    assert cli.stored() is not None


@pytest.mark.parametrize(
    ("switch", "value", "expected"),
    [
        pytest.param("omit_expires_in", True, {"expires_at": None}, id="no-expires-in"),
        pytest.param("token_type", "bearer", {"token_type": "Bearer"}, id="lower-case-bearer"),
        pytest.param(
            "scope_in_token_response",
            False,
            {"scope": "openid offline_access"},
            id="scope-omitted-means-as-requested",
        ),
        pytest.param("token_response_format", "form", {"token_type": "Bearer"}, id="form-encoded"),
    ],
)
def test_token_responses_of_other_shapes_are_understood(
    cli: Cli, provider: TestProvider, switch: str, value: object, expected: dict[str, object]
) -> None:
    seeded = cli.seed(provider)
    setattr(provider.settings, switch, value)

    refreshed = cli.run("refresh", "--profile", "work", "--json").ok().json()

    assert refreshed["access_token"] != seeded.access_token
    assert refreshed["access_token"] in provider.active_tokens()
    assert refreshed.items() >= expected.items()
    stored = cli.stored()
    assert stored is not None
    assert stored["access_token"] == refreshed["access_token"]


@pytest.mark.parametrize(
    ("switch", "message"),
    [
        pytest.param(
            "expires_in_as_string", "expires_in must be an integer number", id="expires-in-string"
        ),
        pytest.param("scope_as_list", "scope in the token response must be a string", id="scope"),
    ],
)
def test_malformed_token_responses_exit_1(
    cli: Cli, provider: TestProvider, switch: str, message: str
) -> None:
    setattr(provider.settings, switch, True)

    cli.login(provider).fails(1, message, alone=False)

    assert cli.stored() is None


def test_an_oauth_error_sent_with_status_200_is_still_a_refusal(
    cli: Cli, provider: TestProvider
) -> None:
    provider.settings.token_errors_status_200 = True
    provider.settings.refresh_invalid_grant = True
    cli.seed(provider)

    cli.run("refresh", "--profile", "work").fails(4, "invalid_grant")


def test_an_issuer_that_discovery_does_not_confirm_is_refused(
    cli: Cli, provider: TestProvider
) -> None:
    provider.settings.templated_issuer = True  # discovery names ".../{tenantid}/v2.0"

    cli.login(provider).fails(1, "the discovery document names issuer")

    assert provider.count("authorize") == 0
