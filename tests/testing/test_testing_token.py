"""The token endpoint, client authentication, refresh, revocation, introspection, userinfo."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from pkceflow.testing import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    HttpFollowingBrowser,
    TestProvider,
)

from .helpers import (
    CONFIDENTIAL_BASIC,
    Grant,
    basic,
    get_code,
    pkce_pair,
    redeem,
    refresh,
    request,
    token,
    tokens,
)

# ---------------------------------------------------------------- a whole flow


class _Callback(BaseHTTPRequestHandler):
    received: list[dict[str, str]]

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        type(self).received.append({k: v[0] for k, v in query.items()})
        body = b"<html><body>You may close this window.</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def callback_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A loopback redirect URI listener, like the client's, recording what it receives."""
    received: list[dict[str, str]] = []
    handler = type("Handler", (_Callback,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback", received
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("interactive", [False, True])
def test_whole_code_flow_with_the_browser(
    pkceflow_provider: TestProvider,
    pkceflow_browser: HttpFollowingBrowser,
    callback_server: tuple[str, list[dict[str, str]]],
    interactive: bool,
) -> None:
    pkceflow_provider.settings.interactive = interactive
    redirect_uri, received = callback_server
    verifier, challenge = pkce_pair()
    url = (
        pkceflow_provider.authorization_endpoint
        + "?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": "pkceflow-test",
                "redirect_uri": redirect_uri,
                "scope": "openid profile email offline_access",
                "state": "abc",
                "nonce": "n-0S6_WzA2Mj",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )
    assert pkceflow_browser.open(url) is True
    final = pkceflow_browser.wait()
    assert final is not None
    assert final.status == 200
    assert "close this window" in final.text
    assert final.url.startswith(redirect_uri)
    (params,) = received
    assert params["state"] == "abc"
    assert params["iss"] == pkceflow_provider.issuer

    reply = token(
        pkceflow_provider,
        {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": "pkceflow-test",
        },
    )
    assert reply.status == 200
    assert reply.header("Cache-Control") == "no-store"
    assert reply.header("Pragma") == "no-cache"
    assert reply.header("Content-Type") == "application/json"
    payload = reply.json()
    assert payload["token_type"] == "Bearer"
    assert payload["expires_in"] == 3600
    assert payload["scope"] == "openid profile email offline_access"
    assert {"access_token", "refresh_token", "id_token"} <= set(payload)
    assert pkceflow_provider.active_tokens() == {payload["access_token"], payload["refresh_token"]}
    info = pkceflow_provider.token_info(payload["access_token"])
    assert info is not None
    assert info.user == "alice"
    assert info.kind == "access"
    token_requests = [r for r in pkceflow_provider.requests if r.endpoint == "token"]
    assert token_requests[0].form["code_verifier"] == verifier


# ---------------------------------------------------------------- code exchange rejections


def test_wrong_verifier_is_invalid_grant_and_burns_the_code(
    pkceflow_provider: TestProvider,
) -> None:
    grant = get_code(pkceflow_provider)
    reply = redeem(pkceflow_provider, grant, code_verifier=pkce_pair()[0])
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_grant"
    assert redeem(pkceflow_provider, grant).json()["error"] == "invalid_grant"


@pytest.mark.parametrize("verifier", ["", "short", "x" * 129, "a" * 42 + "!"])
def test_missing_or_malformed_verifier(pkceflow_provider: TestProvider, verifier: str) -> None:
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider), code_verifier=verifier)
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_grant"


def test_verifier_is_compared_to_the_s256_challenge(pkceflow_provider: TestProvider) -> None:
    # Sending the challenge itself (as a "plain" client would) must fail.
    grant = get_code(pkceflow_provider)
    from .helpers import authorize

    verifier, challenge = pkce_pair()
    params = authorize(pkceflow_provider, challenge=challenge).location_params()
    reply = redeem(pkceflow_provider, Grant(params["code"], challenge, grant.redirect_uri, params))
    assert reply.json()["error"] == "invalid_grant"
    del verifier


