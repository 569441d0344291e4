"""The client's identity at the token endpoint (RFC 6749 2.3)."""

from __future__ import annotations

import base64
from typing import Literal
from urllib.parse import quote_plus

import attrs

from .errors import UsageError

__all__ = ["AuthMethod", "ClientConfig"]

AuthMethod = Literal["none", "client_secret_basic", "client_secret_post"]
_METHODS = ("none", "client_secret_basic", "client_secret_post")


@attrs.frozen
class ClientConfig:
    """A client registration: ``client_id``, an optional secret and how to send it.

    ``auth_method`` defaults to ``client_secret_basic`` when there is a secret
    (RFC 6749 2.3.1 says servers must support it) and ``none`` otherwise. Some
    providers issue a secret to native clients and want it even with PKCE.
    """

    client_id: str
    client_secret: str | None = attrs.field(default=None, repr=False)
    auth_method: AuthMethod | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.client_id, str) or not self.client_id:
            raise UsageError("client_id must be a non-empty string")
        if self.auth_method is not None and self.auth_method not in _METHODS:
            raise UsageError(f"auth_method must be one of {', '.join(_METHODS)}")
        if self.method != "none" and not self.client_secret:
            raise UsageError(f"{self.method} needs a client_secret")

    @property
    def method(self) -> AuthMethod:
        """The client authentication method in effect."""
        if self.auth_method is not None:
            return self.auth_method
        return "client_secret_basic" if self.client_secret else "none"

    def authenticate(self, form: dict[str, str], headers: dict[str, str]) -> None:
        """Add the client's credentials to a token-endpoint request, in place."""
        method = self.method
        if method == "client_secret_basic":
            # RFC 6749 2.3.1: form-urlencode id and secret before base64.
            user = quote_plus(self.client_id, safe="")
            password = quote_plus(self.client_secret or "", safe="")
            pair = f"{user}:{password}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
            return
        form["client_id"] = self.client_id
        if method == "client_secret_post":
            form["client_secret"] = self.client_secret or ""
