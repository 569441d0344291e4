"""Authorization server metadata (RFC 8414) and OpenID Connect discovery."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlunsplit

import attrs

from ._endpoints import check_endpoint
from ._http import HttpRequest, HttpResponse
from ._json import loads_object
from ._quirks import Quirks
from .errors import MetadataError, UsageError, printable

__all__ = ["ServerMetadata", "discovery_requests", "metadata_from_document", "parse_metadata"]


def _optional_tuple(value: object, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MetadataError(f"server metadata {name} must be an array of strings")
    return tuple(value)


@attrs.frozen
class ServerMetadata:
    """What the client knows of an authorization server.

    Build it by hand from two URLs, or from a discovery document with
    :func:`parse_metadata`. Every endpoint is checked: https, or http to loopback.
    """

    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None = None
    revocation_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    jwks_uri: str | None = None
    #: None when the server did not say; the flow then still sends S256.
    code_challenge_methods_supported: tuple[str, ...] | None = None
    #: RFC 9207: when True, a callback without ``iss`` is refused.
    authorization_response_iss_parameter_supported: bool = False
    id_token_signing_alg_values_supported: tuple[str, ...] | None = None
    token_endpoint_auth_methods_supported: tuple[str, ...] | None = None
    scopes_supported: tuple[str, ...] | None = None
    #: A templated issuer accepted through ``quirks.issuer_placeholder``.
    issuer_template: str | None = None
    #: Declared provider deviations the parsers accept (all off by default).
    quirks: Quirks = Quirks()
    #: The whole discovery document, for members the core does not model.
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    def redirect_path(self, base: str = "/callback") -> str:
        """The loopback redirect path for this server: ``base``, or one of its own.

        RFC 9700 4.4.2: where the authorization response does not name its issuer
        (RFC 9207 ``iss``), the client must use a distinct redirect URI per
        authorization server, so that a mix-up attacker's server cannot have a real
        server send the real code to the listener of a login meant for the
        attacker's. Such servers get ``base`` plus a label derived from their issuer
        (or, without one, their authorization and token endpoints):
        ``/callback/3f2a9c1b7d4e``. It is stable, so it can be registered once.
        """
        if self.authorization_response_iss_parameter_supported:
            return base
        import hashlib

        name = self.issuer or f"{self.authorization_endpoint} {self.token_endpoint}"
        label = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
        return f"{base.rstrip('/')}/{label}"

    def __attrs_post_init__(self) -> None:
        check_endpoint(self.authorization_endpoint, name="authorization endpoint")
        check_endpoint(self.token_endpoint, name="token endpoint")
        for name in ("revocation_endpoint", "userinfo_endpoint", "jwks_uri"):
            url = getattr(self, name)
            if url is not None:
                check_endpoint(url, name=name.replace("_", " "))


def _issuer_parts(issuer: str) -> tuple[str, str, str]:
    parts = check_endpoint(issuer, name="issuer", allow_query=False)
    return parts.scheme, parts.netloc, parts.path.rstrip("/")


def _issuer_template(got: object, issuer: str, quirks: Quirks) -> str | None:
    """``got`` when it is a template of ``issuer`` the quirks allow, else None."""
    placeholder = quirks.issuer_placeholder
    if not placeholder or not isinstance(got, str) or got.count(placeholder) != 1:
        return None
    head, tail = got.split(placeholder)
    if len(issuer) <= len(head) + len(tail) or not (
        issuer.startswith(head) and issuer.endswith(tail)
    ):
        return None
    segment = issuer[len(head) : len(issuer) - len(tail)]
    return got if "/" not in segment else None


def discovery_requests(issuer: str) -> list[HttpRequest]:
    """The metadata URLs to try for ``issuer``, in order.

    First RFC 8414 3.1 (the well-known segment inserted before the issuer's path),
    then OpenID Connect Discovery 1.0 section 4 (appended after it).
    """
    scheme, netloc, path = _issuer_parts(issuer)
    urls = [
        urlunsplit((scheme, netloc, "/.well-known/oauth-authorization-server" + path, "", "")),
        urlunsplit((scheme, netloc, path + "/.well-known/openid-configuration", "", "")),
    ]
    headers = {"Accept": "application/json"}
    return [HttpRequest("GET", url, headers, retry_safe=True) for url in urls]


def parse_metadata(
    response: HttpResponse,
    *,
    issuer: str,
    require_s256: bool = True,
    quirks: Quirks = Quirks(),
) -> ServerMetadata:
    """Parse a discovery response for ``issuer``; raise MetadataError or ServerError.

    The document's ``issuer`` must equal ``issuer`` exactly (RFC 8414 3.3, OpenID
    Discovery 4.3), or be a template of it that ``quirks.issuer_placeholder``
    allows (kept as ``issuer_template``). With ``require_s256``, a server that lists
    ``code_challenge_methods_supported`` without S256 is refused (RFC 9700 2.1.1).
    """
    if response.status != 200:
        raise MetadataError(
            f"discovery for {printable(issuer, 200)} answered HTTP {response.status}"
        )
    doc = loads_object(response.body, what="the discovery document", status=response.status)
    return metadata_from_document(doc, issuer=issuer, require_s256=require_s256, quirks=quirks)


def metadata_from_document(
    doc: Mapping[str, Any],
    *,
    issuer: str,
    require_s256: bool = True,
    quirks: Quirks = Quirks(),
) -> ServerMetadata:
    """:func:`parse_metadata` of a document already read (two merged ones, say)."""
    template = _issuer_template(doc.get("issuer"), issuer, quirks)
    if doc.get("issuer") != issuer and template is None:
        got = doc.get("issuer")
        shown = printable(got, 200) if isinstance(got, str) else type(got).__name__
        raise MetadataError(
            f"the discovery document names issuer {shown!r}, not {printable(issuer, 200)!r}"
            " (RFC 8414 3.3)"
        )
    strings: dict[str, str] = {}
    for name in ("authorization_endpoint", "token_endpoint"):
        value = doc.get(name)
        if not isinstance(value, str):
            raise MetadataError(f"the discovery document has no {name}")
        strings[name] = value
    optional: dict[str, str | None] = {}
    for name in ("revocation_endpoint", "userinfo_endpoint", "jwks_uri"):
        value = doc.get(name)
        if value is not None and not isinstance(value, str):
            raise MetadataError(f"server metadata {name} must be a string")
        optional[name] = value
    methods = _optional_tuple(
        doc.get("code_challenge_methods_supported"), "code_challenge_methods_supported"
    )
    if require_s256 and methods is not None and "S256" not in methods:
        raise MetadataError(
            "the server does not list S256 in code_challenge_methods_supported (RFC 7636 4.2)"
        )
    iss_supported = doc.get("authorization_response_iss_parameter_supported", False)
    if not isinstance(iss_supported, bool):
        raise MetadataError("authorization_response_iss_parameter_supported must be a boolean")
    try:
        return ServerMetadata(
            issuer=issuer,
            code_challenge_methods_supported=methods,
            authorization_response_iss_parameter_supported=iss_supported,
            id_token_signing_alg_values_supported=_optional_tuple(
                doc.get("id_token_signing_alg_values_supported"),
                "id_token_signing_alg_values_supported",
            ),
            token_endpoint_auth_methods_supported=_optional_tuple(
                doc.get("token_endpoint_auth_methods_supported"),
                "token_endpoint_auth_methods_supported",
            ),
            scopes_supported=_optional_tuple(doc.get("scopes_supported"), "scopes_supported"),
            issuer_template=template,
            quirks=quirks,
            raw=doc,
            authorization_endpoint=strings["authorization_endpoint"],
            token_endpoint=strings["token_endpoint"],
            revocation_endpoint=optional["revocation_endpoint"],
            userinfo_endpoint=optional["userinfo_endpoint"],
            jwks_uri=optional["jwks_uri"],
        )
    except UsageError as exc:
        raise MetadataError(f"the discovery document is unusable: {exc}") from None
