"""Registered clients and how their redirect URIs match (RFC 8252 section 7.3)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from .settings import AUTH_METHODS, DEFAULT_REDIRECT_URIS, AuthMethod


def is_loopback_host(host: str | None) -> bool:
    """Whether `host` (as `urllib.parse` gives it, without brackets) is a loopback one."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_authority(netloc: str) -> tuple[str, str | None] | None:
    """``(host as written, port or None)``; None when malformed or with user info."""
    if "@" in netloc:
        return None
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            return None
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            return None
        port: str | None = rest[1:]
    else:
        host, sep, port_text = netloc.partition(":")
        port = port_text if sep else None
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        return None
    return host, port


def redirect_uri_matches(registered: str, presented: str) -> bool:
    """Whether `presented` matches the `registered` redirect URI.

    Exact string comparison, except that for an ``http`` loopback registration the port
    is ignored (RFC 8252 section 7.3): scheme, host, path and query must still match.
    """
    if "#" in presented:
        return False
    if registered == presented:
        return True
    try:
        reg, pre = urlsplit(registered), urlsplit(presented)
        if reg.scheme != "http" or not is_loopback_host(reg.hostname):
            return False
    except ValueError:  # e.g. an unbalanced "[" in the authority
        return False
    reg_authority, pre_authority = _split_authority(reg.netloc), _split_authority(pre.netloc)
    if reg_authority is None or pre_authority is None:
        return False
    return (
        pre.scheme == reg.scheme
        and pre_authority[0] == reg_authority[0]
        and pre.path == reg.path
        and pre.query == reg.query
        and ("?" in presented) == ("?" in registered)
    )


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered at the provider."""

    client_id: str
    """The client identifier."""
    client_secret: str | None = None
    """The secret of a confidential client; None for a public client."""
    auth_method: AuthMethod = "none"
    """How the client authenticates at the token, revocation and introspection endpoints."""
    redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS
    """Registered redirect URIs (loopback ones match on any port)."""

    def __post_init__(self) -> None:
        if self.auth_method not in AUTH_METHODS:
            raise ValueError(f"unknown auth_method {self.auth_method!r}")
        if (self.auth_method == "none") != (self.client_secret is None):
            raise ValueError("a client has a secret exactly when its auth_method is not 'none'")
        redirect_uris: object = self.redirect_uris
        if isinstance(redirect_uris, str):
            raise TypeError("redirect_uris must be a sequence of strings, not a string")

    def allows_redirect_uri(self, uri: str) -> bool:
        """Whether `uri` matches one of the registered redirect URIs."""
        return any(redirect_uri_matches(registered, uri) for registered in self.redirect_uris)
