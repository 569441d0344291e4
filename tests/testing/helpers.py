"""Plain HTTP helpers for talking to the test provider (no pkceflow client code)."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

from pkceflow.testing import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    PUBLIC_CLIENT_ID,
    TestProvider,
)
from tests.support.oauth import pkce_pair as pkce_pair

REDIRECT_URI = "http://127.0.0.1:43123/callback"


@dataclass(frozen=True)
class Reply:
    """A response, fully read."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.text, keep_blank_values=True).items()}

    def location_params(self) -> dict[str, str]:
        """The query parameters of the Location header (single values)."""
        location = self.header("Location")
        assert location is not None, f"no Location header (status {self.status})"
        query = urlsplit(location).query
        pairs = parse_qs(query, keep_blank_values=True)
        assert all(len(v) == 1 for v in pairs.values()), pairs
        return {k: v[0] for k, v in pairs.items()}


def request(
    url: str,
    *,
    method: str | None = None,
    form: Mapping[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request with http.client (redirects are not followed)."""
    parts = urlsplit(url)
    all_headers = dict(headers or {})
    if form is not None:
        body = urlencode(form).encode("ascii")
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    if method is None:
        method = "GET" if body is None else "POST"
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, target, body=body, headers=all_headers)
        response = connection.getresponse()
        return Reply(response.status, response.msg, response.read())
    finally:
        connection.close()


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An Authorization header per RFC 6749 2.3.1 (form-urlencode, then base64)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


#: The confidential client's own credentials, as its client_secret_basic header.
CONFIDENTIAL_BASIC = basic(CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET)


def authorize(
    provider: TestProvider,
    *,
    client_id: str = PUBLIC_CLIENT_ID,
    redirect_uri: str = REDIRECT_URI,
    challenge: str | None = None,
    scope: str = "openid profile email",
    state: str = "the-state",
    nonce: str | None = "the-nonce",
    omit: tuple[str, ...] = (),
    extra: Mapping[str, str] | None = None,
) -> Reply:
    """GET the authorization endpoint (not following the redirect)."""
    if challenge is None:
        challenge = pkce_pair()[1]
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if nonce is not None:
        params["nonce"] = nonce
    params.update(extra or {})
    for name in omit:
        params.pop(name, None)
    return request(provider.authorization_endpoint + "?" + urlencode(params))


@dataclass(frozen=True)
class Grant:
    """A code obtained from the authorization endpoint, with what redeeming it needs."""

    code: str
    verifier: str
    redirect_uri: str
    params: dict[str, str]


def get_code(
    provider: TestProvider,
    *,
    client_id: str = PUBLIC_CLIENT_ID,
    redirect_uri: str = REDIRECT_URI,
    scope: str = "openid profile email",
    nonce: str | None = "the-nonce",
) -> Grant:
    verifier, challenge = pkce_pair()
    reply = authorize(
        provider,
        client_id=client_id,
        redirect_uri=redirect_uri,
        challenge=challenge,
        scope=scope,
        nonce=nonce,
    )
    assert reply.status == 302, reply.text
    params = reply.location_params()
    return Grant(params["code"], verifier, redirect_uri, params)


def token(
    provider: TestProvider,
    form: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    return request(provider.token_endpoint, form=form, headers=headers)


def redeem(
    provider: TestProvider,
    grant: Grant,
    *,
    client_id: str = PUBLIC_CLIENT_ID,
    headers: Mapping[str, str] | None = None,
    **overrides: str,
) -> Reply:
    """Exchange `grant` at the token endpoint (public client unless headers say else)."""
    form = {
        "grant_type": "authorization_code",
        "code": grant.code,
        "redirect_uri": grant.redirect_uri,
        "code_verifier": grant.verifier,
        "client_id": client_id,
    }
    form.update(overrides)
    return token(provider, {k: v for k, v in form.items() if v != ""}, headers=headers)


def tokens(
    provider: TestProvider, *, scope: str = "openid profile email", nonce: str | None = "the-nonce"
) -> dict[str, Any]:
    """A whole code flow for the public client, returning the token response."""
    reply = redeem(provider, get_code(provider, scope=scope, nonce=nonce))
    assert reply.status == 200, reply.text
    payload: dict[str, Any] = reply.json()
    return payload


def refresh(
    provider: TestProvider, refresh_token: str, *, client_id: str = PUBLIC_CLIENT_ID, **extra: str
) -> Reply:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    form.update(extra)
    return token(provider, form)
