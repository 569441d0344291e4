"""The interactive part of the authorization endpoint: the sign-in form, the consent page
(Approve / Deny) and the session cookie that remembers who signed in."""

from __future__ import annotations

import html
import secrets
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlencode

from ._authorization_response import approve, authorization_error
from ._context import Context
from ._http import Request, Response, error_page, page, parse_params, read_form, redirect
from ._state import Pending

SESSION_COOKIE = "pkceflow_session"
"""The cookie that carries the sign-in session."""
_UNKNOWN_SIGN_IN = "The sign-in request is unknown or has expired."
_UNKNOWN_REQUEST = "The authorization request is unknown or has expired."


def session(ctx: Context, request: Request) -> tuple[str, float] | None:
    """``(user, sign-in time)`` of the request's session cookie, if it names one."""
    cookie = SimpleCookie()
    try:
        for header in request.headers.get_all("Cookie", []):
            cookie.load(header)
    except CookieError:
        return None
    morsel = cookie.get(SESSION_COOKIE)
    if morsel is None:
        return None
    with ctx.state.lock:
        return ctx.state.sessions.get(morsel.value)


def login_page(ctx: Context, transaction: str, message: str) -> Response:
    """The sign-in form, with `message` above it when not empty."""
    action = html.escape(ctx.provider.url("/login"))
    note = f'<p role="alert">{html.escape(message)}</p>\n' if message else ""
    return page(
        200,
        "Sign in",
        f'{note}<form method="post" action="{action}">\n'
        f'<input type="hidden" name="txn" value="{html.escape(transaction)}">\n'
        '<label>Username <input type="text" name="username" autofocus required></label>\n'
        '<button type="submit">Sign in</button>\n</form>',
    )


def consent_page(ctx: Context, transaction: str, pending: Pending, user: str) -> Response:
    """The consent page: the client, the scopes, Approve and Deny."""
    action = html.escape(ctx.provider.url("/consent"))
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in pending.scope)
    return page(
        200,
        "Authorize access",
        f"<p>Signed in as <b>{html.escape(user)}</b>.</p>\n"
        f"<p>The application <b>{html.escape(pending.client_id)}</b> asks for:</p>\n"
        f"<ul>{scopes}</ul>\n"
        f'<form method="post" action="{action}">\n'
        f'<input type="hidden" name="txn" value="{html.escape(transaction)}">\n'
        '<button type="submit" name="decision" value="approve">Approve</button>\n'
        '<button type="submit" name="decision" value="deny">Deny</button>\n</form>',
    )


def login(ctx: Context, request: Request) -> Response:
    """``/login``: show the form (GET) or sign the user in and go on to consent (POST)."""
    params = _parameters(request)
    transaction = params.get("txn")
    if ctx.state.transaction(transaction, ctx.now()) is None or transaction is None:
        return error_page(_UNKNOWN_SIGN_IN)
    if request.method == "GET":
        return login_page(ctx, transaction, "")
    username = params.get("username", "").strip()
    if not username:
        return login_page(ctx, transaction, "Enter a user name.")
    session_id = secrets.token_urlsafe(24)
    with ctx.state.lock:
        ctx.state.sessions[session_id] = (username, ctx.now())
    cookie = f"{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Lax"
    location = ctx.provider.url("/consent") + "?" + urlencode({"txn": transaction})
    return redirect(location, 303, ("Set-Cookie", cookie))


def consent(ctx: Context, request: Request) -> Response:
    """``/consent``: show the page (GET) or carry the decision out (POST)."""
    params = _parameters(request)
    transaction = params.get("txn")
    pending = ctx.state.transaction(transaction, ctx.now())
    if pending is None or transaction is None:
        return error_page(_UNKNOWN_REQUEST)
    signed_in = session(ctx, request)
    if signed_in is None:
        return login_page(ctx, transaction, "Sign in first.")
    decision = params.get("decision")
    if request.method == "GET" or decision not in ("approve", "deny"):
        return consent_page(ctx, transaction, pending, signed_in[0])
    return _decide(ctx, transaction, pending, signed_in, decision == "approve")


def _parameters(request: Request) -> dict[str, str]:
    if request.method == "GET":
        return parse_params(request.query)[0]
    return read_form(request)[0]


def _decide(
    ctx: Context, transaction: str, pending: Pending, signed_in: tuple[str, float], yes: bool
) -> Response:
    with ctx.state.lock:
        ctx.state.pending.pop(transaction, None)
    if not yes:
        return authorization_error(
            ctx, pending, "access_denied", ctx.settings.deny_error_description, 303
        )
    user, auth_time = signed_in
    with ctx.state.lock:
        ctx.state.consents.setdefault((user, pending.client_id), set()).update(pending.scope)
    return approve(ctx, pending, user, auth_time, 303)
