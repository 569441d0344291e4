"""pkceflow's Client against a real oidc-provider, logging in over plain HTTP.

Every login runs the real thing: pkceflow's loopback listener, its urllib3 transport and
its id_token validation; the "browser" is :class:`support.HttpBrowser` (``http_login`` in a
thread, then the redirect delivered to the listener). What pkceflow got is checked at the
provider independently: introspection, userinfo and the provider's request log.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
import urllib.parse
from typing import Any

import attrs
import pytest

from pkceflow.client import Client
from pkceflow.settings import Interaction, Redirect
from pkceflow_core import (
    AuthorizationError,
    LoginRequiredError,
    ServerMetadata,
    TokenError,
    TokenSet,
)
from pkceflow_core.errors import IssuerMismatchError, MissingIssuerError

from .corrupt_verifier import CorruptVerifierTransport
from .harness import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    PUBLIC_CLIENT_ID,
    CancelAt,
    OidcProviderServer,
    basic_auth,
)
from .support import (
    LOGIN_TIMEOUT,
    SCOPE,
    HttpBrowser,
    RecordingTransport,
    Worker,
    make_client,
    wait_until_expired,
)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_requests(server: OidcProviderServer, mark: int) -> list[str]:
    return server.requests()[mark:]


def token_posts(requests: list[str]) -> list[str]:
    return [r for r in requests if r.startswith("POST /token ")]


def log_in(
    server: OidcProviderServer, transport: RecordingTransport, browser: HttpBrowser, **options: Any
) -> tuple[Client, TokenSet]:
    """A login through ``make_client(server, transport, browser, **options)``, in which
    ``browser`` signs in: the client and the token set it got."""
    client = make_client(server, transport, browser, **options)
    tokens = client.login()
    assert browser.join().signed_in
    return client, tokens


def test_login_public_client(
    oidc_provider: OidcProviderServer, transport: RecordingTransport
) -> None:
    server = oidc_provider
    browser = HttpBrowser(login="erin")
    client = make_client(server, transport, browser)

    # Discovery from the issuer URL alone.
    doc = server.discovery()
    assert client.server.issuer == server.issuer
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ):
        assert getattr(client.server, name) == doc[name], name
    assert client.server.authorization_response_iss_parameter_supported is True
    assert client.server.code_challenge_methods_supported == ("S256",)

    mark = len(server.requests())
    tokens = client.login()
    delivery = browser.join()
    assert delivery.signed_in, delivery.page

    # The authorization request pkceflow made.
    auth = browser.authorization_params
    assert auth["response_type"] == "code"
    assert auth["client_id"] == PUBLIC_CLIENT_ID
    assert auth["scope"] == SCOPE
    assert auth["code_challenge_method"] == "S256"
    redirect = urllib.parse.urlsplit(auth["redirect_uri"])
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "127.0.0.1", "/callback")
    assert redirect.port is not None
    assert redirect.port > 0  # port 0: the OS picked one, and the URI names it
    assert auth["state"]
    assert auth["nonce"]

    # RFC 9207: the provider sent iss with the code, and pkceflow accepted it.
    callback = browser.callback_params
    assert callback["iss"] == server.issuer
    assert callback["state"] == auth["state"]

    # The code exchange: the PKCE verifier that matches the challenge, no client secret.
    (exchange,) = transport.to(client.server.token_endpoint)
    form = exchange.form
    assert form["grant_type"] == "authorization_code"
    assert form["code"] == callback["code"]
    assert form["redirect_uri"] == auth["redirect_uri"]
    assert form["client_id"] == PUBLIC_CLIENT_ID
    assert s256(form["code_verifier"]) == auth["code_challenge"]
    assert "authorization" not in {k.lower() for k in exchange.request.headers}
    assert exchange.response is not None
    assert exchange.response.status == 200
    requests = new_requests(server, mark)
    assert token_posts(requests) == [
        "POST /token 200 grant_type=authorization_code client_id=pkceflow-public"
    ]

    # The id_token was validated against the provider's JWKS before it was stored.
    assert [e.response.status for e in transport.to(doc["jwks_uri"]) if e.response] == [200]
    assert "GET /jwks 200" in requests
    claims = client.id_token_claims()
    assert claims is not None
    assert claims["sub"] == "erin"
    assert claims["iss"] == server.issuer
    assert claims["nonce"] == auth["nonce"]
    assert PUBLIC_CLIENT_ID in (
        claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    )

    # The provider's own view of the access token.
    introspection = server.introspect(tokens.access_token)
    assert introspection["active"] is True
    assert introspection["client_id"] == PUBLIC_CLIENT_ID
    assert introspection["sub"] == "erin"
    assert server.userinfo(tokens.access_token)["email"] == "erin@example.test"
    assert client.userinfo()["email"] == "erin@example.test"

    assert client.stored() == tokens
    assert client.token() == tokens.access_token
    assert tokens.refresh_token is None  # the provider's default policy


def test_login_confidential_client(
    oidc_provider: OidcProviderServer, transport: RecordingTransport
) -> None:
    server = oidc_provider
    browser = HttpBrowser(login="ivan")
    client, tokens = log_in(
        server,
        transport,
        browser,
        client_id=CONFIDENTIAL_CLIENT_ID,
        client_secret=CONFIDENTIAL_CLIENT_SECRET,
    )

    auth = browser.authorization_params
    assert auth["code_challenge_method"] == "S256"
    (exchange,) = transport.to(client.server.token_endpoint)
    # client_secret_basic, and PKCE as well (the provider requires it of every client).
    assert exchange.request.headers["Authorization"] == basic_auth(
        CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET
    )
    assert "client_secret" not in exchange.form
    assert s256(exchange.form["code_verifier"]) == auth["code_challenge"]

    introspection = server.introspect(tokens.access_token)
    assert introspection["active"] is True
    assert introspection["client_id"] == CONFIDENTIAL_CLIENT_ID
    assert introspection["sub"] == "ivan"
    claims = client.id_token_claims()
    assert claims is not None
    assert claims["sub"] == "ivan"


@pytest.mark.parametrize(
    ("redirect_host", "uri_host"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "[::1]"),
        ("[::1]", "[::1]"),
        ("localhost", "localhost"),
    ],
)
def test_redirect_uri_hosts(
    oidc_provider: OidcProviderServer,
    transport: RecordingTransport,
    redirect_host: str,
    uri_host: str,
) -> None:
    browser = HttpBrowser()
    client, tokens = log_in(
        oidc_provider, transport, browser, scope="openid", redirect=Redirect(host=redirect_host)
    )

    redirect_uri = browser.authorization_params["redirect_uri"]
    parts = urllib.parse.urlsplit(redirect_uri)
    assert parts.port is not None
    assert parts.port > 0
    assert redirect_uri == f"http://{uri_host}:{parts.port}/callback"
    assert browser.landed is not None
    assert browser.landed.startswith(redirect_uri + "?")
    (exchange,) = transport.to(client.server.token_endpoint)
    assert exchange.form["redirect_uri"] == redirect_uri
    assert oidc_provider.introspect(tokens.access_token)["active"] is True


def test_fixed_redirect_port(
    oidc_provider: OidcProviderServer, transport: RecordingTransport
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    browser = HttpBrowser()
    log_in(oidc_provider, transport, browser, scope="openid", redirect=Redirect(port=port))
    assert browser.authorization_params["redirect_uri"] == f"http://127.0.0.1:{port}/callback"


@pytest.mark.parametrize("cancel_at", ["login", "consent"])
def test_cancel_is_access_denied(
    oidc_provider: OidcProviderServer, transport: RecordingTransport, cancel_at: CancelAt
) -> None:
    browser = HttpBrowser(cancel_at=cancel_at)
    client = make_client(oidc_provider, transport, browser)
    with pytest.raises(AuthorizationError) as excinfo:
        client.login()
    assert excinfo.value.error == "access_denied"
    delivery = browser.join()
    assert delivery.failed
    assert "access_denied" in delivery.page
    # RFC 9207 on an error response too: iss came along, and matched.
    assert browser.callback_params["iss"] == oidc_provider.issuer
    assert browser.callback_params["state"] == browser.authorization_params["state"]
    assert client.stored() is None
    assert transport.to(client.server.token_endpoint) == []


def test_wrong_code_verifier_is_invalid_grant(
    oidc_provider: OidcProviderServer, transport: RecordingTransport
) -> None:
    corrupt = CorruptVerifierTransport(transport)
    browser = HttpBrowser()
    client = make_client(oidc_provider, corrupt, browser)
    mark = len(oidc_provider.requests())
    with pytest.raises(TokenError) as excinfo:
        client.login()
    assert excinfo.value.error == "invalid_grant"
    assert excinfo.value.status == 400
    ((sent, received),) = corrupt.replaced
    assert s256(sent) == browser.authorization_params["code_challenge"]
    assert received != sent
    delivery = browser.join()
    assert delivery.failed
    assert "invalid_grant" in delivery.page
    assert client.stored() is None
    assert token_posts(new_requests(oidc_provider, mark)) == [
        "POST /token 400 grant_type=authorization_code client_id=pkceflow-public"
    ]


def wrong_issuer_metadata(server: OidcProviderServer) -> ServerMetadata:
    """The provider's real endpoints, but another issuer (a mix-up: RFC 9207 2.4)."""
    doc = server.discovery()
    return ServerMetadata(
        issuer=server.issuer + "/another-tenant",
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        revocation_endpoint=doc["revocation_endpoint"],
        userinfo_endpoint=doc["userinfo_endpoint"],
        jwks_uri=doc["jwks_uri"],
        authorization_response_iss_parameter_supported=True,
    )


