"""Provider presets: a real provider's endpoints, defaults and quirks, as data.

Provider plugins return presets from the ``pkceflow_provider_presets`` hook; the
Client and the CLI turn one into server metadata and client settings. Nothing about
a provider is a code path in the core: what a provider bends is a declared
:class:`Quirks` switch.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

import attrs

from ._client_auth import AuthMethod
from ._metadata import ServerMetadata
from ._quirks import Quirks
from .errors import UsageError

__all__ = ["ProviderPreset"]

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}\Z")
# A value put into a URL template must stay inside one path segment or host label.
_VALUE = re.compile(r"[A-Za-z0-9._-]{1,100}\Z")


def _fields(template: str | None) -> set[str]:
    if template is None:
        return set()
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@attrs.frozen(kw_only=True)
class ProviderPreset:
    """Everything pkceflow needs to know about one provider, minus the client's own id.

    URLs may hold ``{placeholders}`` (a tenant, a realm, a domain) filled from
    ``template_values`` given to :meth:`server` over ``template_defaults``. Either
    ``issuer`` (discovery) or both endpoint URLs must be given.
    """

    name: str
    title: str
    issuer: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    revocation_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    #: Scopes asked for when the caller names none.
    default_scope: tuple[str, ...] = ()
    #: Extra authorization parameters sent unless the caller sets them.
    default_params: Mapping[str, str] = attrs.field(factory=dict)
    #: The client authentication the provider expects (None: by whether there is a secret).
    auth_method: AuthMethod | None = None
    #: The provider wants the client secret even from native clients using PKCE.
    client_secret_required: bool = False
    quirks: Quirks = Quirks()
    template_defaults: Mapping[str, str] = attrs.field(factory=dict)
    #: Where a person registers an application with this provider.
    console_url: str | None = None

    def __attrs_post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise UsageError(f"provider name {self.name!r} must be lower-case letters, digits, '-'")
        if self.issuer is None and (
            self.authorization_endpoint is None or self.token_endpoint is None
        ):
            raise UsageError(f"provider {self.name!r} needs an issuer or both endpoint URLs")

    @property
    def placeholders(self) -> frozenset[str]:
        """The names its URL templates use (``tenant``...)."""
        names: set[str] = set()
        for url in (
            self.issuer,
            self.authorization_endpoint,
            self.token_endpoint,
            self.revocation_endpoint,
            self.userinfo_endpoint,
        ):
            names |= _fields(url)
        return frozenset(names)

    def _fill(self, template: str | None, values: Mapping[str, str]) -> str | None:
        if template is None:
            return None
        return template.format_map(values)

    def values(self, template_values: Mapping[str, str] | None = None) -> dict[str, str]:
        """The template values in effect; UsageError for a missing or unsafe one."""
        merged = {**self.template_defaults, **(template_values or {})}
        for name in self.placeholders:
            value = merged.get(name)
            if value is None:
                raise UsageError(f"provider {self.name!r} needs a value for {{{name}}}")
            if not _VALUE.match(value):
                raise UsageError(f"{value!r} is not a valid {name} for provider {self.name!r}")
        return {name: merged[name] for name in self.placeholders}

    def issuer_for(self, template_values: Mapping[str, str] | None = None) -> str | None:
        """The issuer URL with its placeholders filled, or None without discovery."""
        return self._fill(self.issuer, self.values(template_values))

    def server(self, template_values: Mapping[str, str] | None = None) -> ServerMetadata:
        """Server metadata from the preset's own endpoint URLs (no discovery).

        UsageError when the preset only has an issuer: discover it instead.
        """
        values = self.values(template_values)
        if self.authorization_endpoint is None or self.token_endpoint is None:
            raise UsageError(f"provider {self.name!r} is configured by discovery of its issuer")
        return ServerMetadata(
            authorization_endpoint=self.authorization_endpoint.format_map(values),
            token_endpoint=self.token_endpoint.format_map(values),
            issuer=self._fill(self.issuer, values),
            revocation_endpoint=self._fill(self.revocation_endpoint, values),
            userinfo_endpoint=self._fill(self.userinfo_endpoint, values),
            quirks=self.quirks,
        )
