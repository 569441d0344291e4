"""3. Core operations per second vs the standard library doing the same work, and the peers.

Each group times a stdlib baseline, pkceflow_core, and the peers' nearest equivalent
(best of 9 interleaved batches of ~80 ms of CPU time each). The ratio is baseline
ops/s divided by the candidate's ops/s, i.e. how many times longer one operation takes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from benchmarks._common import Row, best_rate, emit, log, row

GOAL = 1.5
ENDPOINT = "https://id.example.com/oauth2/authorize"
TOKEN_URL = "https://id.example.com/oauth2/token"
ISSUER = "https://id.example.com"
REDIRECT = "http://127.0.0.1:53817/callback"
CLIENT_ID = "bench-client-0123456789"
SCOPE = "openid email"
STATE = "Zt3v0o9hQmJt2k5u1i8yq0X4mVQp6Z7b3nA1cD2eF4g"
CODE = "SplxlOBeZQQYbYS6WxSbIA.4f3e2d1c0b9a8776655443322110ffeeddccbbaa"
CALLBACK = f"{REDIRECT}?code={CODE}&state={STATE}&iss={quote(ISSUER, safe='')}"
ID_TOKEN = ".".join(
    base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode() for n in (60, 420, 256)
)
TOKEN_BODY = json.dumps(
    {
        "access_token": "SlAV32hkKG" + "x" * 33,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "8xLOxBtZp8" + "y" * 33,
        "scope": "openid email",
        "id_token": ID_TOKEN,
    }
).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def stdlib_pkce() -> tuple[str, str]:
    verifier = _b64(secrets.token_bytes(48))
    return verifier, _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def stdlib_authorize() -> str:
    """What AuthorizationCodeFlow does, minimally: secrets, two URL checks, the URL."""
    urlsplit(REDIRECT)
    urlsplit(ENDPOINT)
    _, challenge = stdlib_pkce()
    params = [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("scope", SCOPE),
        ("state", secrets.token_urlsafe(32)),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("nonce", secrets.token_urlsafe(32)),
    ]
    return ENDPOINT + "?" + urlencode(params, quote_via=quote)


FIXED_PARAMS = [
    ("response_type", "code"),
    ("client_id", CLIENT_ID),
    ("redirect_uri", REDIRECT),
    ("scope", SCOPE),
    ("state", STATE),
    ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
    ("code_challenge_method", "S256"),
    ("nonce", STATE),
]


def stdlib_url_only() -> str:
    return ENDPOINT + "?" + urlencode(FIXED_PARAMS, quote_via=quote)


_STATE_BYTES = STATE.encode()


def stdlib_callback() -> str:
    params = dict(parse_qsl(urlsplit(CALLBACK).query, keep_blank_values=True))
    if not hmac.compare_digest(params["state"].encode(), _STATE_BYTES):
        raise ValueError("state")
    if params.get("iss") != ISSUER:
        raise ValueError("iss")
    return params["code"]


def stdlib_token() -> Any:
    return json.loads(TOKEN_BODY)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def stdlib_token_unique_keys() -> Any:
    """json.loads refusing repeated members, as strict parsing must: the hook's own cost."""
    return json.loads(TOKEN_BODY, object_pairs_hook=_unique_keys)


def groups() -> list[tuple[str, str, dict[str, Callable[[], object]]]]:
    """(group, baseline label, {label: callable}); the first callable is the baseline."""
    from pkceflow_core import (
        AuthorizationCodeFlow,
        ClientConfig,
        HttpResponse,
        Pkce,
        ServerMetadata,
        parse_token_response,
    )
    from pkceflow_core._authorization_url import build_authorization_url
    from pkceflow_core._callback import parse_callback_params, verify_callback

    server = ServerMetadata(
        authorization_endpoint=ENDPOINT, token_endpoint=TOKEN_URL, issuer=ISSUER
    )
    client = ClientConfig(CLIENT_ID)
    response = HttpResponse(200, {"content-type": "application/json"}, TOKEN_BODY)
    now = time.time()
    requested = ("openid", "email")

    def pkceflow_pkce() -> str:
        return Pkce.generate().challenge

    def pkceflow_authorize() -> str:
        return AuthorizationCodeFlow(
            server, client, redirect_uri=REDIRECT, scope=SCOPE
        ).authorization_url

    def pkceflow_url_only() -> str:
        return build_authorization_url(ENDPOINT, FIXED_PARAMS)

    def pkceflow_callback() -> str:
        return verify_callback(
            parse_callback_params(CALLBACK),
            expected_state=STATE,
            expected_issuer=ISSUER,
            require_iss=True,
        ).code

    def pkceflow_token() -> object:
        return parse_token_response(response, now=now, requested_scope=requested)

    pkce: dict[str, Callable[[], object]] = {
        "stdlib secrets+hashlib+base64": stdlib_pkce,
        "pkceflow Pkce.generate().challenge": pkceflow_pkce,
    }
    authorize: dict[str, Callable[[], object]] = {
        "stdlib secrets+urlsplit+urlencode": stdlib_authorize,
        "pkceflow AuthorizationCodeFlow(...).authorization_url": pkceflow_authorize,
    }
    url_only: dict[str, Callable[[], object]] = {
        "stdlib urlencode": stdlib_url_only,
        "pkceflow build_authorization_url": pkceflow_url_only,
    }
    callback: dict[str, Callable[[], object]] = {
        "stdlib urlsplit+parse_qsl+compare_digest": stdlib_callback,
        "pkceflow parse_callback_params+verify_callback": pkceflow_callback,
    }
    token: dict[str, Callable[[], object]] = {
        "stdlib json.loads": stdlib_token,
        "pkceflow parse_token_response": pkceflow_token,
        "stdlib json.loads with a duplicate-key object_pairs_hook": stdlib_token_unique_keys,
    }
    add_peers(pkce, authorize, callback, token)
    return [
        ("PKCE pair", "stdlib", pkce),
        ("authorize URL with PKCE+state+nonce", "stdlib", authorize),
        ("authorize URL only, fixed params", "stdlib", url_only),
        ("callback validation", "stdlib", callback),
        ("token response parse", "stdlib", token),
    ]


