"""The authorization code flow with PKCE as an explicit state machine.

Every rule about what may happen when lives in this file, and the transitions are
the table ``TRANSITIONS`` below, so the machine can be read, tested and drawn:

    AWAITING_CALLBACK --callback_rejected--> AWAITING_CALLBACK   (state not ours)
    AWAITING_CALLBACK --callback_accepted--> EXCHANGING          (token request out)
    AWAITING_CALLBACK --failed-------------> FAILED              (error=..., mix-up)
    EXCHANGING        --tokens_received----> COMPLETE
    EXCHANGING        --failed-------------> FAILED

A flow never does I/O: it takes what arrived (a callback URL, an HTTP response)
and returns what to do next (an HttpRequest, a TokenSet), and it takes entropy and
time as arguments. A callback whose ``state`` does not match leaves the flow
waiting, so a stray or hostile request to the redirect URI cannot end a login.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._authorization_url import ExtraParams, compose_authorization_url
from ._callback import check_state, parse_callback_params, verify_callback
from ._client_auth import ClientConfig
from ._endpoints import check_endpoint
from ._http import HttpRequest, HttpResponse
from ._metadata import ServerMetadata
from ._pkce import ChallengeMethod, Pkce, TokenBytes, random_token
from ._scope import Scope, normalize_scope
from ._token_request import build_code_exchange_request
from ._token_response import parse_token_response
from ._tokens import TokenSet
from .errors import CallbackError, FlowStateError, PkceflowError, RestoreError, UsageError

__all__ = ["TRANSITIONS", "AuthorizationCodeFlow", "FlowEvent", "FlowState"]

_DUMP_VERSION = 1


class FlowState(enum.Enum):
    """Where a flow stands."""

    AWAITING_CALLBACK = "awaiting_callback"
    EXCHANGING = "exchanging"
    COMPLETE = "complete"
    FAILED = "failed"


class FlowEvent(enum.Enum):
    """What can happen to a flow."""

    CALLBACK_REJECTED = "callback_rejected"
    CALLBACK_ACCEPTED = "callback_accepted"
    TOKENS_RECEIVED = "tokens_received"
    FAILED = "failed"


TRANSITIONS: Mapping[tuple[FlowState, FlowEvent], FlowState] = {
    (FlowState.AWAITING_CALLBACK, FlowEvent.CALLBACK_REJECTED): FlowState.AWAITING_CALLBACK,
    (FlowState.AWAITING_CALLBACK, FlowEvent.CALLBACK_ACCEPTED): FlowState.EXCHANGING,
    (FlowState.AWAITING_CALLBACK, FlowEvent.FAILED): FlowState.FAILED,
    (FlowState.EXCHANGING, FlowEvent.TOKENS_RECEIVED): FlowState.COMPLETE,
    (FlowState.EXCHANGING, FlowEvent.FAILED): FlowState.FAILED,
}


class AuthorizationCodeFlow:
    """One login: PKCE, state and nonce, the authorize URL, the callback, the exchange.

    ``nonce`` is made when ``openid`` is in the scope (OpenID Connect Core 3.1.2.1).
    ``token_bytes`` is the entropy source (default: the OS CSPRNG). ``extra_params``
    go into the authorize URL (prompt, login_hint, audience; a list repeats one,
    such as ``resource``). Raises UsageError for invalid settings.
    """

    __slots__ = (
        "_client",
        "_nonce",
        "_pkce",
        "_redirect_uri",
        "_scope",
        "_server",
        "_state",
        "_state_value",
        "authorization_url",
    )

    def __init__(
        self,
        server: ServerMetadata,
        client: ClientConfig,
        *,
        redirect_uri: str,
        scope: str | Iterable[str] | None = None,
        extra_params: ExtraParams | None = None,
        challenge_method: ChallengeMethod = "S256",
        token_bytes: TokenBytes = os.urandom,
    ) -> None:
        check_endpoint(redirect_uri, name="redirect_uri")
        self._server = server
        self._client = client
        self._redirect_uri = redirect_uri
        self._scope = normalize_scope(scope)
        self._pkce = Pkce.generate(challenge_method, token_bytes=token_bytes)
        self._state_value = random_token(32, token_bytes)
        self._nonce = random_token(32, token_bytes) if "openid" in self._scope else None
        self._state = FlowState.AWAITING_CALLBACK
        self.authorization_url = self._build_url(extra_params)

    def _build_url(self, extra: ExtraParams | None) -> str:
        params = [
            ("response_type", "code"),
            ("client_id", self._client.client_id),
            ("redirect_uri", self._redirect_uri),
        ]
        if self._scope:
            params.append(("scope", " ".join(self._scope)))
        params += [
            ("state", self._state_value),
            ("code_challenge", self._pkce.challenge),
            ("code_challenge_method", self._pkce.method),
        ]
        if self._nonce is not None:
            params.append(("nonce", self._nonce))
        # ServerMetadata checked the endpoint when it was made.
        return compose_authorization_url(self._server.authorization_endpoint, params, extra)

    def __repr__(self) -> str:
        return f"<AuthorizationCodeFlow {self._state.value} client_id={self._client.client_id!r}>"

    # -- what the flow knows ---------------------------------------------------

    @property
    def state(self) -> FlowState:
        """The flow's current FlowState."""
        return self._state

    @property
    def redirect_uri(self) -> str:
        """The redirect URI sent in the authorization request."""
        return self._redirect_uri

    @property
    def scope(self) -> Scope:
        """The scopes asked for."""
        return self._scope

    @property
    def nonce(self) -> str | None:
        """The OpenID Connect nonce sent, to compare with the id_token's."""
        return self._nonce

    @property
    def code_challenge(self) -> str:
        """The PKCE challenge sent (not secret; the verifier stays inside)."""
        return self._pkce.challenge

    @property
    def server(self) -> ServerMetadata:
        """The authorization server this flow talks to."""
        return self._server

    # -- the steps ---------------------------------------------------------------

    def _move(self, event: FlowEvent) -> None:
        try:
            self._state = TRANSITIONS[(self._state, event)]
        except KeyError:
            action = event.value.replace("_", " ")
            raise FlowStateError(
                f"cannot {action} while {self._state.value.replace('_', ' ')}"
            ) from None

    def _require(self, state: FlowState, action: str) -> None:
        if self._state is not state:
            raise FlowStateError(f"cannot {action} while {self._state.value.replace('_', ' ')}")

    def receive_callback(self, url_or_query: str) -> HttpRequest:
        """Take the redirect (URL, request target or query); return the token request.

        A callback that cannot be tied to this flow (no state, wrong state,
        malformed) raises a CallbackError and leaves the flow waiting for the real
        one. Once the state matches, the outcome is final: an ``error=`` becomes
        AuthorizationError, a wrong ``iss`` IssuerMismatchError, and the flow fails.
        """
        self._require(FlowState.AWAITING_CALLBACK, "receive a callback")
        # Until the state matches, nothing in the request is believed and the
        # flow keeps waiting for the real callback.
        try:
            params = parse_callback_params(url_or_query)
            check_state(params, self._state_value)
        except CallbackError:
            self._move(FlowEvent.CALLBACK_REJECTED)
            raise
        try:
            callback = verify_callback(
                params,
                expected_state=self._state_value,
                expected_issuer=self._server.issuer,
                require_iss=self._server.authorization_response_iss_parameter_supported,
            )
        except PkceflowError:
            self._move(FlowEvent.FAILED)
            raise
        self._move(FlowEvent.CALLBACK_ACCEPTED)
        return build_code_exchange_request(
            self._server,
            self._client,
            code=callback.code,
            redirect_uri=self._redirect_uri,
            code_verifier=self._pkce.verifier,
        )

    def receive_token_response(
        self,
        response: HttpResponse,
        *,
        now: float,
        check: Callable[[TokenSet], None] | None = None,
    ) -> TokenSet:
        """Parse the token endpoint's answer; ``now`` anchors ``expires_at``.

        ``check`` (an id_token validation) runs before the flow completes. Raises
        TokenError, InvalidResponseError or what ``check`` raises (and the flow fails).
        """
        tokens = self.parse_token_response(response, now=now)
        if check is not None:
            try:
                check(tokens)
            except PkceflowError:
                self._move(FlowEvent.FAILED)
                raise
        return self.complete(tokens)

    def parse_token_response(self, response: HttpResponse, *, now: float) -> TokenSet:
        """The first half of :meth:`receive_token_response`: parse, but do not complete.

        For a runner whose id_token check is itself I/O (a JWK Set to fetch): it
        checks the tokens, then calls :meth:`complete` or :meth:`fail`. A response
        that does not parse fails the flow here.
        """
        self._require(FlowState.EXCHANGING, "receive a token response")
        try:
            return parse_token_response(
                response, now=now, requested_scope=self._scope or None, quirks=self._server.quirks
            )
        except PkceflowError:
            self._move(FlowEvent.FAILED)
            raise

    def complete(self, tokens: TokenSet) -> TokenSet:
        """Finish the exchange with ``tokens`` from :meth:`parse_token_response`, checked."""
        self._move(FlowEvent.TOKENS_RECEIVED)
        return tokens

    def fail(self) -> None:
        """Give up the flow (the caller's token request failed in transit)."""
        self._move(FlowEvent.FAILED)

    # -- keeping a flow between requests ------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe, versioned dict of the flow, secrets included.

        Keep it where only this client can read it (a server-side session), and
        restore it with :meth:`from_dict` and the same server and client.
        """
        return {
            "version": _DUMP_VERSION,
            "state": self._state.value,
            "client_id": self._client.client_id,
            "issuer": self._server.issuer,
            "authorization_endpoint": self._server.authorization_endpoint,
            "redirect_uri": self._redirect_uri,
            "scope": list(self._scope),
            "code_verifier": self._pkce.verifier,
            "code_challenge_method": self._pkce.method,
            "state_value": self._state_value,
            "nonce": self._nonce,
            "authorization_url": self.authorization_url,
        }

    @classmethod
    def from_dict(
        cls, data: object, *, server: ServerMetadata, client: ClientConfig
    ) -> AuthorizationCodeFlow:
        """Restore a flow from :meth:`to_dict`'s output; RestoreError if it does not fit."""
        if not isinstance(data, dict):
            raise RestoreError("a dumped flow must be a JSON object")
        if data.get("version") != _DUMP_VERSION:
            raise RestoreError(
                f"dumped flow has version {data.get('version')!r};"
                f" this pkceflow reads {_DUMP_VERSION}"
            )
        strings = {}
        for name in (
            "state",
            "client_id",
            "authorization_endpoint",
            "redirect_uri",
            "code_verifier",
            "code_challenge_method",
            "state_value",
            "authorization_url",
        ):
            value = data.get(name)
            if not isinstance(value, str):
                raise RestoreError(f"dumped flow has no {name}")
            strings[name] = value
        for name in ("issuer", "nonce"):
            if data.get(name) is not None and not isinstance(data.get(name), str):
                raise RestoreError(f"dumped flow's {name} must be a string")
        scope = data.get("scope")
        if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
            raise RestoreError("dumped flow's scope must be a list of strings")
        if (strings["client_id"], data.get("issuer"), strings["authorization_endpoint"]) != (
            client.client_id,
            server.issuer,
            server.authorization_endpoint,
        ):
            raise RestoreError("the dumped flow belongs to another client or server")
        try:
            flow_state = FlowState(strings["state"])
            pkce = Pkce(strings["code_verifier"], strings["code_challenge_method"])  # type: ignore[arg-type]
            normalized = normalize_scope(scope)
            check_endpoint(strings["redirect_uri"], name="redirect_uri")
        except (ValueError, UsageError) as exc:
            raise RestoreError(f"dumped flow is invalid: {exc}") from None
        flow = cls.__new__(cls)
        flow._server = server
        flow._client = client
        flow._redirect_uri = strings["redirect_uri"]
        flow._scope = normalized
        flow._pkce = pkce
        flow._state_value = strings["state_value"]
        flow._nonce = data.get("nonce")
        flow._state = flow_state
        flow.authorization_url = strings["authorization_url"]
        return flow
