"""The end-to-end harness itself: a real oidc-provider, real PKCE, real Chromium."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.oauth import pkce_pair

from .harness import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    PUBLIC_CLIENT_ID,
    AuthorizationServerError,
    CancelAt,
    HttpResponse,
    LoopbackCallbackServer,
    OidcProviderServer,
    complete_login,
    http_login,
    iter_registered_redirect_uris,
    query_params,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

# A redirect_uri nothing listens on: http_login never requests it.
UNUSED_PORT = 49999
REDIRECT_URI = f"http://127.0.0.1:{UNUSED_PORT}/callback"


def challenged_url(
    server: OidcProviderServer, redirect_uri: str = REDIRECT_URI, **params: Any
) -> str:
    """An authorization URL with a fresh S256 challenge, for a test that never redeems the
    code (so needs no verifier); ``params`` as ``authorization_url`` takes them."""
    _, challenge = pkce_pair()
    return server.authorization_url(redirect_uri=redirect_uri, code_challenge=challenge, **params)


def exchange(
    server: OidcProviderServer,
    code: str,
    verifier: str,
    redirect_uri: str = REDIRECT_URI,
    *,
    client_id: str = PUBLIC_CLIENT_ID,
    client_secret: str | None = None,
) -> HttpResponse:
    return server.token_request(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        client_id=client_id,
        client_secret=client_secret,
    )


def authorize(
    server: OidcProviderServer,
    *,
    client_id: str = PUBLIC_CLIENT_ID,
    scope: str = "openid email profile",
    **extra: str,
) -> tuple[dict[str, str], str, str]:
    """Log in over HTTP; returns (redirect query, state, code_verifier)."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    url = server.authorization_url(
        redirect_uri=REDIRECT_URI,
        code_challenge=challenge,
        state=state,
        client_id=client_id,
        scope=scope,
        **extra,
    )
    return query_params(http_login(url)), state, verifier


def test_discovery_lists_s256_and_endpoints(oidc_provider: OidcProviderServer) -> None:
    doc = oidc_provider.discovery()
    issuer = oidc_provider.issuer
    assert issuer == f"http://127.0.0.1:{oidc_provider.port}"
    assert doc["issuer"] == issuer
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert {"none", "client_secret_basic"} <= set(doc["token_endpoint_auth_methods_supported"])
    for name, path in {
        "authorization_endpoint": "/auth",
        "token_endpoint": "/token",
        "userinfo_endpoint": "/me",
        "introspection_endpoint": "/token/introspection",
        "revocation_endpoint": "/token/revocation",
        "jwks_uri": "/jwks",
    }.items():
        assert doc[name] == issuer + path


def test_http_login_code_flow_with_pkce(oidc_provider: OidcProviderServer) -> None:
    result, state, verifier = authorize(oidc_provider)
    assert result["state"] == state
    assert result["iss"] == oidc_provider.issuer  # RFC 9207
    assert "error" not in result

    response = exchange(oidc_provider, result["code"], verifier)
    assert response.status == 200, response.body
    tokens = response.json()
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["expires_in"] == 3600
    assert "id_token" in tokens
    assert "refresh_token" not in tokens  # provider default: only offline_access + consent

    userinfo = oidc_provider.userinfo(tokens["access_token"])
    assert userinfo["sub"] == "alice"
    assert userinfo["email"] == "alice@example.test"

    introspection = oidc_provider.introspect(tokens["access_token"])
    assert introspection["active"] is True
    assert introspection["client_id"] == PUBLIC_CLIENT_ID
    assert introspection["sub"] == "alice"

    # The code is single use.
    again = exchange(oidc_provider, result["code"], verifier)
    assert again.status == 400
    assert again.json()["error"] == "invalid_grant"


def test_chromium_code_flow_with_pkce(
    oidc_provider: OidcProviderServer,
    chromium_context: BrowserContext,
    callback_server: LoopbackCallbackServer,
) -> None:
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    url = oidc_provider.authorization_url(
        redirect_uri=callback_server.redirect_uri, code_challenge=challenge, state=state
    )
    landed = complete_login(chromium_context, url, login="bob")
    received = callback_server.wait_for_callback()
    assert landed.startswith(callback_server.redirect_uri + "?")
    assert query_params(landed) == received
    assert received["state"] == state
    assert received["iss"] == oidc_provider.issuer

    response = exchange(oidc_provider, received["code"], verifier, callback_server.redirect_uri)
    assert response.status == 200, response.body
    tokens = response.json()
    assert oidc_provider.userinfo(tokens["access_token"])["sub"] == "bob"


def test_chromium_keeps_the_session_between_logins(
    oidc_provider: OidcProviderServer,
    chromium_context: BrowserContext,
    callback_server: LoopbackCallbackServer,
) -> None:
    # The session cookie must survive plain http (SameSite=Lax, not SameSite=None).
    url = challenged_url(oidc_provider, callback_server.redirect_uri)
    assert "code" in query_params(complete_login(chromium_context, url, login="dave"))
    # Signed in already: no login page, so cancel_at="login" never fires.
    second = complete_login(chromium_context, url, login="nobody", cancel_at="login")
    assert "code" in query_params(second)


def test_wrong_code_verifier_is_invalid_grant(oidc_provider: OidcProviderServer) -> None:
    result, _, verifier = authorize(oidc_provider)
    wrong, _ = pkce_pair()
    assert wrong != verifier
    response = exchange(oidc_provider, result["code"], wrong)
    assert response.status == 400
    assert response.json()["error"] == "invalid_grant"


