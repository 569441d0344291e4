"""The provider's switches and the values it starts with: default clients, redirect URIs,
the names of the faults it can inject, and `ProviderSettings`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal, TypeVar

PUBLIC_CLIENT_ID = "pkceflow-test"
"""The default public client (token endpoint authentication method ``none``)."""

CONFIDENTIAL_CLIENT_ID = "pkceflow-confidential"
"""The default confidential client (``client_secret_basic``)."""

CONFIDENTIAL_CLIENT_SECRET = "pkceflow-confidential-secret"
"""The secret of `CONFIDENTIAL_CLIENT_ID`."""

DEFAULT_REDIRECT_URIS: tuple[str, ...] = (
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
    "http://localhost/callback",
)
"""Loopback redirect URIs; any port matches them (RFC 8252 section 7.3)."""

AuthMethod = Literal["none", "client_secret_basic", "client_secret_post"]
TokenFailure = Literal[
    "http_500",
    "http_503",
    "http_429",
    "slow_down_429",
    "empty_400",
    "html_200",
    "invalid_json",
    "disconnect",
]
IdTokenDefect = Literal[
    "bad_signature",
    "unknown_kid",
    "alg_none",
    "wrong_nonce",
    "missing_nonce",
    "wrong_aud",
    "wrong_iss",
    "expired",
    "wrong_at_hash",
]
IssuerMode = Literal["correct", "wrong", "omit"]
RefreshRotation = Literal["rotate", "same", "omit"]
TokenResponseFormat = Literal["json", "form", "form_always"]

_T = TypeVar("_T")

AUTH_METHODS: tuple[AuthMethod, ...] = ("none", "client_secret_basic", "client_secret_post")
"""Every client authentication method the provider knows, as discovery lists them."""


@dataclass(slots=True)
class ProviderSettings:
    """Behaviour switches of a `TestProvider`; change them at any time, even while it runs.

    Every attribute is read when a request needs it, so a test can flip a switch between
    two requests.  The defaults describe a strict, well-behaved server.
    """

    # ---- the user and the authorization endpoint
    interactive: bool = False
    """Show a login form and then a consent page (Approve / Deny) instead of approving at
    once.  `HttpFollowingBrowser` fills both in."""
    default_user: str = "alice"
    """The user (``sub``) approved automatically when `interactive` is off."""
    deny_consent: bool = False
    """Deny every authorization: redirect with ``error=access_denied``."""
    deny_error_description: str = "The resource owner denied the request."
    """The ``error_description`` sent with ``access_denied``; may be attacker-like text
    (HTML, script) to test how a client displays it."""
    authorization_iss: IssuerMode = "correct"
    """The RFC 9207 ``iss`` on authorization responses: ``correct``, ``wrong`` (sends
    `wrong_issuer`) or ``omit``."""
    advertise_iss_parameter: bool = True
    """Value of ``authorization_response_iss_parameter_supported`` in discovery."""
    wrong_issuer: str = "https://attacker.invalid"
    """The issuer used by ``authorization_iss="wrong"`` and ``id_token_defect="wrong_iss"``."""
    scopes_supported: tuple[str, ...] = ("openid", "profile", "email", "offline_access")
    """Scopes the provider knows; others are refused with ``invalid_scope``."""
    default_scope: str = "openid"
    """The scope granted when the authorization request has none (RFC 6749 3.3)."""
    code_lifetime: float = 60.0
    """Seconds an authorization code stays valid."""

    # ---- tokens
    access_token_lifetime: int = 3600
    """Seconds an access token stays valid (``expires_in``)."""
    id_token_lifetime: int = 300
    """Seconds between an ID token's ``iat`` and ``exp``."""
    issue_refresh_tokens: bool = True
    """Whether the code exchange returns a refresh token."""
    refresh_token_lifetime: float | None = None
    """Seconds a refresh token stays valid; None for no expiry."""
    refresh_token_rotation: RefreshRotation = "rotate"
    """``rotate``: each refresh returns a new refresh token and the old one stops working;
    ``same``: the same refresh token is returned again and stays valid; ``omit``: no
    refresh token in the response and the old one stays valid."""
    revoke_on_refresh_reuse: bool = True
    """A replayed (rotated-away) refresh token revokes every token of its grant."""
    refresh_invalid_grant: bool = False
    """Answer every refresh_token grant with ``invalid_grant`` (as if revoked upstream)."""
    id_token_on_refresh: bool = True
    """Return a new ID token (without ``nonce``) on refresh when ``openid`` is in scope."""
    id_token_defect: IdTokenDefect | None = None
    """Make every ID token defective: ``bad_signature`` (a key not in the JWKS, same kid),
    ``unknown_kid``, ``alg_none``, ``wrong_nonce``, ``missing_nonce``, ``wrong_aud``,
    ``wrong_iss``, ``expired`` or ``wrong_at_hash``."""
    templated_issuer: bool = False
    """Microsoft style: discovery's issuer is ``{origin}/{tenantid}/v2.0`` while ID tokens
    carry ``{origin}/<tenant_id>/v2.0`` and a ``tid`` claim; the authorization response
    then has no ``iss`` and discovery does not advertise it."""
    tenant_id: str = "9188040d-6c67-4c5b-b112-36a304b66dad"
    """The tenant id of `templated_issuer`."""
    clock_skew: float = 0.0
    """Seconds added to the provider's clock: moves token timestamps and every expiry
    check, so a test can expire codes and tokens without sleeping."""

    # ---- the shape of token responses
    token_response_format: TokenResponseFormat = "json"
    """``form``: GitHub style, token responses are form-urlencoded unless the request's
    Accept header asks for application/json; ``form_always``: whatever it asks for."""
    token_type: str = "Bearer"
    """The ``token_type`` value (GitHub sends ``bearer``)."""
    expires_in_as_string: bool = False
    """Send ``expires_in`` as a string of digits."""
    omit_expires_in: bool = False
    """Send no ``expires_in``."""
    scope_as_list: bool = False
    """Send ``scope`` as a JSON array (comma-joined in the form format)."""
    scope_in_token_response: bool = True
    """Send ``scope`` in token responses."""
    token_errors_status_200: bool = False
    """GitHub style: token endpoint errors come with status 200."""

    # ---- transport failures of the token endpoint
    token_delay: float = 0.0
    """Seconds to sleep before answering the token endpoint."""
    token_delay_count: int | None = None
    """None: `token_delay` applies to every token request; N: only to the next N."""
    token_failure: TokenFailure | None = None
    """Fail token requests: ``http_500``, ``http_503`` (with Retry-After: 1), ``http_429``
    (Retry-After: 120), ``slow_down_429`` (OAuth ``slow_down`` JSON with status 429),
    ``empty_400`` (Glewlwyd style: a 400 with an empty body), ``html_200`` (an HTML error
    page with status 200), ``invalid_json`` or ``disconnect`` (close the connection without
    answering).  The request is not processed."""
    token_failure_count: int | None = None
    """None: `token_failure` applies to every token request; N: only to the next N, after
    which it resets itself."""
    token_answer_delay: float = 0.0
    """Seconds to sleep after a token request was processed (a refresh token rotated, a
    code redeemed) and before answering: a server slower than the client's timeout that
    still carries the request out."""
    refresh_auth_time_now: bool = False
    """Django OAuth Toolkit style: ID tokens issued on refresh carry the time of the
    refresh as ``auth_time`` (the user's latest sign-in), not the login's."""

    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def fail_next_token_requests(self, count: int = 1, failure: TokenFailure = "http_500") -> None:
        """Fail only the next `count` token requests with `failure`."""
        with self._lock:
            self.token_failure = failure
            self.token_failure_count = count

    def delay_next_token_requests(self, count: int, seconds: float) -> None:
        """Delay only the next `count` token requests by `seconds`."""
        with self._lock:
            self.token_delay = seconds
            self.token_delay_count = count

    def take_token_failure(self) -> TokenFailure | None:
        """The failure for the current token request (counting it down); for the provider."""
        with self._lock:
            failure, self.token_failure, self.token_failure_count = _count_down(
                self.token_failure,
                self.token_failure_count,
                None,
                active=self.token_failure is not None,
            )
            return failure

    def take_token_delay(self) -> float:
        """The delay for the current token request (counting it down); for the provider."""
        with self._lock:
            delay, self.token_delay, self.token_delay_count = _count_down(
                self.token_delay, self.token_delay_count, 0.0, active=self.token_delay > 0
            )
            return max(delay, 0.0)


def _count_down(
    value: _T, count: int | None, off: _T, *, active: bool
) -> tuple[_T, _T, int | None]:
    """``(this request's value, the value to keep, the count to keep)`` of a switch that
    holds for the next `count` requests only (None: for every request); an inactive
    switch is left as it is."""
    if not active or count is None:
        return value, value, count
    if count <= 0:
        return off, off, None
    if count == 1:
        return value, off, None
    return value, value, count - 1