def add_peers(
    pkce: dict[str, Callable[[], object]],
    authorize: dict[str, Callable[[], object]],
    callback: dict[str, Callable[[], object]],
    token: dict[str, Callable[[], object]],
) -> None:
    """The peers' nearest equivalents (untyped libraries, hence the ignores)."""
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # loopback redirect URIs
    warnings.simplefilter("ignore")  # msal's advice about response_mode
    from authlib.common.security import generate_token  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from authlib.integrations.requests_client import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        OAuth2Session,
    )
    from authlib.oauth2.rfc6749 import OAuth2Token  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        parse_authorization_code_response,
    )
    from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from google_auth_oauthlib.flow import Flow  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from msal.oauth2cli.oauth2 import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        _generate_pkce_code_verifier,
    )
    from msal.oauth2cli.oidc import Client as MsalClient  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from oauthlib.oauth2 import WebApplicationClient  # type: ignore[import-untyped, import-not-found, unused-ignore]

    oauthlib_client = WebApplicationClient(CLIENT_ID)
    session = OAuth2Session(
        CLIENT_ID, redirect_uri=REDIRECT, scope=SCOPE, code_challenge_method="S256"
    )
    google = Flow.from_client_config(
        {"installed": {"client_id": CLIENT_ID, "auth_uri": ENDPOINT, "token_uri": TOKEN_URL}},
        scopes=SCOPE.split(),
        redirect_uri=REDIRECT,
    )
    msal_client = MsalClient(
        {"authorization_endpoint": ENDPOINT, "token_endpoint": TOKEN_URL}, CLIENT_ID
    )

    def authlib_pkce() -> object:
        return create_s256_code_challenge(generate_token(64))

    def oauthlib_pkce() -> object:
        verifier = oauthlib_client.create_code_verifier(64)
        return oauthlib_client.create_code_challenge(verifier, "S256")

    def msal_pkce() -> object:
        return _generate_pkce_code_verifier(64)["code_challenge"]

    pkce["Authlib generate_token+create_s256_code_challenge"] = authlib_pkce
    pkce["oauthlib create_code_verifier+create_code_challenge"] = oauthlib_pkce
    pkce["msal _generate_pkce_code_verifier"] = msal_pkce

    def authlib_authorize() -> object:
        return session.create_authorization_url(
            ENDPOINT, code_verifier=generate_token(64), nonce=generate_token(43)
        )[0]

    def oauthlib_authorize() -> object:
        verifier = oauthlib_client.create_code_verifier(64)
        return oauthlib_client.prepare_request_uri(
            ENDPOINT,
            redirect_uri=REDIRECT,
            scope=SCOPE,
            state=secrets.token_urlsafe(32),
            code_challenge=oauthlib_client.create_code_challenge(verifier, "S256"),
            code_challenge_method="S256",
            nonce=secrets.token_urlsafe(32),
        )

    def google_authorize() -> object:
        google.code_verifier = None  # make a new one per login, as a new Flow would
        return google.authorization_url()[0]

    def msal_authorize() -> object:
        return msal_client.initiate_auth_code_flow(scope=SCOPE.split(), redirect_uri=REDIRECT)[
            "auth_uri"
        ]

    authorize["Authlib OAuth2Session.create_authorization_url"] = authlib_authorize
    authorize["oauthlib WebApplicationClient.prepare_request_uri (+PKCE, state)"] = (
        oauthlib_authorize
    )
    authorize["google-auth-oauthlib Flow.authorization_url"] = google_authorize
    authorize["msal oauth2cli initiate_auth_code_flow"] = msal_authorize

    def authlib_callback() -> object:
        return parse_authorization_code_response(CALLBACK, state=STATE)["code"]

    def oauthlib_callback() -> object:
        return oauthlib_client.parse_request_uri_response(CALLBACK, state=STATE)["code"]

    callback["Authlib parse_authorization_code_response"] = authlib_callback
    callback["oauthlib parse_request_uri_response"] = oauthlib_callback

    def authlib_token() -> object:
        return OAuth2Token.from_dict(json.loads(TOKEN_BODY))

    text = TOKEN_BODY.decode()

    def oauthlib_token() -> object:
        return oauthlib_client.parse_request_body_response(text, scope=SCOPE.split())

    token["Authlib OAuth2Token.from_dict(json.loads)"] = authlib_token
    token["oauthlib parse_request_body_response"] = oauthlib_token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rows: list[Row] = []
    for group, _, candidates in groups():
        log(f"core ops: {group} ({len(candidates)} candidates)")
        rates = best_rate(candidates, repeat=args.repeat)
        labels = list(candidates)
        base_label, base_rate = labels[0], rates[labels[0]]
        for label in labels[1:]:
            ratio = base_rate / rates[label]
            is_ours = label.startswith("pkceflow")
            rows.append(
                row(
                    "3 core ops/s",
                    f"{group}: {label}",
                    f"{rates[label]:,.0f}/s",
                    versus=f"{base_label} {base_rate:,.0f}/s",
                    ratio=ratio,
                    goal=f"<= {GOAL:g}x" if is_ours else "",
                    met=(ratio <= GOAL) if is_ours else None,
                    note=f"best of {args.repeat}",
                )
            )
    emit(rows)


if __name__ == "__main__":
    main()
