"""The authorization endpoint (RFC 6749 4.1.1, RFC 7636 4.3, OpenID Connect Core 3.1.2).

Errors before the redirect URI is trusted are shown as a page; later ones are sent back to
the client.  Each rule is one function, applied in order.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ._authorization_response import approve, authorization_error
from ._checks import Refusal, first_refusal
from ._context import Context
from ._http import BadRequest, Request, Response, error_page, parse_params, read_form
from ._interaction import consent_page, login_page, session
from ._state import Pending
from .clients import RegisteredClient, is_loopback_host
from .settings import ProviderSettings

_TRANSACTION_LIFETIME = 600.0
_S256_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_\-]{43}")


@dataclass(frozen=True)
class _Query:
    params: dict[str, str]
    repeated: set[str]
    settings: ProviderSettings

    def scope(self) -> tuple[str, ...]:
        # RFC 6749 3.3: the default scope when none is asked for.
        requested = self.params.get("scope", self.settings.default_scope)
        return tuple(dict.fromkeys(requested.split()))

    def prompt(self) -> set[str]:
        return set(self.params.get("prompt", "").split())


def authorize(ctx: Context, request: Request) -> Response:
    """``/authorize``: check the request, then approve, or ask the user to sign in."""
    now = ctx.now()
    try:
        if request.method == "POST":
            params, repeated = read_form(request)
        else:
            params, repeated = parse_params(request.query)
    except BadRequest as exc:
        return error_page(str(exc))
    query = _Query(params, repeated, ctx.settings)
    target = _trusted_target(ctx, query)
    if isinstance(target, Response):
        return target
    client, redirect_uri = target
    pending = Pending(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        redirect_uri_sent="redirect_uri" in params,
        scope=(),
        state=None if "state" in repeated else params.get("state"),
        nonce=params.get("nonce"),
        code_challenge="",
        expires_at=now + _TRANSACTION_LIFETIME,
    )
    refusal = first_refusal(_REDIRECTED_CHECKS, query)
    if refusal is not None:
        return authorization_error(ctx, pending, *refusal)
    pending.code_challenge, pending.scope = params["code_challenge"], query.scope()
    return _answer(ctx, request, pending, query.prompt(), now)


# ---- before the redirect URI is trusted: an error page


def _trusted_target(ctx: Context, query: _Query) -> tuple[RegisteredClient, str] | Response:
    """The client and the redirect URI to answer at, or the error page."""
    for name in ("client_id", "redirect_uri"):
        if name in query.repeated:
            return error_page(f"The {name} parameter is repeated.")
    client_id = query.params.get("client_id")
    if client_id is None:
        return error_page("The client_id parameter is missing.")
    client = ctx.state.client(client_id)
    if client is None:
        return error_page(f"Unknown client: {client_id}")
    redirect_uri = query.params.get("redirect_uri")
    if redirect_uri is None:
        if not _may_omit_redirect_uri(client):
            return error_page("The redirect_uri parameter is required for this client.")
        return client, client.redirect_uris[0]
    if not _redirect_uri_allowed(ctx, client, redirect_uri):
        return error_page(f"The redirect_uri is not registered for this client: {redirect_uri}")
    return client, redirect_uri


def _may_omit_redirect_uri(client: RegisteredClient) -> bool:
    """One registered redirect URI, not a loopback one (whose port varies): RFC 6749 3.1.2.3."""
    loopback = is_loopback_host(urlsplit(client.redirect_uris[0]).hostname)
    return len(client.redirect_uris) == 1 and not loopback


def _redirect_uri_allowed(ctx: Context, client: RegisteredClient, uri: str) -> bool:
    """Registered, or registered plus the path segment pkceflow adds for this server."""
    if client.allows_redirect_uri(uri):
        return True
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    head, _, label = parts.path.rpartition("/")
    if not head or label not in ctx.provider.pkceflow_redirect_labels():
        return False
    return client.allows_redirect_uri(urlunsplit(parts._replace(path=head)))


# ---- after: an error at the redirect URI, one rule each


def _no_repeated_parameter(query: _Query) -> Refusal | None:
    # RFC 8707 2: resource may be given more than once; nothing else may.
    repeated = query.repeated - {"resource"}
    if repeated:
        return Refusal("invalid_request", f"The {min(repeated)} parameter is repeated.")
    return None


def _response_type_present(query: _Query) -> Refusal | None:
    if "response_type" not in query.params:
        return Refusal("invalid_request", "The response_type parameter is missing.")
    return None


def _response_type_is_code(query: _Query) -> Refusal | None:
    if query.params["response_type"] != "code":
        return Refusal("unsupported_response_type", "Only response_type=code is supported.")
    return None


def _response_mode_is_query(query: _Query) -> Refusal | None:
    if query.params.get("response_mode", "query") != "query":
        return Refusal("invalid_request", "Only response_mode=query is supported.")
    return None


def _no_request_object(query: _Query) -> Refusal | None:
    if "request" in query.params:
        return Refusal("request_not_supported", "Request objects are not supported.")
    return None


def _no_request_uri(query: _Query) -> Refusal | None:
    if "request_uri" in query.params:
        return Refusal("request_uri_not_supported", "request_uri is not supported.")
    return None


def _code_challenge_present(query: _Query) -> Refusal | None:
    if "code_challenge" not in query.params:
        return Refusal("invalid_request", "PKCE is required: code_challenge is missing.")
    return None


def _code_challenge_method_is_s256(query: _Query) -> Refusal | None:
    # RFC 7636 4.3: the method defaults to plain, which is refused.
    if query.params.get("code_challenge_method", "plain") != "S256":
        return Refusal("invalid_request", "The code_challenge_method must be S256.")
    return None


def _code_challenge_well_formed(query: _Query) -> Refusal | None:
    if not _S256_CHALLENGE_RE.fullmatch(query.params["code_challenge"]):
        return Refusal("invalid_request", "The code_challenge is malformed.")
    return None


def _scopes_known(query: _Query) -> Refusal | None:
    unknown = [s for s in query.scope() if s not in query.settings.scopes_supported]
    if unknown:
        return Refusal("invalid_scope", f"Unknown scope: {unknown[0]}")
    return None


def _prompt_none_alone(query: _Query) -> Refusal | None:
    prompt = query.prompt()
    if "none" in prompt and len(prompt) > 1:
        return Refusal("invalid_request", "prompt=none cannot be combined with other values.")
    return None


_REDIRECTED_CHECKS = (
    _no_repeated_parameter,
    _response_type_present,
    _response_type_is_code,
    _response_mode_is_query,
    _no_request_object,
    _no_request_uri,
    _code_challenge_present,
    _code_challenge_method_is_s256,
    _code_challenge_well_formed,
    _scopes_known,
    _prompt_none_alone,
)


# ---- the answer


def _answer(
    ctx: Context, request: Request, pending: Pending, prompt: set[str], now: float
) -> Response:
    """Approve at once, or as the session and remembered consent allow, or ask."""
    settings = ctx.settings
    if not settings.interactive:
        return approve(ctx, pending, settings.default_user, now, 302)
    signed_in = session(ctx, request)
    remembered = signed_in is not None and ctx.state.consented(signed_in[0], pending)
    refusal = _prompt_none_answerable(prompt, signed_in is not None, remembered)
    if refusal is not None:
        return authorization_error(ctx, pending, *refusal)
    if signed_in is not None and remembered and not prompt & {"login", "consent"}:
        return approve(ctx, pending, signed_in[0], signed_in[1], 302)
    transaction = secrets.token_urlsafe(16)
    ctx.state.add_transaction(transaction, pending, now)
    if signed_in is None or prompt & {"login", "select_account"}:
        return login_page(ctx, transaction, "")
    return consent_page(ctx, transaction, pending, signed_in[0])


def _prompt_none_answerable(prompt: set[str], signed_in: bool, remembered: bool) -> Refusal | None:
    """OpenID Connect Core 3.1.2.1: prompt=none needs a session and a remembered consent."""
    if "none" not in prompt:
        return None
    if not signed_in:
        return Refusal("login_required", "The user is not signed in.")
    if not remembered:
        return Refusal("consent_required", "The user has not approved this client.")
    return None
