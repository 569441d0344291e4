"""The authorization endpoint: validation, redirects, interactive login and consent."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest

from pkceflow.testing import HttpFollowingBrowser, TestProvider

from .helpers import REDIRECT_URI, Grant, authorize, pkce_pair, redeem, request


def test_auto_approve_redirects_with_code_state_and_iss(pkceflow_provider: TestProvider) -> None:
    reply = authorize(pkceflow_provider, state="xyz")
    assert reply.status == 302
    location = reply.header("Location")
    assert location is not None
    assert location.startswith(REDIRECT_URI + "?")
    params = reply.location_params()
    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == "xyz"
    assert params["iss"] == pkceflow_provider.issuer
    assert len(params["code"]) >= 32


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:1/callback",
        "http://127.0.0.1:65535/callback",
        "http://127.0.0.1/callback",
        "http://[::1]:8080/callback",
        "http://localhost:5000/callback",
    ],
)
def test_loopback_redirect_uri_matches_on_any_port(
    pkceflow_provider: TestProvider, redirect_uri: str
) -> None:
    reply = authorize(pkceflow_provider, redirect_uri=redirect_uri)
    assert reply.status == 302
    location = reply.header("Location")
    assert location is not None
    assert location.startswith(redirect_uri + "?")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8080/callback/",
        "http://127.0.0.1:8080/Callback",
        "http://127.0.0.1:8080/callback?x=1",
        "http://127.0.0.1:8080/callback#frag",
        "http://127.0.0.2:8080/callback",
        "http://localhost.:8080/callback",
        "https://127.0.0.1:8080/callback",
        "http://user@127.0.0.1:8080/callback",
        "http://127.0.0.1:99999/callback",
        "http://127.0.0.1:x/callback",
        "http://example.com/callback",
        "http://[::1/callback",
        "not a uri",
    ],
)
def test_bad_redirect_uri_gets_an_error_page_not_a_redirect(
    pkceflow_provider: TestProvider, redirect_uri: str
) -> None:
    reply = authorize(pkceflow_provider, redirect_uri=redirect_uri)
    assert reply.status == 400
    assert reply.header("Location") is None
    assert (reply.header("Content-Type") or "").startswith("text/html")
    assert "<script" not in reply.text


def test_registered_query_must_match_exactly(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.add_client("q", redirect_uris=["http://127.0.0.1/cb?tenant=a"])
    ok = authorize(pkceflow_provider, client_id="q", redirect_uri="http://127.0.0.1:9/cb?tenant=a")
    assert ok.status == 302
    # The registered query is kept, and the response parameters are added to it.
    assert ok.location_params()["tenant"] == "a"
    for wrong in ("http://127.0.0.1:9/cb?tenant=b", "http://127.0.0.1:9/cb"):
        assert authorize(pkceflow_provider, client_id="q", redirect_uri=wrong).status == 400


def test_non_loopback_redirect_uri_needs_an_exact_match(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.add_client("web", redirect_uris=["https://app.example/cb"])
    assert authorize(pkceflow_provider, client_id="web", redirect_uri="https://app.example/cb")
    reply = authorize(pkceflow_provider, client_id="web", redirect_uri="https://app.example:443/cb")
    assert reply.status == 400
    # A single registered non-loopback URI may be left out of the request ...
    reply = authorize(pkceflow_provider, client_id="web", omit=("redirect_uri",))
    assert reply.status == 302
    location = reply.header("Location")
    assert location is not None
    assert location.startswith("https://app.example/cb?")


def test_missing_redirect_uri_for_loopback_clients(pkceflow_provider: TestProvider) -> None:
    reply = authorize(pkceflow_provider, omit=("redirect_uri",))
    assert reply.status == 400
    assert reply.header("Location") is None


@pytest.mark.parametrize("client_id", ["", "unknown-client", "<script>alert(1)</script>"])
def test_unknown_client_gets_an_error_page(pkceflow_provider: TestProvider, client_id: str) -> None:
    reply = authorize(pkceflow_provider, client_id=client_id)
    assert reply.status == 400
    assert reply.header("Location") is None
    assert "<script>" not in reply.text


def test_repeated_client_id_is_refused_without_redirect(pkceflow_provider: TestProvider) -> None:
    query = urlencode(
        [
            ("client_id", "pkceflow-test"),
            ("client_id", "pkceflow-test"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
        ]
    )
    reply = request(pkceflow_provider.authorization_endpoint + "?" + query)
    assert reply.status == 400
    assert reply.header("Location") is None


def test_repeated_parameter_is_an_error_redirect(pkceflow_provider: TestProvider) -> None:
    _, challenge = pkce_pair()
    query = urlencode(
        [
            ("client_id", "pkceflow-test"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid"),
            ("scope", "email"),
            ("state", "s"),
        ]
    )
    reply = request(pkceflow_provider.authorization_endpoint + "?" + query)
    assert reply.status == 302
    params = reply.location_params()
    assert params["error"] == "invalid_request"
    assert params["state"] == "s"
    assert params["iss"] == pkceflow_provider.issuer


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"code_challenge": "a" * 42 + "="}, "invalid_request"),
        ({"scope": "openid nonsense"}, "invalid_scope"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"request": "eyJ..."}, "request_not_supported"),
        ({"prompt": "none login"}, "invalid_request"),
    ],
)
def test_invalid_requests_redirect_with_an_error(
    pkceflow_provider: TestProvider, change: dict[str, str], error: str
) -> None:
    reply = authorize(pkceflow_provider, state="st", extra=change)
    assert reply.status == 302
    params = reply.location_params()
    assert params["error"] == error
    assert params["error_description"]
    assert params["state"] == "st"
    assert "code" not in params


@pytest.mark.parametrize(
    ("omit", "error"),
    [
        (("response_type",), "invalid_request"),
        (("code_challenge",), "invalid_request"),
        # Without a method the challenge is "plain" (RFC 7636 4.3), which is refused.
        (("code_challenge_method",), "invalid_request"),
    ],
)
def test_missing_parameters(
    pkceflow_provider: TestProvider, omit: tuple[str, ...], error: str
) -> None:
    reply = authorize(pkceflow_provider, omit=omit)
    assert reply.status == 302
    assert reply.location_params()["error"] == error


def test_state_is_optional_and_default_scope_applies(pkceflow_provider: TestProvider) -> None:
    verifier, challenge = pkce_pair()
    reply = authorize(pkceflow_provider, challenge=challenge, omit=("state", "scope"))
    params = reply.location_params()
    assert "state" not in params
    grant = Grant(params["code"], verifier, REDIRECT_URI, params)
    assert redeem(pkceflow_provider, grant).json()["scope"] == "openid"


def test_authorization_by_post(pkceflow_provider: TestProvider) -> None:
    _, challenge = pkce_pair()
    form = {
        "client_id": "pkceflow-test",
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    reply = request(pkceflow_provider.authorization_endpoint, form=form)
    assert reply.status == 302
    assert "code" in reply.location_params()


def test_deny_consent_switch(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.deny_consent = True
    evil = '<script>alert("x")</script> & "quotes"'
    pkceflow_provider.settings.deny_error_description = evil
    params = authorize(pkceflow_provider, state="s1").location_params()
    assert params["error"] == "access_denied"
    assert params["error_description"] == evil
    assert params["state"] == "s1"
    assert "code" not in params


@pytest.mark.parametrize(
    ("mode", "expected"), [("wrong", "https://attacker.invalid"), ("omit", None)]
)
def test_authorization_iss_switch(
    pkceflow_provider: TestProvider, mode: str, expected: str | None
) -> None:
    pkceflow_provider.settings.authorization_iss = mode  # type: ignore[assignment]
    params = authorize(pkceflow_provider).location_params()
    assert params.get("iss") == expected
    assert "code" in params


def test_templated_issuer_sends_no_iss(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.templated_issuer = True
    assert "iss" not in authorize(pkceflow_provider).location_params()


# ---------------------------------------------------------------- interactive mode


def _authorization_url(provider: TestProvider, **extra: str) -> str:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": "pkceflow-test",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return provider.authorization_endpoint + "?" + urlencode(params)


def test_interactive_login_and_consent(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.interactive = True
    browser = HttpFollowingBrowser(username="bob", stop_at=[REDIRECT_URI])
    assert browser.open(_authorization_url(pkceflow_provider))
    assert browser.wait() is None
    stopped = browser.stopped_at
    assert stopped is not None
    params = dict(p.split("=", 1) for p in urlsplit(stopped).query.split("&"))
    assert set(params) == {"code", "state", "iss"}
    endpoints = [r.endpoint for r in pkceflow_provider.requests]
    assert endpoints == ["authorize", "login", "consent", "consent"]
    login = pkceflow_provider.requests[1]
    assert login.method == "POST"
    assert login.form["username"] == "bob"
    assert pkceflow_provider.requests[3].form["decision"] == "approve"
    assert browser.cookies("127.0.0.1")


def test_interactive_deny(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.interactive = True
    browser = HttpFollowingBrowser(decision="deny", stop_at=[REDIRECT_URI])
    browser.open(_authorization_url(pkceflow_provider))
    browser.wait()
    stopped = browser.stopped_at
    assert stopped is not None
    assert "error=access_denied" in stopped
    assert "error_description=" in stopped
    assert "code=" not in stopped


def test_interactive_session_and_prompt(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.interactive = True
    # prompt=none without a session: login_required.
    reply = request(_authorization_url(pkceflow_provider, prompt="none"))
    assert reply.location_params()["error"] == "login_required"

    browser = HttpFollowingBrowser(stop_at=[REDIRECT_URI])
    browser.open(_authorization_url(pkceflow_provider))
    browser.wait()
    pkceflow_provider.clear_requests()
    # Signed in and consented: the next authorization is silent, also with prompt=none.
    browser.open(_authorization_url(pkceflow_provider, prompt="none"))
    browser.wait()
    assert "code=" in (browser.stopped_at or "")
    assert [r.endpoint for r in pkceflow_provider.requests] == ["authorize"]
    # A larger scope needs consent again: consent_required with prompt=none.
    browser.open(_authorization_url(pkceflow_provider, prompt="none", scope="openid email"))
    browser.wait()
    assert "error=consent_required" in (browser.stopped_at or "")
    # prompt=login shows the login form again.
    pkceflow_provider.clear_requests()
    browser.open(_authorization_url(pkceflow_provider, prompt="login"))
    browser.wait()
    assert [r.endpoint for r in pkceflow_provider.requests][:2] == ["authorize", "login"]


def test_interactive_pages_escape_and_expire(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.interactive = True
    page = request(_authorization_url(pkceflow_provider))
    assert page.status == 200
    assert 'name="username"' in page.text
    assert page.header("X-Frame-Options") == "DENY"
    # Unknown transactions are refused.
    reply = request(pkceflow_provider.url("/login"), form={"txn": "nope", "username": "x"})
    assert reply.status == 400
    reply = request(pkceflow_provider.url("/consent"), form={"txn": "nope", "decision": "approve"})
    assert reply.status == 400
