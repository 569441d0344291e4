"""OAuth values the tests make for themselves (grants issued without a browser, PKCE
pairs) or read from what pkceflow made (the redirect port of an authorization URL)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from pkceflow_core import TokenSet

if TYPE_CHECKING:
    from pkceflow.testing import TestProvider

__all__ = ["issued_token_set", "newest_refresh_token", "pkce_pair", "redirect_port"]

#: pkceflow.testing.PUBLIC_CLIENT_ID, spelt out so that importing this module does not
#: import the provider (PyJWT, cryptography).
PUBLIC_CLIENT_ID = "pkceflow-test"


def issued_token_set(
    provider: TestProvider,
    *,
    client_id: str = PUBLIC_CLIENT_ID,
    scope: str = "offline_access",
    refresh_token: bool = True,
    expires: bool = True,
) -> TokenSet:
    """A new grant at ``provider`` (no browser), as the token set pkceflow would store.

    The provider issues real tokens (``issue_tokens``, honouring its settings);
    ``refresh_token=False`` and ``expires=False`` leave those out of the set.
    """
    issued = provider.issue_tokens(client_id, scope=scope)
    return TokenSet(
        access_token=issued["access_token"],
        token_type="Bearer",
        expires_at=time.time() + float(issued["expires_in"]) if expires else None,
        refresh_token=issued["refresh_token"] if refresh_token else None,
        id_token=issued.get("id_token"),
        scope=tuple(issued["scope"].split()),
    )


def newest_refresh_token(provider: TestProvider) -> str:
    """The refresh token ``provider`` issued last."""
    return [info.token for info in provider.tokens() if info.kind == "refresh"][-1]


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636 4.1, 4.2), computed here."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def redirect_port(authorization_url: str) -> int:
    """The port of the loopback redirect URI named in an authorization URL."""
    (redirect_uri,) = parse_qs(urlsplit(authorization_url).query)["redirect_uri"]
    port = urlsplit(redirect_uri).port
    assert port is not None
    return port