def test_confidential_client_needs_pkce_and_basic_auth(oidc_provider: OidcProviderServer) -> None:
    # Without a code_challenge the request is refused, back at the redirect_uri.
    url = oidc_provider.authorization_url(
        redirect_uri=REDIRECT_URI, code_challenge=None, state="s", client_id=CONFIDENTIAL_CLIENT_ID
    )
    refused = query_params(http_login(url))
    assert refused["error"] == "invalid_request"
    assert "PKCE" in refused["error_description"]
    assert refused["iss"] == oidc_provider.issuer

    # plain is not offered.
    url = challenged_url(
        oidc_provider, code_challenge_method="plain", client_id=CONFIDENTIAL_CLIENT_ID
    )
    assert query_params(http_login(url))["error"] == "invalid_request"

    result, _, verifier = authorize(oidc_provider, client_id=CONFIDENTIAL_CLIENT_ID)
    unauthenticated = exchange(
        oidc_provider, result["code"], verifier, client_id=CONFIDENTIAL_CLIENT_ID
    )
    assert unauthenticated.status == 401
    assert unauthenticated.json()["error"] == "invalid_client"

    result, _, verifier = authorize(oidc_provider, client_id=CONFIDENTIAL_CLIENT_ID)
    response = exchange(
        oidc_provider,
        result["code"],
        verifier,
        client_id=CONFIDENTIAL_CLIENT_ID,
        client_secret=CONFIDENTIAL_CLIENT_SECRET,
    )
    assert response.status == 200, response.body
    assert oidc_provider.introspect(response.json()["access_token"])["active"] is True


def test_loopback_redirect_uris_match_any_port(oidc_provider: OidcProviderServer) -> None:
    for redirect_uri in iter_registered_redirect_uris(UNUSED_PORT):
        url = challenged_url(oidc_provider, redirect_uri)
        landed = http_login(url)
        assert landed.startswith(redirect_uri + "?"), landed
        assert "code" in query_params(landed)

    url = challenged_url(oidc_provider, f"http://127.0.0.1:{UNUSED_PORT}/elsewhere")
    with pytest.raises(AuthorizationServerError) as excinfo:
        http_login(url)
    assert excinfo.value.error == "invalid_redirect_uri"


@pytest.mark.parametrize("cancel_at", ["login", "consent"])
def test_http_cancel_is_access_denied(
    oidc_provider: OidcProviderServer, cancel_at: CancelAt
) -> None:
    url = challenged_url(oidc_provider, state="st")
    result = query_params(http_login(url, cancel_at=cancel_at))
    assert result["error"] == "access_denied"
    assert result["state"] == "st"
    assert result["iss"] == oidc_provider.issuer
    assert "code" not in result


@pytest.mark.parametrize("cancel_at", ["login", "consent"])
def test_chromium_cancel_is_access_denied(
    oidc_provider: OidcProviderServer,
    chromium_context: BrowserContext,
    callback_server: LoopbackCallbackServer,
    cancel_at: CancelAt,
) -> None:
    url = challenged_url(oidc_provider, callback_server.redirect_uri, state="st")
    complete_login(chromium_context, url, cancel_at=cancel_at)
    result = callback_server.wait_for_callback()
    assert result["error"] == "access_denied"
    assert result["state"] == "st"
    assert "code" not in result


def test_default_server_issues_refresh_only_for_offline_access(
    oidc_provider: OidcProviderServer,
) -> None:
    result, _, verifier = authorize(oidc_provider, scope="openid offline_access", prompt="consent")
    tokens = exchange(oidc_provider, result["code"], verifier).json()
    assert "refresh_token" in tokens


def test_refresh_switch_issues_and_rotates(oidc_provider_refresh: OidcProviderServer) -> None:
    server = oidc_provider_refresh
    result, _, verifier = authorize(server)
    tokens = exchange(server, result["code"], verifier).json()
    first = tokens["refresh_token"]

    refreshed = server.token_request({"grant_type": "refresh_token", "refresh_token": first})
    assert refreshed.status == 200, refreshed.body
    second = refreshed.json()["refresh_token"]
    assert second != first
    assert server.userinfo(refreshed.json()["access_token"])["sub"] == "alice"

    reused = server.token_request({"grant_type": "refresh_token", "refresh_token": first})
    assert reused.status == 400
    assert reused.json()["error"] == "invalid_grant"
    # Reuse of a rotated token revokes the whole grant, the newer token included.
    assert server.introspect(second)["active"] is False


def test_short_access_token_ttl(
    oidc_provider_short_ttl: Callable[[int], OidcProviderServer],
) -> None:
    server = oidc_provider_short_ttl(1)
    result, _, verifier = authorize(server)
    tokens = exchange(server, result["code"], verifier).json()
    assert tokens["expires_in"] == 1
    deadline = time.monotonic() + 5
    while server.introspect(tokens["access_token"])["active"]:
        assert time.monotonic() < deadline, "access token did not expire"
        time.sleep(0.2)
    refreshed = server.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status == 200, refreshed.body


def test_http_login_reuses_session_with_cookie_jar(oidc_provider: OidcProviderServer) -> None:
    jar = CookieJar()
    url = challenged_url(oidc_provider)
    assert "code" in query_params(http_login(url, login="carol", cookie_jar=jar))
    # Logged in already: no login page this time (a native client still gets consent).
    second = http_login(url, login="nobody", cancel_at="login", cookie_jar=jar)
    assert "code" in query_params(second)
