"""OpenID Connect id_token validation (OpenID Connect Core 1.0 section 3.1.3.7), without I/O.

:func:`validate_id_token` is a pure function of the token, a :class:`JsonWebKeySet`,
the :class:`IdTokenExpectations` and the time ``now``: it fetches nothing and reads
no clock. Fetching the JWK Set from the server's ``jwks_uri`` (and fetching it again
when an :class:`~pkceflow_core.errors.IdTokenError` of check ``"key"`` says
``unknown_kid``) is the
adapters' job.

PyJWT verifies the signature, always with the one algorithm the token names once
that algorithm is allowed, and with a key chosen here: a key of the JWK Set bound
to that algorithm, or for HS256/384/512 the client secret and nothing else. PyJWT
checks no claim; every claim is checked here against the ``now`` given, after the
signature.

This module needs PyJWT with cryptography (the ``oidc`` extra); ``import
pkceflow_core`` does not import it. Without them, importing this module raises
:class:`~pkceflow_core.errors.MissingExtraError` (an ImportError and a UsageError)
naming ``pip install 'pkceflow-core[oidc]'``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from ._http import HttpRequest, HttpResponse
from ._json import loads_object
from ._metadata import ServerMetadata
from ._tokens import TokenSet
from .errors import (
    IdTokenError,
    InvalidResponseError,
    MetadataError,
    MissingExtraError,
    TokenError,
    UsageError,
    printable,
)
from .steps import Send, Steps

try:
    import jwt
    from jwt.algorithms import has_crypto as _has_crypto
except ImportError:  # PyJWT is not installed
    _has_crypto = False
if not _has_crypto:  # no PyJWT, or PyJWT without cryptography (RSA, EC, EdDSA)
    raise MissingExtraError(
        "pkceflow_core.oidc (id_token validation) needs PyJWT with cryptography,"
        " which the oidc extra installs: pip install 'pkceflow-core[oidc]'",
        extra="pkceflow-core[oidc]",
        name="jwt",
    ) from None

__all__ = [
    "ASYMMETRIC_ALGS",
    "HMAC_ALGS",
    "IdTokenClaims",
    "IdTokenExpectations",
    "JsonWebKeySet",
    "at_hash",
    "unverified_claims",
    "userinfo_steps",
    "validate_id_token",
]

_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
#: The signature algorithms accepted by default (never ``none``, never a MAC).
ASYMMETRIC_ALGS: tuple[str, ...] = (*_RSA_ALGS, "ES256", "ES384", "ES512", "EdDSA")
#: MAC algorithms, keyed with the client secret (OIDC Core 10.1); only on request.
HMAC_ALGS: tuple[str, ...] = ("HS256", "HS384", "HS512")

# The algorithm a key of each (kty, crv) can verify; RSA keys serve all of _RSA_ALGS.
# OKP keys on Ed448 are left out: their at_hash would need SHAKE256.
_CURVE_ALGS = {
    ("EC", "P-256"): "ES256",
    ("EC", "P-384"): "ES384",
    ("EC", "P-521"): "ES512",
    ("OKP", "Ed25519"): "EdDSA",
}
# JWK members that only a private key has (RFC 7518 6.2.2, 6.3.2; RFC 8037 2).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})

# The hash of at_hash (OIDC Core 3.1.3.6): the one of the alg; for EdDSA on
# Ed25519, SHA-512 (the hash of RFC 8032, as the OpenID Connect errata settle it).
_HASHES: dict[str, Callable[[bytes], Any]] = {
    **dict.fromkeys(("RS256", "PS256", "ES256", "HS256"), hashlib.sha256),
    **dict.fromkeys(("RS384", "PS384", "ES384", "HS384"), hashlib.sha384),
    **dict.fromkeys(("RS512", "PS512", "ES512", "HS512", "EdDSA"), hashlib.sha512),
}

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
# A tenant id substituted into an issuer template: an Entra GUID, or at least
# nothing that could change the URL's structure.
_TENANT = re.compile(r"[A-Za-z0-9._-]{1,100}")
_TENANT_PLACEHOLDER = "{tenantid}"

# Signature verification only: PyJWS checks no claim, so no wall clock is read.
_JWS = jwt.PyJWS()


def at_hash(access_token: str, alg: str) -> str:
    """The ``at_hash`` of ``access_token`` for an id_token signed with ``alg``.

    OpenID Connect Core 3.1.3.6: the base64url (unpadded) left half of the hash of
    the token's octets, with the hash of ``alg`` (SHA-256 for ``*256``, SHA-384,
    SHA-512; SHA-512 for EdDSA, which this module supports on Ed25519 only). The
    same function gives ``c_hash`` from an authorization code. Raises UsageError
    for an ``alg`` without a defined hash (``none``, unknown names).
    """
    hash_function = _HASHES.get(alg)
    if hash_function is None:
        raise UsageError(f"at_hash is not defined for alg {printable(alg, 40)!r}")
    digest: bytes = hash_function(access_token.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _describe_keys(keys: tuple[jwt.PyJWK, ...]) -> str:
    return "(" + ", ".join(f"{k.key_id!r}:{k.algorithm_name}" for k in keys) + ")"


def _compare_keys(keys: tuple[jwt.PyJWK, ...]) -> tuple[tuple[object, ...], ...]:
    # PyJWK has no equality of its own; cryptography's public keys have one.
    return tuple((k.key_id, k.algorithm_name, k.key) for k in keys)


def _parse_jwk(jwk: object) -> list[jwt.PyJWK]:
    """One PyJWK per algorithm ``jwk`` may verify; [] for a key to ignore (RFC 7517 5)."""
    if not isinstance(jwk, dict):
        return []
    kty = jwk.get("kty")
    if not isinstance(kty, str):
        return []
    if kty in ("RSA", "EC", "OKP") and not _PRIVATE_MEMBERS.isdisjoint(jwk):
        # Whoever can read the JWKS could sign id_tokens: trust none of it.
        raise IdTokenError(
            "the JWKS publishes private key material; no key of it is trusted", check="jwks"
        )
    use, ops, kid = jwk.get("use"), jwk.get("key_ops"), jwk.get("kid")
    if use not in (None, "sig") or (ops is not None and not _lists_verify(ops)):
        return []
    if kid is not None and not isinstance(kid, str):
        return []
    crv = jwk.get("crv")
    if kty == "RSA":
        algs: tuple[str, ...] = _RSA_ALGS
    else:
        alg = _CURVE_ALGS.get((kty, crv)) if isinstance(crv, str) else None
        algs = () if alg is None else (alg,)
    declared = jwk.get("alg")
    if declared is not None:
        # RFC 7517 4.4: a key that names its algorithm is used with that one only.
        algs = tuple(a for a in algs if a == declared)
    try:
        return [jwt.PyJWK(jwk, alg) for alg in algs]
    except jwt.PyJWTError:  # key material missing or invalid
        return []


def _lists_verify(ops: object) -> bool:
    return isinstance(ops, list) and "verify" in ops


@attrs.frozen
class JsonWebKeySet:
    """The keys a server signs id_tokens with, parsed from its JWK Set (RFC 7517).

    Each entry is a ``jwt.PyJWK`` bound to one algorithm: a key that names its
    ``alg`` appears once, an RSA key without ``alg`` once per RS/PS algorithm.
    :meth:`from_dict` ignores keys whose ``use`` is not ``sig``, whose
    ``key_ops`` lack ``verify``, or whose type, curve or material is not
    understood; it keeps RSA, EC (P-256, P-384, P-521) and OKP Ed25519 keys.
    An empty set (``JsonWebKeySet()``) suits a client that only accepts
    HS256/384/512 id_tokens.
    """

    #: Equal sets hold the same public keys under the same kids and algs, in order.
    #: (Keys are unhashable, so they are left out of the hash.)
    keys: tuple[jwt.PyJWK, ...] = attrs.field(
        default=(), repr=_describe_keys, eq=_compare_keys, hash=False
    )

    @classmethod
    def from_dict(cls, doc: object) -> JsonWebKeySet:
        """Parse a JWK Set document; IdTokenError (check ``"jwks"``) when it is not usable.

        A document that publishes private key members (``d`` and the like) is
        refused whole: its keys cannot be trusted.
        """
        if not isinstance(doc, dict):
            raise IdTokenError("the JWKS is not a JSON object", check="jwks")
        members = doc.get("keys")
        if not isinstance(members, list):
            raise IdTokenError("the JWKS has no keys array (RFC 7517 5)", check="jwks")
        keys = [key for member in members for key in _parse_jwk(member)]
        if not keys:
            raise IdTokenError(
                "the JWKS holds no key usable to verify id_tokens"
                " (RSA, EC P-256/P-384/P-521 or Ed25519, with use sig)",
                check="jwks",
            )
        return cls(tuple(keys))

    @classmethod
    def from_json(cls, body: bytes) -> JsonWebKeySet:
        """Parse a ``jwks_uri`` response body; IdTokenError (check ``"jwks"``) if unusable."""
        try:
            doc = loads_object(body, what="the JWKS")
        except InvalidResponseError as exc:
            raise IdTokenError(str(exc), check="jwks") from None
        return cls.from_dict(doc)

    def by_kid(self, kid: str) -> tuple[jwt.PyJWK, ...]:
        """The entries whose ``kid`` is ``kid``, for any algorithm."""
        return tuple(k for k in self.keys if k.key_id == kid)

    def for_alg(self, alg: str, kid: str | None = None) -> tuple[jwt.PyJWK, ...]:
        """The entries that verify ``alg`` (and carry ``kid``, when one is given)."""
        return tuple(
            k for k in self.keys if k.algorithm_name == alg and (kid is None or k.key_id == kid)
        )


def _to_algs(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen(kw_only=True)
class IdTokenExpectations:
    """What a valid id_token must say, for :func:`validate_id_token`.

    ``nonce`` is the nonce the login sent; None only when validating the id_token
    of a refresh (OIDC Core 12.2), where a ``nonce`` claim is allowed but not
    checked. ``allowed_algs`` defaults to every asymmetric algorithm (see
    :meth:`from_server` for the server's list); listing HS256/384/512 is the
    opt-in to MAC-signed id_tokens and needs ``client_secret``, the only key they
    are ever verified with. ``leeway`` (seconds) absorbs clock skew for ``exp``,
    ``iat``, ``nbf`` and ``auth_time``. ``max_age`` (seconds, as sent in the
    authorization request) requires ``auth_time`` no older than that; it is checked
    on logins only (``nonce`` set), since a refreshed id_token keeps the original
    ``auth_time``. ``access_token``, when given, is checked against ``at_hash``
    when the token has one.

    ``issuer_template`` (e.g. ``https://login.microsoftonline.com/{tenantid}/v2.0``)
    also accepts a token whose ``iss`` is the template with ``{tenantid}``
    replaced by the token's own ``tid`` claim (Microsoft Entra multi-tenant apps).
    Every tenant can mint such tokens: restrict ``tid`` yourself if only some may
    sign in. Raises UsageError for invalid settings.
    """

    issuer: str
    client_id: str
    nonce: str | None = attrs.field(repr=False)
    allowed_algs: tuple[str, ...] = attrs.field(default=ASYMMETRIC_ALGS, converter=_to_algs)
    leeway: float = 60.0
    max_age: int | None = None
    access_token: str | None = attrs.field(default=None, repr=False)
    client_secret: str | None = attrs.field(default=None, repr=False)
    issuer_template: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.issuer or not self.client_id:
            raise UsageError("an id_token check needs the issuer and the client_id")
        if self.nonce == "":
            raise UsageError("the nonce must not be empty (None on refresh)")
        if not self.allowed_algs:
            raise UsageError("allowed_algs must name at least one algorithm")
        for alg in self.allowed_algs:
            if alg not in ASYMMETRIC_ALGS and alg not in HMAC_ALGS:
                raise UsageError(f"{printable(alg, 40)!r} is not an id_token alg pkceflow allows")
            if alg in HMAC_ALGS and not self.client_secret:
                raise UsageError(f"{alg} id_tokens are verified with the client_secret: give one")
        if isinstance(self.leeway, bool) or not 0 <= self.leeway < math.inf:
            raise UsageError("leeway must be a finite number of seconds, 0 or more")
        if self.max_age is not None and (isinstance(self.max_age, bool) or self.max_age < 0):
            raise UsageError("max_age must be a number of seconds, 0 or more")
        if self.issuer_template is not None and _TENANT_PLACEHOLDER not in self.issuer_template:
            raise UsageError(f"issuer_template must contain {_TENANT_PLACEHOLDER}")

    @classmethod
    def from_server(
        cls,
        server: ServerMetadata,
        *,
        client_id: str,
        nonce: str | None,
        leeway: float = 60.0,
        max_age: int | None = None,
        access_token: str | None = None,
        client_secret: str | None = None,
        allow_hmac: bool = False,
        issuer_template: str | None = None,
    ) -> IdTokenExpectations:
        """Expectations for id_tokens of ``server``, whose issuer must be known.

        ``allowed_algs`` is the server's ``id_token_signing_alg_values_supported``
        intersected with :data:`ASYMMETRIC_ALGS` (all of them when the server does
        not say), plus HS256/384/512 where the server lists them and
        ``allow_hmac`` is True (which needs ``client_secret``). MetadataError when
        nothing is left; UsageError for invalid settings.
        """
        if server.issuer is None:
            raise UsageError("the server metadata names no issuer to check id_tokens against")
        if allow_hmac and not client_secret:
            raise UsageError("allow_hmac needs the client_secret, the key of HS* id_tokens")
        listed = server.id_token_signing_alg_values_supported
        if listed is None:
            algs = ASYMMETRIC_ALGS
        else:
            wanted = ASYMMETRIC_ALGS + HMAC_ALGS if allow_hmac else ASYMMETRIC_ALGS
            algs = tuple(alg for alg in wanted if alg in listed)
            if not algs:
                raise MetadataError(
                    "the server signs id_tokens with no algorithm this client accepts"
                    f" (it lists {', '.join(printable(a, 20) for a in listed[:10]) or 'none'})"
                )
        return cls(
            issuer=server.issuer,
            client_id=client_id,
            nonce=nonce,
            allowed_algs=algs,
            leeway=leeway,
            max_age=max_age,
            access_token=access_token,
            client_secret=client_secret,
            issuer_template=issuer_template,
        )


@attrs.frozen
class IdTokenClaims(Mapping[str, Any]):
    """The claims of a validated id_token: the checked ones as attributes, all by key.

    Times are seconds since the epoch. ``claims`` holds every claim as sent (it
    may hold personal data) and is left out of repr, as is the nonce; the token
    itself is not kept. ``claims["email"]`` and ``claims.get("tid")`` work on the
    value directly.
    """

    iss: str
    sub: str
    aud: tuple[str, ...]
    exp: float
    iat: float
    auth_time: float | None = None
    azp: str | None = None
    nonce: str | None = attrs.field(default=None, repr=False)
    claims: Mapping[str, Any] = attrs.field(factory=dict, repr=False, hash=False)

    def __getitem__(self, name: str) -> Any:
        return self.claims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.claims)

    def __len__(self) -> int:
        return len(self.claims)


def _decode_object(segment: str) -> dict[str, Any] | None:
    """A base64url segment holding one JSON object with unique members, or None."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:
        return None
    return _json_object(raw)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        return loads_object(raw, what="an id_token part")
    except InvalidResponseError:
        return None


def _seconds(value: object) -> float | None:
    """A JSON number as finite float seconds, or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def _select_key(keys: JsonWebKeySet, alg: str, kid: str | None) -> jwt.PyJWK:
    candidates = keys.for_alg(alg, kid)
    if len(candidates) == 1:
        return candidates[0]
    if kid is None:
        if candidates:
            raise IdTokenError(
                f"the id_token names no kid and {len(candidates)} keys of the JWKS verify {alg}",
                check="key",
            )
        raise IdTokenError(f"the JWKS has no key that verifies {alg}", check="key")
    shown = printable(kid, 80)
    if candidates:
        raise IdTokenError(
            f"the JWKS has {len(candidates)} {alg} keys with kid {shown!r}", check="key"
        )
    if keys.by_kid(kid):
        raise IdTokenError(f"the JWKS key {shown!r} is not one for {alg}", check="key")
    raise IdTokenError(
        f"the JWKS has no key {shown!r}; the server may have rotated its keys",
        check="key",
        unknown_kid=True,
    )


def _verified_payload(
    id_token: str, keys: JsonWebKeySet, expected: IdTokenExpectations
) -> tuple[str, dict[str, Any]]:
    """Check the header and the signature; return the alg and the signed payload."""
    parts = id_token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts):
        raise IdTokenError("the id_token is not a JWS of three base64url parts", check="malformed")
    header = _decode_object(parts[0])
    if header is None:
        raise IdTokenError("the id_token header is not a base64url JSON object", check="malformed")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or not (kid is None or isinstance(kid, str)):
        raise IdTokenError("the id_token header needs a string alg (and kid)", check="malformed")
    if alg == "none":
        raise IdTokenError("the id_token is not signed (alg none)", check="algorithm")
    if alg not in expected.allowed_algs:
        raise IdTokenError(
            f"the id_token is signed with {printable(alg, 40)!r};"
            f" allowed: {', '.join(expected.allowed_algs)}",
            check="algorithm",
        )
    key: jwt.PyJWK | bytes
    if alg in HMAC_ALGS:
        # Never a key of the JWKS: a public key must not become an HMAC secret.
        assert expected.client_secret is not None  # IdTokenExpectations requires it
        key = expected.client_secret.encode("utf-8")
    else:
        key = _select_key(keys, alg, kid)
    try:
        signed = _JWS.decode_complete(id_token, key=key, algorithms=[alg])
    except jwt.InvalidSignatureError:
        raise IdTokenError(
            f"the id_token's {alg} signature does not verify", check="signature"
        ) from None
    except jwt.PyJWTError:
        raise IdTokenError("the id_token is not a JWS PyJWT accepts", check="malformed") from None
    payload = _json_object(signed["payload"])
    if payload is None:
        raise IdTokenError("the id_token payload is not a JSON object", check="malformed")
    return alg, payload


def _check_issuer(claims: Mapping[str, Any], expected: IdTokenExpectations) -> str:
    iss, tid = claims.get("iss"), claims.get("tid")
    if iss == expected.issuer:
        return expected.issuer
    template = expected.issuer_template
    if template is not None and isinstance(tid, str) and _TENANT.fullmatch(tid):
        tenant_issuer = template.replace(_TENANT_PLACEHOLDER, tid)
        if iss == tenant_issuer:
            return tenant_issuer
    wanted = repr(expected.issuer)
    if template is not None:
        wanted += f" or {template!r} for the token's tid"
    raise IdTokenError(
        f"the id_token was not issued by {wanted} (OIDC Core 3.1.3.7)", check="issuer"
    )


def _check_audience(
    claims: Mapping[str, Any], expected: IdTokenExpectations
) -> tuple[tuple[str, ...], str | None]:
    aud, azp, client_id = claims.get("aud"), claims.get("azp"), expected.client_id
    if isinstance(aud, str):
        audiences: tuple[str, ...] = (aud,)
    elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        audiences = tuple(aud)
    else:
        raise IdTokenError("the id_token has no aud (a string or strings)", check="audience")
    if client_id not in audiences:
        raise IdTokenError(
            f"the id_token is not meant for the client {client_id!r}", check="audience"
        )
    if len(audiences) > 1 and azp is None:
        raise IdTokenError(
            "the id_token has several audiences and no azp (OIDC Core 3.1.3.7 item 4)",
            check="audience",
        )
    if azp is not None and azp != client_id:
        raise IdTokenError(
            f"the id_token's azp is not the client {client_id!r} (OIDC Core 3.1.3.7 item 5)",
            check="audience",
        )
    return audiences, azp


def _check_times(
    claims: Mapping[str, Any], expected: IdTokenExpectations, now: float
) -> tuple[float, float, float | None]:
    leeway = expected.leeway
    exp = _seconds(claims.get("exp"))
    if exp is None:
        raise IdTokenError("the id_token has no numeric exp", check="expired")
    if exp <= now - leeway:
        raise IdTokenError(
            f"the id_token expired {now - exp:.0f} s ago (leeway {leeway:g} s)",
            check="expired",
        )
    iat = _seconds(claims.get("iat"))
    if iat is None:
        raise IdTokenError("the id_token has no numeric iat", check="issued_at")
    if iat > now + leeway:
        raise IdTokenError(
            f"the id_token was issued {iat - now:.0f} s in the future; is the clock right?",
            check="issued_at",
        )
    if "nbf" in claims:
        nbf = _seconds(claims["nbf"])
        if nbf is None or nbf > now + leeway:
            raise IdTokenError(
                "the id_token's nbf is not a number or in the future", check="issued_at"
            )
    auth_time = None
    if claims.get("auth_time") is not None:
        auth_time = _seconds(claims["auth_time"])
        if auth_time is None:
            raise IdTokenError("the id_token's auth_time is not a number", check="auth_time")
    if expected.max_age is not None and expected.nonce is not None:
        if auth_time is None:
            raise IdTokenError(
                "max_age was requested but the id_token has no auth_time", check="auth_time"
            )
        if auth_time + expected.max_age + leeway < now:
            raise IdTokenError(
                f"the authentication is older than max_age={expected.max_age}: log in again",
                check="auth_time",
            )
    return exp, iat, auth_time


def _check_nonce(claims: Mapping[str, Any], expected: IdTokenExpectations) -> str | None:
    nonce = claims.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise IdTokenError("the id_token's nonce is not a string", check="nonce")
    if expected.nonce is None:
        return nonce
    if nonce is None:
        raise IdTokenError("the id_token has no nonce, but the login sent one", check="nonce")
    if not hmac.compare_digest(nonce.encode("utf-8"), expected.nonce.encode("utf-8")):
        raise IdTokenError("the id_token's nonce is not the one this login sent", check="nonce")
    return nonce


def validate_id_token(
    id_token: str, keys: JsonWebKeySet, expected: IdTokenExpectations, *, now: float
) -> IdTokenClaims:
    """Validate ``id_token`` as OpenID Connect Core 3.1.3.7 asks; return its claims.

    The signature is checked first (header ``alg`` allowed, key chosen by ``kid``
    and ``alg``), then, against ``now`` (seconds since the epoch) and
    ``expected``: ``iss``, ``aud``/``azp``, ``sub``, ``exp``, ``iat``, ``nbf``,
    ``nonce``, ``at_hash``, ``auth_time``. Raises IdTokenError for the first failed
    check, its ``check`` naming the rule; no message holds the token or a claim that
    could be secret.
    """
    alg, payload = _verified_payload(id_token, keys, expected)
    iss = _check_issuer(payload, expected)
    audiences, azp = _check_audience(payload, expected)
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub:
        raise IdTokenError("the id_token has no sub", check="malformed")
    exp, iat, auth_time = _check_times(payload, expected, now)
    nonce = _check_nonce(payload, expected)
    claimed_hash = payload.get("at_hash")
    if claimed_hash is not None and expected.access_token is not None:
        wanted = at_hash(expected.access_token, alg).encode("ascii")
        if not isinstance(claimed_hash, str) or not hmac.compare_digest(
            claimed_hash.encode("utf-8"), wanted
        ):
            raise IdTokenError(
                "the id_token's at_hash does not match the access token", check="at_hash"
            )
    return IdTokenClaims(
        iss=iss,
        sub=sub,
        aud=audiences,
        exp=exp,
        iat=iat,
        auth_time=auth_time,
        azp=azp,
        nonce=nonce,
        claims=payload,
    )


# -- what an id_token's holder may read, and userinfo -----------------------------------


def unverified_claims(id_token: str) -> dict[str, Any]:
    """The claims of an id_token that was validated when it was stored.

    Reads the payload only; it is for tokens pkceflow checked before storing them.
    IdTokenError (check ``"malformed"``) when it cannot be read.
    """
    try:
        payload = id_token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        raise IdTokenError("the stored id_token cannot be read", check="malformed") from None
    if not isinstance(data, dict):
        raise IdTokenError("the stored id_token cannot be read", check="malformed")
    return data


_WWW_AUTH_PARAM = re.compile(r'(error|error_description)="([^"]*)"')


def userinfo_steps(server: ServerMetadata, tokens: TokenSet) -> Steps[dict[str, Any]]:
    """Ask the userinfo endpoint (OpenID Connect Core 5.3) with the access token.

    When the token set has an id_token, the answer's ``sub`` must equal its ``sub``
    (5.3.2) or IdTokenError is raised and the answer is not used. A refused token
    raises TokenError (RFC 6750 3: from the WWW-Authenticate header).
    """
    if server.userinfo_endpoint is None:
        raise UsageError("the server has no userinfo endpoint")
    response: HttpResponse = yield Send(
        HttpRequest(
            "GET",
            server.userinfo_endpoint,
            {"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"},
            retry_safe=True,
        )
    )
    if response.status != 200:
        params = dict(_WWW_AUTH_PARAM.findall(response.headers.get("www-authenticate", "")))
        if "error" in params:
            raise TokenError(
                params["error"], params.get("error_description"), status=response.status
            )
        raise InvalidResponseError("the userinfo endpoint refused", status=response.status)
    if not response.headers.get("content-type", "").lower().startswith("application/json"):
        raise InvalidResponseError(
            "the userinfo answer is not JSON (signed userinfo is not supported)",
            status=response.status,
        )
    claims = loads_object(response.body, what="the userinfo answer", status=response.status)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidResponseError("the userinfo answer has no sub", status=response.status)
    if tokens.id_token is not None and unverified_claims(tokens.id_token).get("sub") != sub:
        raise IdTokenError(
            "the userinfo sub differs from the id_token's; its claims were not used"
            " (OpenID Connect Core 5.3.2)",
            check="userinfo_sub",
        )
    return claims
