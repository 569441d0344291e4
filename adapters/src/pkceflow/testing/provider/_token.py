"""The token endpoint (RFC 6749 3.2): the injected delays and failures first, then the form,
the client's authentication and the grant."""

from __future__ import annotations

from ._client_auth import authenticate
from ._context import Context
from ._grants import GRANTS
from ._http import BadRequest, Request, Response, read_form
from ._token_responses import failure_response, oauth_error


def token(ctx: Context, request: Request) -> Response:
    """``/token``: answer a grant, or fail the way the settings ask."""
    settings = ctx.settings
    ctx.wait(settings.take_token_delay())
    failure = settings.take_token_failure()
    if failure is not None:
        return failure_response(failure)
    try:
        form, repeated = read_form(request)
    except BadRequest as exc:
        return oauth_error(ctx, request, "invalid_request", str(exc))
    if repeated:
        description = f"The {min(repeated)} parameter is repeated."
        return oauth_error(ctx, request, "invalid_request", description)
    client = authenticate(ctx, request, form, token_endpoint=True)
    if isinstance(client, Response):
        return client
    grant_type = form.get("grant_type")
    if grant_type is None:
        return oauth_error(ctx, request, "invalid_request", "grant_type is missing.")
    grant = GRANTS.get(grant_type)
    if grant is None:
        description = "Only authorization_code and refresh_token."
        return oauth_error(ctx, request, "unsupported_grant_type", description)
    response = grant(ctx, request, client, form)
    # A server slower than the client's timeout that still carries the request out.
    ctx.wait(settings.token_answer_delay)
    return response
