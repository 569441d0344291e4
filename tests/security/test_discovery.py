"""Hostile discovery documents and JWK Sets (RFC 8414 3.3, RFC 9700 2.1.1, 2.6; RFC 7636 4.2;
OIDC Discovery 4.3, OIDC Core 3.1.3.7, RFC 8725 3.1).

A small server on loopback serves the discovery document (and, for the JWKS cases, a
garbage ``jwks_uri``); the `network` fixture proves no request ever left loopback.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pluggy
import pytest

from pkceflow import Client
from pkceflow.client import _METADATA
from pkceflow.file_store import FileStore
from pkceflow.settings import Interaction, Redirect
from pkceflow.testing import PUBLIC_CLIENT_ID, HttpFollowingBrowser, TestProvider
from pkceflow.transport import Urllib3Transport
from pkceflow_core import (
    IdTokenError,
    InsecureEndpointError,
    MetadataError,
    PkceflowError,
    ServerMetadata,
)
from tests.support.raw_http import Behaviour, RawServer, Request, answer, json_answer

from .conftest import NetworkLog
from .support import WAIT

PROFILE = "sec"
REMOTE = "idp.attacker.invalid"
WELL_KNOWN = "/.well-known/oauth-authorization-server"


class DiscoveryServer(RawServer):
    """Serves ``document`` (with ``issuer`` = its own origin unless changed) and ``jwks``."""

    def __init__(self) -> None:
        super().__init__()
        self.document: dict[str, Any] = {}
        self.jwks: Behaviour = json_answer({"keys": []})
        self.behaviour = self._route

    def _route(self, request: Request, conn: socket.socket) -> None:
        if request.path in (WELL_KNOWN, "/.well-known/openid-configuration"):
            json_answer(self.document)(request, conn)
        elif request.path == "/jwks":
            self.jwks(request, conn)
        else:
            answer(404, b"{}")(request, conn)


@pytest.fixture
def discovery() -> Iterator[DiscoveryServer]:
    _METADATA.clear()
    with DiscoveryServer() as server:
        yield server
    _METADATA.clear()
    assert not server.errors, "\n".join(server.errors)


def base_document(server: DiscoveryServer) -> dict[str, Any]:
    origin = server.origin
    return {
        "issuer": origin,
        "authorization_endpoint": origin + "/authorize",
        "token_endpoint": origin + "/token",
        "jwks_uri": origin + "/jwks",
        "revocation_endpoint": origin + "/revoke",
        "userinfo_endpoint": origin + "/userinfo",
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
    }


def from_issuer(issuer: str, plugin_manager: pluggy.PluginManager, **kwargs: Any) -> Client:
    transport = Urllib3Transport(timeout=WAIT / 2, connect_timeout=WAIT / 2)
    # The provider here authorizes for another server's discovery document: the path
    # registered with it is /callback, not one pkceflow would derive for that issuer.
    kwargs.setdefault("redirect", Redirect(path="/callback"))
    return Client.from_issuer(
        issuer,
        PUBLIC_CLIENT_ID,
        transport=transport,
        plugin_manager=plugin_manager,
        interaction=Interaction(paste=False, timeout=WAIT),
        **kwargs,
    )


def only_discovery_was_asked(server: DiscoveryServer) -> None:
    assert server.requests, "discovery was never asked"
    assert {r.path for r in server.requests} <= {WELL_KNOWN, "/.well-known/openid-configuration"}


# --------------------------------------------------------------------------- issuer


@pytest.mark.parametrize(
    "issuer",
    ["https://attacker.invalid", "{origin}/", "{origin}/tenant", "http://127.0.0.1:1"],
    ids=["another-host", "trailing-slash", "another-path", "another-port"],
)
def test_a_discovery_document_naming_another_issuer_is_refused(
    issuer: str, discovery: DiscoveryServer, plugin_manager: pluggy.PluginManager
) -> None:
    discovery.document = {
        **base_document(discovery),
        "issuer": issuer.format(origin=discovery.origin),
    }

    with pytest.raises(MetadataError, match=r"RFC 8414 3\.3"):
        from_issuer(discovery.origin, plugin_manager)

    only_discovery_was_asked(discovery)


# --------------------------------------------------------------------------- plain http


ENDPOINTS = [
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "revocation_endpoint",
    "userinfo_endpoint",
]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_a_plain_http_endpoint_on_a_remote_host_is_refused_before_any_request(
    name: str,
    discovery: DiscoveryServer,
    plugin_manager: pluggy.PluginManager,
    network: NetworkLog,
) -> None:
    discovery.document = {**base_document(discovery), name: f"http://{REMOTE}/{name}"}

    with pytest.raises(MetadataError, match="plain http") as raised:
        from_issuer(discovery.origin, plugin_manager)

    assert REMOTE in str(raised.value)
    only_discovery_was_asked(discovery)
    assert not network.touched(REMOTE)


@pytest.mark.parametrize("name", ["authorization_url", "token_url", "revocation_url"])
def test_a_client_given_a_plain_http_remote_endpoint_is_refused_at_once(
    name: str, network: NetworkLog
) -> None:
    urls = {
        "authorization_url": "https://idp.example.test/authorize",
        "token_url": "https://idp.example.test/token",
        name: f"http://{REMOTE}/{name}",
    }

    with pytest.raises(InsecureEndpointError):
        Client(PUBLIC_CLIENT_ID, **urls)  # type: ignore[arg-type]

    assert not network.touched(REMOTE)


def test_a_plain_http_issuer_on_a_remote_host_is_refused_before_discovery(
    plugin_manager: pluggy.PluginManager, network: NetworkLog
) -> None:
    with pytest.raises(InsecureEndpointError):
        from_issuer(f"http://{REMOTE}", plugin_manager)

    assert not network.touched(REMOTE)


# --------------------------------------------------------------------------- PKCE


@pytest.mark.parametrize(
    "methods",
    [["plain"], [], ["s256"], "S256"],
    ids=["plain-only", "none", "lower-case", "a-string"],
)
def test_a_server_that_does_not_offer_s256_is_refused(
    methods: object, discovery: DiscoveryServer, plugin_manager: pluggy.PluginManager
) -> None:
    discovery.document = {**base_document(discovery), "code_challenge_methods_supported": methods}

    with pytest.raises(MetadataError):
        from_issuer(discovery.origin, plugin_manager)

    only_discovery_was_asked(discovery)


# --------------------------------------------------------------------------- JWKS


GARBAGE: dict[str, Behaviour] = {
    "html-page": answer(
        200, b"<html><body>Not a JWKS</body></html>", [("Content-Type", "text/html")]
    ),
    "json-array": json_answer([{"kty": "RSA"}]),
    "keys-not-a-list": json_answer({"keys": "all of them"}),
    "no-usable-key": json_answer({"keys": [{"kty": "RSA", "kid": "k"}]}),
    "private-key-material": json_answer(
        {"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0LWtleS1tYXRlcmlhbA"}]}
    ),
    "status-500": answer(500, b"oops", [("Content-Type", "text/plain")]),
    "nested-deep": answer(200, b'{"keys": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
}


@pytest.mark.parametrize("garbage", list(GARBAGE.values()), ids=list(GARBAGE))
def test_a_jwks_uri_answering_garbage_fails_the_login_and_stores_nothing(
    garbage: Behaviour,
    discovery: DiscoveryServer,
    provider: TestProvider,
    plugin_manager: pluggy.PluginManager,
    store: FileStore,
) -> None:
    # Discovery at our server; authorization and token at the provider; keys from us.
    provider.settings.authorization_iss = "omit"
    discovery.document = {
        **base_document(discovery),
        "authorization_endpoint": provider.authorization_endpoint,
        "token_endpoint": provider.token_endpoint,
        "authorization_response_iss_parameter_supported": False,
    }
    discovery.jwks = garbage
    browser = HttpFollowingBrowser(timeout=WAIT)
    client = from_issuer(
        discovery.origin,
        plugin_manager,
        scope="openid",
        store=store,
        profile=PROFILE,
        browser=browser,
    )

    with pytest.raises(PkceflowError) as raised:
        client.login()
    browser.wait(WAIT)

    assert type(raised.value) is IdTokenError, repr(raised.value)
    assert raised.value.check == "jwks", repr(raised.value)
    assert provider.count("token") == 1
    assert [r.path for r in discovery.requests].count("/jwks") == 1
    assert store.load(PROFILE) is None
    assert not store.path(PROFILE).exists()


def test_metadata_with_a_remote_plain_http_jwks_uri_cannot_be_built(network: NetworkLog) -> None:
    with pytest.raises(InsecureEndpointError):
        ServerMetadata(
            issuer="https://idp.example.test",
            authorization_endpoint="https://idp.example.test/authorize",
            token_endpoint="https://idp.example.test/token",
            jwks_uri=f"http://{REMOTE}/jwks",
        )
    assert not network.touched(REMOTE)
