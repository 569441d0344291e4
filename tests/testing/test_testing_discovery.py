"""Discovery documents, JWKS and the provider's life cycle."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from pkceflow.testing import ProviderSettings, TestProvider

from .helpers import request

REQUIRED = {
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "introspection_endpoint",
    "response_types_supported",
    "grant_types_supported",
    "code_challenge_methods_supported",
    "token_endpoint_auth_methods_supported",
    "scopes_supported",
    "id_token_signing_alg_values_supported",
    "subject_types_supported",
    "authorization_response_iss_parameter_supported",
}


def test_plain_issuer_discovery(pkceflow_provider: TestProvider) -> None:
    issuer = pkceflow_provider.issuer
    assert issuer == f"http://127.0.0.1:{pkceflow_provider.port}"
    for url in (
        f"{issuer}/.well-known/oauth-authorization-server",
        f"{issuer}/.well-known/openid-configuration",
    ):
        reply = request(url)
        assert reply.status == 200
        assert reply.header("Content-Type") == "application/json"
        metadata = reply.json()
        assert set(metadata) >= REQUIRED
        assert metadata["issuer"] == issuer
        assert metadata["authorization_endpoint"] == f"{issuer}/authorize"
        assert metadata["token_endpoint"] == f"{issuer}/token"
        assert metadata["jwks_uri"] == f"{issuer}/jwks"
        assert metadata["response_types_supported"] == ["code"]
        assert metadata["code_challenge_methods_supported"] == ["S256"]
        assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
        assert metadata["authorization_response_iss_parameter_supported"] is True
        assert set(metadata["token_endpoint_auth_methods_supported"]) == {
            "none",
            "client_secret_basic",
            "client_secret_post",
        }
    assert pkceflow_provider.count("discovery") == 2


def test_path_issuer_discovery(
    pkceflow_provider_factory: Callable[..., TestProvider],
) -> None:
    provider = pkceflow_provider_factory(issuer_path="/tenant-a")
    origin = f"http://127.0.0.1:{provider.port}"
    assert provider.issuer == f"{origin}/tenant-a"
    # RFC 8414 section 3.1 inserts the path; OpenID Connect Discovery appends it.
    oauth = request(f"{origin}/.well-known/oauth-authorization-server/tenant-a")
    oidc = request(f"{origin}/tenant-a/.well-known/openid-configuration")
    assert oauth.status == oidc.status == 200
    assert oauth.json()["issuer"] == oidc.json()["issuer"] == provider.issuer
    assert oauth.json()["token_endpoint"] == f"{origin}/tenant-a/token"
    assert provider.metadata_url == f"{origin}/.well-known/oauth-authorization-server/tenant-a"
    assert (
        provider.openid_configuration_url == f"{origin}/tenant-a/.well-known/openid-configuration"
    )
    # The other spellings are not served: a client that builds them is wrong.
    for wrong in (
        f"{origin}/tenant-a/.well-known/oauth-authorization-server",
        f"{origin}/.well-known/openid-configuration/tenant-a",
        f"{origin}/.well-known/openid-configuration",
        f"{origin}/.well-known/oauth-authorization-server",
        f"{origin}/token",
    ):
        assert request(wrong).status == 404, wrong


def test_jwks(pkceflow_provider: TestProvider) -> None:
    reply = request(pkceflow_provider.jwks_uri)
    assert reply.status == 200
    (key,) = reply.json()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"] == pkceflow_provider.signing_kid
    assert "d" not in key
    # 2048 bits: 256 bytes, 342 base64url characters.
    assert len(key["n"]) == 342


def test_key_rotation(pkceflow_provider: TestProvider) -> None:
    old = pkceflow_provider.signing_kid
    new = pkceflow_provider.rotate_keys()
    assert new != old
    assert pkceflow_provider.signing_kid == new
    kids = [k["kid"] for k in request(pkceflow_provider.jwks_uri).json()["keys"]]
    assert kids == [new, old]
    newest = pkceflow_provider.rotate_keys(keep_previous=False)
    kids = [k["kid"] for k in request(pkceflow_provider.jwks_uri).json()["keys"]]
    assert kids == [newest]


def test_templated_issuer_discovery(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.templated_issuer = True
    metadata = request(pkceflow_provider.openid_configuration_url).json()
    assert metadata["issuer"] == f"{pkceflow_provider.origin}/{{tenantid}}/v2.0"
    assert metadata["authorization_response_iss_parameter_supported"] is False


def test_methods_and_unknown_paths(pkceflow_provider: TestProvider) -> None:
    assert request(pkceflow_provider.url("/nothing")).status == 404
    reply = request(pkceflow_provider.token_endpoint)
    assert reply.status == 405
    assert reply.header("Allow") == "POST"
    assert request(pkceflow_provider.jwks_uri, method="DELETE").status == 405
    assert pkceflow_provider.count("unknown") == 1
    assert pkceflow_provider.count("token") == 1
    assert pkceflow_provider.count() == 3


def test_ipv6_provider(pkceflow_provider_factory: Callable[..., TestProvider]) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        provider = pkceflow_provider_factory(host="::1")
    except OSError:
        pytest.skip("cannot bind [::1]")
    assert provider.issuer == f"http://[::1]:{provider.port}"
    reply = request(provider.openid_configuration_url)
    assert reply.json()["issuer"] == provider.issuer


def test_refuses_non_loopback_host() -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        TestProvider(host="0.0.0.0")
    with pytest.raises(ValueError, match="issuer_path"):
        TestProvider(issuer_path="tenant")


def test_start_stop_releases_the_port() -> None:
    provider = TestProvider(ProviderSettings())
    with pytest.raises(RuntimeError):
        _ = provider.issuer
    with provider:
        port = provider.port
        running_inside = provider.running
        with pytest.raises(RuntimeError):
            provider.start()
        # A keep-alive connection left open must not stop shutdown.
        idle = socket.create_connection(("127.0.0.1", port))
    assert (running_inside, provider.running) == (True, False)
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port)).close()
    with socket.socket() as probe:  # no listening socket is left on the port
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    provider.stop()  # idempotent