@pytest.mark.parametrize("cancel_at", [None, "consent"], ids=["success", "error-response"])
def test_wrong_expected_issuer_fails_the_callback(
    oidc_provider: OidcProviderServer, transport: RecordingTransport, cancel_at: CancelAt | None
) -> None:
    metadata = wrong_issuer_metadata(oidc_provider)
    browser = HttpBrowser(cancel_at=cancel_at)
    client = Client(
        PUBLIC_CLIENT_ID,
        server=metadata,
        transport=transport,
        browser=browser,
        scope=SCOPE,
        interaction=Interaction(timeout=LOGIN_TIMEOUT),
    )
    mark = len(oidc_provider.requests())
    with pytest.raises(IssuerMismatchError) as excinfo:
        client.login()
    # Checked before the error of an error response is believed.
    assert not isinstance(excinfo.value, AuthorizationError)
    delivery = browser.join()
    assert delivery.failed
    assert browser.callback_params["iss"] == oidc_provider.issuer
    assert ("error" in browser.callback_params) == (cancel_at is not None)
    # The code never reached the token endpoint: not sent, and not seen by the provider.
    assert transport.to(metadata.token_endpoint) == []
    assert token_posts(new_requests(oidc_provider, mark)) == []
    assert client.stored() is None


def _without_iss(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "iss"]
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


