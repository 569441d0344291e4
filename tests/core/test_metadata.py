"""metadata.py: server metadata (RFC 8414) and OpenID Connect discovery."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkceflow_core import (
    HttpResponse,
    InsecureEndpointError,
    InvalidResponseError,
    MetadataError,
    PkceflowError,
    Quirks,
    ServerError,
    ServerMetadata,
    UsageError,
    discovery_requests,
    parse_metadata,
)
from tests.core.fakes import ISSUER, json_response
from tests.support.strategies import any_json

DOCUMENT: dict[str, Any] = {
    "issuer": ISSUER,
    "authorization_endpoint": "https://as.example.com/authorize",
    "token_endpoint": "https://as.example.com/token",
    "revocation_endpoint": "https://as.example.com/revoke",
    "userinfo_endpoint": "https://as.example.com/userinfo",
    "jwks_uri": "https://as.example.com/jwks",
    "code_challenge_methods_supported": ["S256", "plain"],
    "authorization_response_iss_parameter_supported": True,
    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
    "scopes_supported": ["openid", "offline_access"],
    "registration_endpoint": "https://as.example.com/register",
}


def document(**changes: Any) -> HttpResponse:
    doc = {**DOCUMENT, **changes}
    return json_response({k: v for k, v in doc.items() if v is not ...})


def parse(response: HttpResponse, **kwargs: Any) -> ServerMetadata:
    return parse_metadata(response, issuer=ISSUER, **kwargs)


# -- discovery URLs ------------------------------------------------------------------


def test_a_host_issuer_is_discovered_at_both_well_known_urls_rfc8414_first() -> None:
    urls = [r.url for r in discovery_requests("https://as.example.com")]

    assert urls == [
        "https://as.example.com/.well-known/oauth-authorization-server",
        "https://as.example.com/.well-known/openid-configuration",
    ]


def test_a_trailing_slash_on_the_issuer_makes_no_difference() -> None:
    assert [r.url for r in discovery_requests("https://as.example.com/")] == [
        r.url for r in discovery_requests("https://as.example.com")
    ]


def test_a_path_issuer_gets_rfc8414_insertion_then_oidc_appending() -> None:
    urls = [r.url for r in discovery_requests("https://as.example.com:8443/tenant/v2/")]

    assert urls == [
        "https://as.example.com:8443/.well-known/oauth-authorization-server/tenant/v2",
        "https://as.example.com:8443/tenant/v2/.well-known/openid-configuration",
    ]


def test_discovery_requests_are_retry_safe_gets_asking_for_json() -> None:
    for request in discovery_requests(ISSUER):
        assert (request.method, request.retry_safe) == ("GET", True)
        assert request.headers == {"Accept": "application/json"}
        assert request.body == b""


def test_a_loopback_http_issuer_is_allowed() -> None:
    assert discovery_requests("http://127.0.0.1:9000")[0].url == (
        "http://127.0.0.1:9000/.well-known/oauth-authorization-server"
    )


def test_an_http_issuer_elsewhere_is_refused() -> None:
    with pytest.raises(InsecureEndpointError):
        discovery_requests("http://as.example.com")


@pytest.mark.parametrize(
    "issuer", ["https://as.example.com?tenant=a", "https://as.example.com#x", "as.example.com"]
)
def test_an_issuer_with_a_query_or_fragment_or_no_scheme_is_refused(issuer: str) -> None:
    with pytest.raises(UsageError, match="issuer"):
        discovery_requests(issuer)


# -- parsing a document --------------------------------------------------------------


def test_a_document_is_parsed_into_server_metadata() -> None:
    metadata = parse(document(), quirks=Quirks(scope_as_array=True))

    assert metadata == ServerMetadata(
        authorization_endpoint="https://as.example.com/authorize",
        token_endpoint="https://as.example.com/token",
        issuer=ISSUER,
        revocation_endpoint="https://as.example.com/revoke",
        userinfo_endpoint="https://as.example.com/userinfo",
        jwks_uri="https://as.example.com/jwks",
        code_challenge_methods_supported=("S256", "plain"),
        authorization_response_iss_parameter_supported=True,
        id_token_signing_alg_values_supported=("RS256", "ES256"),
        token_endpoint_auth_methods_supported=("none", "client_secret_basic"),
        scopes_supported=("openid", "offline_access"),
        quirks=Quirks(scope_as_array=True),
    )


def test_the_whole_document_is_kept_as_raw() -> None:
    assert parse(document()).raw["registration_endpoint"] == "https://as.example.com/register"


def test_a_minimal_document_leaves_the_optional_members_unset() -> None:
    minimal = {k: DOCUMENT[k] for k in ("issuer", "authorization_endpoint", "token_endpoint")}

    metadata = parse(json_response(minimal))

    assert (metadata.revocation_endpoint, metadata.jwks_uri, metadata.scopes_supported) == (
        None,
        None,
        None,
    )
    assert metadata.code_challenge_methods_supported is None
    assert metadata.authorization_response_iss_parameter_supported is False


def test_an_answer_other_than_200_is_a_metadata_error() -> None:
    with pytest.raises(MetadataError, match="answered HTTP 404"):
        parse(json_response({}, 404))


def test_a_body_that_is_not_json_is_a_server_error() -> None:
    with pytest.raises(InvalidResponseError, match="discovery document is not JSON") as raised:
        parse(HttpResponse(200, {}, b"<html></html>"))

    assert isinstance(raised.value, ServerError)


def test_a_repeated_member_is_refused() -> None:
    body = json.dumps(DOCUMENT)[:-1].encode() + b', "issuer": "https://as.example.com"}'

    with pytest.raises(InvalidResponseError, match="repeats the member 'issuer'"):
        parse(HttpResponse(200, {}, body))


@pytest.mark.parametrize(
    "issuer",
    ["https://evil.example.com", ISSUER + "/", "HTTPS://AS.EXAMPLE.COM"],
    ids=["other", "trailing-slash", "case"],
)
def test_the_document_must_name_exactly_the_issuer(issuer: str) -> None:
    with pytest.raises(MetadataError, match=r"RFC 8414 3\.3"):
        parse(document(issuer=issuer))


def test_a_document_without_issuer_is_refused() -> None:
    with pytest.raises(MetadataError, match="names issuer 'NoneType'"):
        parse(document(issuer=...))


def test_a_document_with_a_non_string_issuer_is_refused() -> None:
    with pytest.raises(MetadataError, match="names issuer 'list'"):
        parse(document(issuer=[ISSUER]))


@pytest.mark.parametrize("member", ["authorization_endpoint", "token_endpoint"])
@pytest.mark.parametrize("value", [..., None, 42, ["https://as.example.com/x"]])
def test_a_missing_or_non_string_required_endpoint_is_refused(member: str, value: object) -> None:
    with pytest.raises(MetadataError, match=f"has no {member}"):
        parse(document(**{member: value}))


@pytest.mark.parametrize("member", ["revocation_endpoint", "userinfo_endpoint", "jwks_uri"])
def test_a_non_string_optional_endpoint_is_refused(member: str) -> None:
    with pytest.raises(MetadataError, match=f"{member} must be a string"):
        parse(document(**{member: {"url": "https://as.example.com/x"}}))


@pytest.mark.parametrize(
    "member",
    [
        "code_challenge_methods_supported",
        "id_token_signing_alg_values_supported",
        "token_endpoint_auth_methods_supported",
        "scopes_supported",
    ],
)
@pytest.mark.parametrize("value", ["S256", ["S256", 1], {"S256": True}])
def test_a_list_member_that_is_not_an_array_of_strings_is_refused(
    member: str, value: object
) -> None:
    with pytest.raises(MetadataError, match=f"{member} must be an array of strings"):
        parse(document(**{member: value}))


def test_a_server_without_s256_is_refused() -> None:
    with pytest.raises(MetadataError, match="does not list S256"):
        parse(document(code_challenge_methods_supported=["plain"]))


def test_a_server_without_s256_is_accepted_when_not_required() -> None:
    metadata = parse(document(code_challenge_methods_supported=["plain"]), require_s256=False)

    assert metadata.code_challenge_methods_supported == ("plain",)


def test_a_server_that_does_not_list_methods_is_accepted() -> None:
    assert parse(document(code_challenge_methods_supported=...)).issuer == ISSUER


@pytest.mark.parametrize("value", ["true", 1, None])
def test_the_iss_parameter_flag_must_be_a_boolean(value: object) -> None:
    with pytest.raises(MetadataError, match="must be a boolean"):
        parse(document(authorization_response_iss_parameter_supported=value))


def test_the_iss_parameter_flag_is_read() -> None:
    metadata = parse(document(authorization_response_iss_parameter_supported=False))

    assert metadata.authorization_response_iss_parameter_supported is False


@pytest.mark.parametrize(
    "member", ["authorization_endpoint", "token_endpoint", "revocation_endpoint", "jwks_uri"]
)
def test_an_http_endpoint_on_another_host_is_refused(member: str) -> None:
    with pytest.raises(MetadataError, match=r"unusable: .*plain http"):
        parse(document(**{member: "http://as.example.com/x"}))


def test_an_endpoint_with_a_fragment_is_refused() -> None:
    with pytest.raises(MetadataError, match=r"unusable: .*fragment"):
        parse(document(token_endpoint="https://as.example.com/token#x"))


def test_loopback_http_endpoints_are_accepted() -> None:
    metadata = parse(document(token_endpoint="http://127.0.0.1:9000/token"))

    assert metadata.token_endpoint == "http://127.0.0.1:9000/token"


# -- ServerMetadata by hand ----------------------------------------------------------


def test_server_metadata_needs_only_two_endpoints() -> None:
    metadata = ServerMetadata("https://as.example.com/authorize", "https://as.example.com/token")

    assert (metadata.issuer, metadata.quirks) == (None, Quirks())


@pytest.mark.parametrize(
    "member", ["revocation_endpoint", "userinfo_endpoint", "jwks_uri", "token_endpoint"]
)
def test_server_metadata_refuses_an_insecure_endpoint(member: str) -> None:
    valid = ServerMetadata("https://as.example.com/authorize", "https://as.example.com/token")
    changes: dict[str, Any] = {member: "http://as.example.com/x"}

    with pytest.raises(InsecureEndpointError, match=member.replace("_", " ")):
        attrs.evolve(valid, **changes)


def test_server_metadata_refuses_an_insecure_authorization_endpoint() -> None:
    with pytest.raises(InsecureEndpointError, match="authorization endpoint"):
        ServerMetadata("http://as.example.com/authorize", "https://as.example.com/token")


def test_the_raw_document_does_not_count_for_equality() -> None:
    a = ServerMetadata("https://a.example/authorize", "https://a.example/token", raw={"x": 1})
    b = ServerMetadata("https://a.example/authorize", "https://a.example/token", raw={"x": 2})

    assert a == b


# -- property ------------------------------------------------------------------------

json_values = any_json(text=12)
urlish = st.one_of(
    st.sampled_from(
        [
            "https://as.example.com/x",
            "http://as.example.com/x",
            "http://[::1/x",
            "https://as.example.com:99999/",
            "https://u@as.example.com/",
            "https://as.example.com/#",
        ]
    ),
    st.text(max_size=30),
)


@st.composite
def documents(draw: st.DrawFn) -> object:
    """Arbitrary JSON, or the real document with members replaced or removed."""
    if draw(st.booleans()):
        return draw(json_values)
    doc = dict(DOCUMENT)
    for name in draw(st.lists(st.sampled_from(list(DOCUMENT)), max_size=4)):
        doc[name] = draw(st.one_of(json_values, urlish, st.lists(st.text(max_size=5))))
    return doc


@settings(max_examples=250, deadline=None)
@given(doc=documents(), status=st.sampled_from([200, 200, 200, 404, 500]))
def test_parsing_any_json_raises_only_pkceflow_errors(doc: object, status: int) -> None:
    try:
        metadata = parse(json_response(doc, status))
    except PkceflowError:
        return
    assert metadata.issuer == ISSUER


# -- templated issuers (declared quirk) ---------------------------------------------

TENANTS = Quirks(issuer_placeholder="{tenantid}")
COMMON = "https://login.example/common/v2.0"
TEMPLATE = "https://login.example/{tenantid}/v2.0"


def test_a_templated_issuer_is_accepted_only_with_the_quirk() -> None:
    response = document(issuer=TEMPLATE)

    with pytest.raises(MetadataError, match="names issuer"):
        parse_metadata(response, issuer=COMMON)
    server = parse_metadata(response, issuer=COMMON, quirks=TENANTS)

    assert (server.issuer, server.issuer_template) == (COMMON, TEMPLATE)


@pytest.mark.parametrize(
    "issuer",
    [
        "https://login.example/a/b/v2.0",  # the placeholder stands for one segment
        "https://login.example/common/v1.0",
        "https://other.example/common/v2.0",
        "https://login.example//v2.0",
    ],
)
def test_a_template_must_match_the_issuer_asked_for(issuer: str) -> None:
    with pytest.raises(MetadataError, match="names issuer"):
        parse_metadata(document(issuer=TEMPLATE), issuer=issuer, quirks=TENANTS)


def test_a_document_with_the_placeholder_twice_is_no_template() -> None:
    doubled = "https://login.example/{tenantid}/{tenantid}"
    with pytest.raises(MetadataError, match="names issuer"):
        parse_metadata(document(issuer=doubled), issuer=COMMON, quirks=TENANTS)


def test_an_exact_issuer_has_no_template() -> None:
    assert parse(document(), quirks=TENANTS).issuer_template is None