def test_reused_code_revokes_its_tokens(pkceflow_provider: TestProvider) -> None:
    grant = get_code(pkceflow_provider)
    first = redeem(pkceflow_provider, grant).json()
    assert pkceflow_provider.active_tokens() == {first["access_token"], first["refresh_token"]}
    second = redeem(pkceflow_provider, grant)
    assert second.status == 400
    assert second.json()["error"] == "invalid_grant"
    assert pkceflow_provider.active_tokens() == set()
    reply = request(
        pkceflow_provider.userinfo_endpoint,
        headers={"Authorization": f"Bearer {first['access_token']}"},
    )
    assert reply.status == 401


def test_expired_code(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.code_lifetime = 5
    grant = get_code(pkceflow_provider)
    pkceflow_provider.settings.clock_skew = 6
    reply = redeem(pkceflow_provider, grant)
    assert reply.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code has expired.",
    }


def test_expired_code_with_a_real_short_lifetime(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.code_lifetime = 0.0
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider))
    assert reply.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:43124/callback", "http://localhost:43123/callback", ""],
)
def test_redirect_uri_must_equal_the_authorization_requests(
    pkceflow_provider: TestProvider, redirect_uri: str
) -> None:
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider), redirect_uri=redirect_uri)
    assert reply.json()["error"] == "invalid_grant"


def test_code_is_bound_to_the_client(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.add_client("other")
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider), client_id="other")
    assert reply.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "authorization_code", "client_id": "pkceflow-test"}, "invalid_request"),
        ({"client_id": "pkceflow-test", "code": "x"}, "invalid_request"),
        ({"grant_type": "password", "client_id": "pkceflow-test"}, "unsupported_grant_type"),
        (
            {"grant_type": "authorization_code", "client_id": "pkceflow-test", "code": "nope"},
            "invalid_grant",
        ),
    ],
)
def test_token_request_errors(
    pkceflow_provider: TestProvider, form: dict[str, str], error: str
) -> None:
    reply = token(pkceflow_provider, form)
    assert reply.status == 400
    assert reply.json()["error"] == error
    assert reply.header("Cache-Control") == "no-store"