def _other_iss(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [
        (k, "http://127.0.0.1:9/evil" if k == "iss" else v)
        for k, v in urllib.parse.parse_qsl(parts.query)
    ]
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


@pytest.mark.parametrize(
    ("rewrite", "error"),
    [(_without_iss, MissingIssuerError), (_other_iss, IssuerMismatchError)],
    ids=["iss-dropped", "iss-altered"],
)
def test_callback_iss_is_required_and_checked(
    oidc_provider: OidcProviderServer,
    transport: RecordingTransport,
    rewrite: Any,
    error: type[Exception],
) -> None:
    # The provider announces RFC 9207 support (discovery): a callback without iss, or
    # with another one, is refused even though its state and code are genuine.
    browser = HttpBrowser(rewrite=rewrite)
    client = make_client(oidc_provider, transport, browser)
    mark = len(oidc_provider.requests())
    with pytest.raises(error):
        client.login()
    assert browser.join().failed
    assert "code" in browser.callback_params
    assert transport.to(client.server.token_endpoint) == []
    assert token_posts(new_requests(oidc_provider, mark)) == []
    assert client.stored() is None


def test_refresh_rotates_and_reuse_is_refused(
    oidc_provider_refresh: OidcProviderServer, transport: RecordingTransport
) -> None:
    server = oidc_provider_refresh
    browser = HttpBrowser(login="judy")
    client, first = log_in(server, transport, browser)
    assert first.refresh_token is not None

    second = client.refresh()
    assert second.refresh_token is not None
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert client.stored() == second
    assert server.introspect(second.access_token)["active"] is True
    # A refreshed id_token is checked too (same iss and sub, OIDC Core 12.2).
    claims = client.id_token_claims()
    assert claims is not None
    assert claims["sub"] == "judy"

    # Client.tokens(min_ttl) never refreshes a token just obtained, however large min_ttl
    # (it is capped at half the lifetime); refresh() does, whatever the expiry.
    assert client.tokens(min_ttl=7200) == second
    third = client.refresh()
    assert third.refresh_token not in (None, first.refresh_token, second.refresh_token)

    # The provider refuses a rotated-out refresh token ...
    reused = server.token_request(
        {"grant_type": "refresh_token", "refresh_token": first.refresh_token}
    )
    assert reused.status == 400
    assert reused.json()["error"] == "invalid_grant"
    # ... and revokes the grant for it, so pkceflow's next refresh is refused: it says
    # so with LoginRequiredError (caused by the invalid_grant) and forgets the login.
    with pytest.raises(LoginRequiredError) as excinfo:
        client.refresh()
    assert isinstance(excinfo.value.__cause__, TokenError)
    assert excinfo.value.__cause__.error == "invalid_grant"
    assert client.stored() is None


def test_logout_revokes(
    oidc_provider_refresh: OidcProviderServer, transport: RecordingTransport
) -> None:
    server = oidc_provider_refresh
    browser = HttpBrowser()
    client, tokens = log_in(server, transport, browser)
    assert tokens.refresh_token is not None
    assert server.introspect(tokens.refresh_token)["active"] is True

    mark = len(server.requests())
    assert client.logout() is True
    assert client.stored() is None
    assert (
        new_requests(server, mark) == ["POST /token/revocation 200 client_id=pkceflow-public"] * 2
    )
    assert server.introspect(tokens.access_token)["active"] is False
    assert server.introspect(tokens.refresh_token)["active"] is False
    with pytest.raises(LoginRequiredError):
        client.token()


@pytest.mark.parametrize("offline", [False, True], ids=["default-scope", "offline_access"])
def test_provider_default_refresh_policy(
    oidc_provider_default_short_ttl: OidcProviderServer,
    transport: RecordingTransport,
    offline: bool,
) -> None:
    # Without offline_access and prompt=consent oidc-provider issues no refresh token, so
    # once the access token expires the login is over; with them, pkceflow refreshes.
    server = oidc_provider_default_short_ttl
    browser = HttpBrowser()
    if offline:
        client, tokens = log_in(
            server, transport, browser, scope="openid offline_access", params={"prompt": "consent"}
        )
    else:
        client, tokens = log_in(server, transport, browser, scope="openid")
    assert browser.authorization_params.get("prompt") == ("consent" if offline else None)
    assert (tokens.refresh_token is not None) == offline

    wait_until_expired(server, tokens)
    mark = len(server.requests())
    if not offline:
        with pytest.raises(LoginRequiredError, match="no refresh token"):
            client.token(min_ttl=0)
        assert token_posts(new_requests(server, mark)) == []
        return
    fresh = client.tokens(min_ttl=0)
    assert fresh.access_token != tokens.access_token
    assert fresh.refresh_token not in (None, tokens.refresh_token)
    assert server.introspect(fresh.access_token)["active"] is True
    assert token_posts(new_requests(server, mark)) == [
        "POST /token 200 grant_type=refresh_token client_id=pkceflow-public"
    ]


def test_forged_callbacks_are_ignored(
    oidc_provider: OidcProviderServer, transport: RecordingTransport
) -> None:
    # Any local process can reach the listener: requests without this login's state
    # (a forged cancel, a forged code) are refused and the login waits for the real one.
    stray = [
        "error=access_denied&state=forged",
        "code=forged-code&state=forged",
        "code=forged-code",
    ]
    browser = HttpBrowser(stray=stray)
    client, tokens = log_in(oidc_provider, transport, browser, scope="openid")
    assert [d.status for d in browser.stray_deliveries] == [400, 400, 400]
    assert all("does not belong to the sign-in" in d.page for d in browser.stray_deliveries)
    (exchange,) = transport.to(client.server.token_endpoint)
    assert exchange.form["code"] == browser.callback_params["code"]
    assert oidc_provider.introspect(tokens.access_token)["active"] is True


def test_concurrent_callers_refresh_once(
    oidc_provider_refresh: OidcProviderServer, transport: RecordingTransport
) -> None:
    # With rotation and reuse detection, a second refresh with the same refresh token
    # would revoke the whole grant: only one may reach the provider.
    server = oidc_provider_refresh
    browser = HttpBrowser()
    client, tokens = log_in(server, transport, browser, scope="openid")
    # Make pkceflow see the access token as expired (the provider still has it active).
    client.store.save(client.profile, attrs.evolve(tokens, expires_at=time.time() - 5))

    mark = len(server.requests())
    barrier = threading.Barrier(8)

    def ask() -> str:
        barrier.wait(timeout=10)
        return client.token()

    workers = [Worker(ask, name=f"e2e-token-{n}") for n in range(8)]
    results = {worker.result() for worker in workers}
    assert len(results) == 1
    (access_token,) = results
    assert access_token != tokens.access_token
    assert token_posts(new_requests(server, mark)) == [
        "POST /token 200 grant_type=refresh_token client_id=pkceflow-public"
    ]
    assert server.introspect(access_token)["active"] is True