def test_token_request_must_be_form_encoded(pkceflow_provider: TestProvider) -> None:
    grant = get_code(pkceflow_provider)
    body = json.dumps(
        {"grant_type": "authorization_code", "code": grant.code, "client_id": "pkceflow-test"}
    ).encode()
    reply = request(
        pkceflow_provider.token_endpoint,
        body=body,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"


def test_repeated_token_parameter(pkceflow_provider: TestProvider) -> None:
    form = [("grant_type", "authorization_code"), ("code", "a"), ("code", "b")]
    reply = request(pkceflow_provider.token_endpoint, form=[*form, ("client_id", "pkceflow-test")])
    assert reply.json()["error"] == "invalid_request"


def test_body_limits(pkceflow_provider: TestProvider) -> None:
    reply = request(
        pkceflow_provider.token_endpoint,
        body=b"a=" + b"x" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 413


# ---------------------------------------------------------------- client authentication

SPECIAL_SECRET = "s3cr3t with spaces+plus%percent:colon&amp=é/ü"


@pytest.fixture
def special_client(pkceflow_provider: TestProvider) -> str:
    pkceflow_provider.add_client("app:1 +é", SPECIAL_SECRET)
    return "app:1 +é"


def test_confidential_client_with_basic_auth(pkceflow_provider: TestProvider) -> None:
    grant = get_code(pkceflow_provider, client_id=CONFIDENTIAL_CLIENT_ID)
    reply = redeem(pkceflow_provider, grant, client_id="", headers=CONFIDENTIAL_BASIC)
    assert reply.status == 200, reply.text


def test_basic_auth_form_urlencodes_before_base64(
    pkceflow_provider: TestProvider, special_client: str
) -> None:
    grant = get_code(pkceflow_provider, client_id=special_client)
    reply = redeem(
        pkceflow_provider, grant, client_id="", headers=basic(special_client, SPECIAL_SECRET)
    )
    assert reply.status == 200, reply.text


def test_basic_auth_without_urlencoding_is_refused(
    pkceflow_provider: TestProvider, special_client: str
) -> None:
    import base64

    grant = get_code(pkceflow_provider, client_id=special_client)
    raw = f"{special_client}:{SPECIAL_SECRET}".encode()
    header = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    reply = redeem(pkceflow_provider, grant, client_id="", headers=header)
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"
    assert (reply.header("WWW-Authenticate") or "").startswith("Basic ")


@pytest.mark.parametrize(
    "headers",
    [
        basic(CONFIDENTIAL_CLIENT_ID, "wrong"),
        basic(CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET + "x"),
        basic("nobody", CONFIDENTIAL_CLIENT_SECRET),
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + "bm9jb2xvbg=="},  # "nocolon"
        {"Authorization": "Bearer abc"},
        {},  # no authentication at all
    ],
)
def test_wrong_client_credentials(pkceflow_provider: TestProvider, headers: dict[str, str]) -> None:
    grant = get_code(pkceflow_provider, client_id=CONFIDENTIAL_CLIENT_ID)
    reply = redeem(pkceflow_provider, grant, client_id="", headers=headers)
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"
    assert reply.header("WWW-Authenticate")
    # The code is still good: client authentication comes first.
    reply = redeem(pkceflow_provider, grant, client_id="", headers=CONFIDENTIAL_BASIC)
    assert reply.status == 200


def test_auth_method_must_be_the_registered_one(pkceflow_provider: TestProvider) -> None:
    grant = get_code(pkceflow_provider, client_id=CONFIDENTIAL_CLIENT_ID)
    # The secret in the body is client_secret_post, not this client's method.
    reply = redeem(
        pkceflow_provider,
        grant,
        client_id=CONFIDENTIAL_CLIENT_ID,
        client_secret=CONFIDENTIAL_CLIENT_SECRET,
    )
    assert reply.json()["error"] == "invalid_client"
    # Public access (client_id only) is refused for a confidential client.
    reply = redeem(pkceflow_provider, grant, client_id=CONFIDENTIAL_CLIENT_ID)
    assert reply.json()["error"] == "invalid_client"


def test_client_secret_post(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.add_client("poster", "p+p w", auth_method="client_secret_post")
    grant = get_code(pkceflow_provider, client_id="poster")
    reply = redeem(pkceflow_provider, grant, client_id="poster", client_secret="wrong")
    assert reply.status == 401
    reply = redeem(pkceflow_provider, grant, client_id="poster", client_secret="p+p w")
    assert reply.status == 200, reply.text
    # Basic is not this client's method.
    grant = get_code(pkceflow_provider, client_id="poster")
    reply = redeem(pkceflow_provider, grant, client_id="", headers=basic("poster", "p+p w"))
    assert reply.status == 401


def test_two_auth_methods_at_once(pkceflow_provider: TestProvider) -> None:
    grant = get_code(pkceflow_provider, client_id=CONFIDENTIAL_CLIENT_ID)
    reply = redeem(
        pkceflow_provider,
        grant,
        client_id="",
        client_secret=CONFIDENTIAL_CLIENT_SECRET,
        headers=CONFIDENTIAL_BASIC,
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"


def test_public_client_must_not_send_a_secret(pkceflow_provider: TestProvider) -> None:
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider), client_secret="anything")
    assert reply.json()["error"] == "invalid_client"


# ---------------------------------------------------------------- refresh


def test_refresh_rotation_and_replay(pkceflow_provider: TestProvider) -> None:
    first = tokens(pkceflow_provider)
    reply = refresh(pkceflow_provider, first["refresh_token"])
    assert reply.status == 200
    assert reply.header("Cache-Control") == "no-store"
    second = reply.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == first["scope"]
    assert "nonce" not in second  # sanity: the body is a token response
    # The old refresh token stopped working at once ...
    replay = refresh(pkceflow_provider, first["refresh_token"])
    assert replay.status == 400
    assert replay.json()["error"] == "invalid_grant"
    # ... and its replay revoked the whole grant (reuse detection).
    assert refresh(pkceflow_provider, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert pkceflow_provider.active_tokens() == set()


def test_refresh_replay_without_grant_revocation(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.revoke_on_refresh_reuse = False
    first = tokens(pkceflow_provider)
    second = refresh(pkceflow_provider, first["refresh_token"]).json()
    assert refresh(pkceflow_provider, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(pkceflow_provider, second["refresh_token"]).status == 200


def test_refresh_scope_narrowing(pkceflow_provider: TestProvider) -> None:
    first = tokens(pkceflow_provider)
    narrow = refresh(pkceflow_provider, first["refresh_token"], scope="openid").json()
    assert narrow["scope"] == "openid"
    info = pkceflow_provider.token_info(narrow["access_token"])
    assert info is not None
    assert info.scope == "openid"
    # The new refresh token keeps the original grant's scope.
    wide = refresh(pkceflow_provider, narrow["refresh_token"]).json()
    assert wide["scope"] == "openid profile email"
    reply = refresh(pkceflow_provider, wide["refresh_token"], scope="openid offline_access")
    assert reply.json()["error"] == "invalid_scope"


def test_refresh_is_bound_to_the_client(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.add_client("other")
    first = tokens(pkceflow_provider)
    reply = refresh(pkceflow_provider, first["refresh_token"], client_id="other")
    assert reply.json()["error"] == "invalid_grant"
    assert refresh(pkceflow_provider, first["access_token"]).json()["error"] == "invalid_grant"


def test_refresh_token_lifetime(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.refresh_token_lifetime = 100
    first = tokens(pkceflow_provider)
    pkceflow_provider.settings.clock_skew = 101
    assert refresh(pkceflow_provider, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_no_refresh_tokens(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.issue_refresh_tokens = False
    assert "refresh_token" not in tokens(pkceflow_provider)


# ---------------------------------------------------------------- revocation


def _revoke(provider: TestProvider, value: str, **extra: str) -> int:
    form = {"token": value, "client_id": "pkceflow-test", **extra}
    return request(provider.revocation_endpoint, form=form).status


def test_revoke_refresh_token_revokes_the_grant(pkceflow_provider: TestProvider) -> None:
    first = tokens(pkceflow_provider)
    assert (
        _revoke(pkceflow_provider, first["refresh_token"], token_type_hint="refresh_token") == 200
    )
    assert pkceflow_provider.active_tokens() == set()
    assert refresh(pkceflow_provider, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoke_access_token_only(pkceflow_provider: TestProvider) -> None:
    first = tokens(pkceflow_provider)
    assert _revoke(pkceflow_provider, first["access_token"], token_type_hint="refresh_token") == 200
    assert pkceflow_provider.active_tokens() == {first["refresh_token"]}
    assert refresh(pkceflow_provider, first["refresh_token"]).status == 200


def test_revoke_unknown_token_and_errors(pkceflow_provider: TestProvider) -> None:
    assert _revoke(pkceflow_provider, "never-issued") == 200
    assert _revoke(pkceflow_provider, "x", token_type_hint="weird") == 200
    reply = request(pkceflow_provider.revocation_endpoint, form={"client_id": "pkceflow-test"})
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"
    reply = request(pkceflow_provider.revocation_endpoint, form={"token": "x"})
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"
    reply = request(
        pkceflow_provider.revocation_endpoint,
        form={"token": "x"},
        headers=basic(CONFIDENTIAL_CLIENT_ID, "wrong"),
    )
    assert reply.status == 401


def test_revoke_another_clients_token(pkceflow_provider: TestProvider) -> None:
    first = tokens(pkceflow_provider)
    reply = request(
        pkceflow_provider.revocation_endpoint,
        form={"token": first["access_token"]},
        headers=CONFIDENTIAL_BASIC,
    )
    assert reply.status == 400
    assert first["access_token"] in pkceflow_provider.active_tokens()


# ---------------------------------------------------------------- introspection


def _introspect(provider: TestProvider, value: str) -> dict[str, Any]:
    reply = request(
        provider.introspection_endpoint,
        form={"token": value},
        headers=CONFIDENTIAL_BASIC,
    )
    assert reply.status == 200
    assert reply.header("Cache-Control") == "no-store"
    result: dict[str, Any] = reply.json()
    return result


def test_introspection(pkceflow_provider: TestProvider) -> None:
    first = tokens(pkceflow_provider)
    access = _introspect(pkceflow_provider, first["access_token"])
    assert access["active"] is True
    assert access["client_id"] == "pkceflow-test"
    assert access["scope"] == "openid profile email"
    assert access["sub"] == "alice"
    assert access["token_type"] == "Bearer"
    assert access["iss"] == pkceflow_provider.issuer
    assert access["exp"] - access["iat"] == 3600
    assert _introspect(pkceflow_provider, first["refresh_token"])["active"] is True
    assert _introspect(pkceflow_provider, "garbage") == {"active": False}
    pkceflow_provider.expire_token(first["access_token"])
    assert _introspect(pkceflow_provider, first["access_token"]) == {"active": False}
    pkceflow_provider.revoke_token(first["refresh_token"])
    assert _introspect(pkceflow_provider, first["refresh_token"]) == {"active": False}


def test_introspection_needs_client_authentication(pkceflow_provider: TestProvider) -> None:
    reply = request(pkceflow_provider.introspection_endpoint, form={"token": "x"})
    assert reply.status == 401


# ---------------------------------------------------------------- userinfo


def _userinfo(provider: TestProvider, value: str, method: str = "GET") -> Any:
    return request(
        provider.userinfo_endpoint, method=method, headers={"Authorization": f"Bearer {value}"}
    )


def test_userinfo(pkceflow_provider: TestProvider) -> None:
    first = tokens(pkceflow_provider)
    for method in ("GET", "POST"):
        reply = _userinfo(pkceflow_provider, first["access_token"], method)
        assert reply.status == 200
        assert reply.json() == {
            "sub": "alice",
            "name": "Alice Example",
            "preferred_username": "alice",
            "email": "alice@example.test",
            "email_verified": True,
        }
    reply = request(
        pkceflow_provider.userinfo_endpoint, form={"access_token": first["access_token"]}
    )
    assert reply.json()["sub"] == "alice"


def test_userinfo_follows_scope_and_users(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.add_user("carol", name="Carol C", email="c@x.test", locale="fr")
    pkceflow_provider.settings.default_user = "carol"
    only_openid = tokens(pkceflow_provider, scope="openid")
    assert _userinfo(pkceflow_provider, only_openid["access_token"]).json() == {
        "sub": "carol",
        "locale": "fr",
    }
    no_openid = tokens(pkceflow_provider, scope="profile")
    reply = _userinfo(pkceflow_provider, no_openid["access_token"])
    assert reply.status == 403
    assert 'error="insufficient_scope"' in (reply.header("WWW-Authenticate") or "")


@pytest.mark.parametrize(
    "make_headers",
    [
        lambda t: {"Authorization": "Bearer not-a-token"},
        lambda t: {"Authorization": f"Bearer {t['refresh_token']}"},
    ],
)
def test_userinfo_invalid_token(
    pkceflow_provider: TestProvider, make_headers: Callable[[dict[str, Any]], dict[str, str]]
) -> None:
    first = tokens(pkceflow_provider)
    reply = request(pkceflow_provider.userinfo_endpoint, headers=make_headers(first))
    assert reply.status == 401
    challenge = reply.header("WWW-Authenticate") or ""
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge


def test_userinfo_without_token_and_expired(pkceflow_provider: TestProvider) -> None:
    reply = request(pkceflow_provider.userinfo_endpoint)
    assert reply.status == 401
    assert "error=" not in (reply.header("WWW-Authenticate") or "")
    pkceflow_provider.settings.access_token_lifetime = 60
    first = tokens(pkceflow_provider)
    assert first["expires_in"] == 60
    assert _userinfo(pkceflow_provider, first["access_token"]).status == 200
    pkceflow_provider.settings.clock_skew = 61
    assert _userinfo(pkceflow_provider, first["access_token"]).status == 401


def test_issue_tokens_directly(pkceflow_provider: TestProvider) -> None:
    payload = pkceflow_provider.issue_tokens(scope="openid email", user="dave")
    assert _userinfo(pkceflow_provider, payload["access_token"]).json()["email"] == (
        "dave@example.test"
    )
    assert refresh(pkceflow_provider, payload["refresh_token"]).status == 200
    with pytest.raises(KeyError):
        pkceflow_provider.issue_tokens("nobody")
