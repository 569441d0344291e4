"""Settings: the one place where a preset, a profile and explicit options meet.

A :class:`Settings` value is everything a client needs to know, frozen: which
client, which server (given, or an issuer to discover), what to ask for, where
tokens are kept, and the rarer knobs grouped in small values of their own
(:class:`Redirect`, :class:`Interaction`, :class:`HttpOptions`,
:class:`IdTokenOptions`). ``Client``, ``AsyncClient`` and the ``pkceflow``
command all make one and run from it, so a preset or a profile means the same
thing to each of them::

    settings = Settings("my-client-id", issuer="https://id.example.com", scope="openid")
    client = Client.from_settings(settings)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from pkceflow_core import ProviderPreset, Quirks, ServerMetadata, UsageError

if TYPE_CHECKING:
    from pkceflow_core import AuthMethod

    from .profiles import Profile

__all__ = [
    "HttpOptions",
    "IdTokenOptions",
    "Interaction",
    "PresetValues",
    "Redirect",
    "Settings",
    "apply_preset",
]

#: What the authorization parameters may be given as: a value, or values to repeat.
Params = Mapping[str, "str | Sequence[str]"]


def _params(value: Params | None) -> dict[str, tuple[str, ...]]:
    """``{"prompt": "login", "resource": ["a", "b"]}`` as ``{name: (values...)}``."""
    if value is not None and not isinstance(value, Mapping):
        raise UsageError("params must map parameter names to values")
    result: dict[str, tuple[str, ...]] = {}
    for name, given in (value or {}).items():
        if not isinstance(name, str) or not isinstance(given, str | Sequence):
            raise UsageError(f"the parameter {name!r} needs one or more text values")
        values = (given,) if isinstance(given, str) else tuple(given)
        if not values or not all(isinstance(item, str) for item in values):
            raise UsageError(f"the parameter {name!r} needs one or more text values")
        result[name] = values
    return result


def _scope(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, str | Sequence) or not all(isinstance(s, str) for s in value):
        raise UsageError("scope must be a space-separated string or a list of strings")
    from pkceflow_core import normalize_scope

    return tuple(normalize_scope(value))


def _of(kind: type) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """An attrs validator: a UsageError naming the value expected, not a later AttributeError."""

    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise UsageError(
                f"{attribute.name} must be a pkceflow.{kind.__name__},"
                f" not a {type(value).__name__}"  # never the value: it may be a secret
            )

    return check


@attrs.frozen
class Redirect:
    """The loopback redirect URI (RFC 8252 7.3).

    ``port`` 0 lets the OS pick a free port, which the redirect URI then names.
    ``path`` None is ``/callback`` for servers that send RFC 9207 ``iss`` and a
    path of the server's own otherwise (``ServerMetadata.redirect_path``, the
    mix-up defence of RFC 9700 4.4.2): register that one. ``bind_host`` listens on
    another address while the URI keeps ``host`` (a container whose browser is
    outside).
    """

    host: str = "127.0.0.1"
    port: int = 0
    path: str | None = None
    bind_host: str | None = None


@attrs.frozen
class Interaction:
    """How a login meets the person.

    ``open_browser`` False only shows the URL. ``paste`` lets the person paste the
    address the browser was sent to (when the browser runs elsewhere); None: when
    standard input is a terminal. ``timeout`` is how long a login waits, in seconds.
    """

    open_browser: bool = True
    paste: bool | None = None
    timeout: float = 300.0


@attrs.frozen
class HttpOptions:
    """The HTTP transport's options: a deadline per request and extra trusted CAs."""

    timeout: float = 30.0
    ca_bundle: str | None = None


@attrs.frozen
class IdTokenOptions:
    """How id_tokens are checked (OpenID Connect Core 3.1.3.7).

    ``leeway`` seconds of clock skew; ``max_age`` is sent and enforced; HS256/384/512
    id_tokens, keyed with the client secret, are accepted only with ``allow_hmac``.
    """

    leeway: float = 60.0
    max_age: int | None = None
    allow_hmac: bool = False


@attrs.frozen(kw_only=True)
class PresetValues:
    """What a provider preset puts into a client's settings.

    Either ``server`` (the preset's own endpoints) or ``issuer`` (to discover) is set.
    """

    scope: tuple[str, ...] | None
    params: dict[str, tuple[str, ...]]
    auth_method: AuthMethod | None
    server: ServerMetadata | None
    issuer: str | None
    template: dict[str, str]
    quirks: Quirks


def apply_preset(
    preset: ProviderPreset,
    template_values: Mapping[str, str] | None = None,
    *,
    secret_given: bool,
    secret_hint: str = "pass client_secret",
) -> PresetValues:
    """The settings ``preset`` supplies; UsageError when it needs a secret not given.

    ``secret_hint`` says how to give one, in the words of the caller (a keyword
    argument, a command-line option).
    """
    if preset.client_secret_required and not secret_given:
        where = f" (it is shown where the application is registered: {preset.console_url})"
        raise UsageError(
            f"{preset.title} wants the client secret even with PKCE: {secret_hint}"
            + (where if preset.console_url else "")
        )
    values = preset.values(template_values)
    own_endpoints = preset.authorization_endpoint is not None and preset.token_endpoint is not None
    return PresetValues(
        scope=preset.default_scope or None,
        params={name: (value,) for name, value in preset.default_params.items()},
        auth_method=preset.auth_method,
        server=preset.server(values) if own_endpoints else None,
        issuer=None if own_endpoints else preset.issuer_for(values),
        template=values,
        quirks=preset.quirks,
    )


@attrs.frozen
class Settings:
    """Everything a client needs to know, in one frozen value.

    The server is ``server`` metadata, or ``issuer`` to discover (RFC 8414, then
    OpenID discovery), or ``authorization_url`` and ``token_url``; endpoint URLs
    given with ``server`` or ``issuer`` override what it names. ``store`` names a
    token store (``pkceflow stores`` lists them); tokens are kept under ``profile``.
    ``params`` are extra authorization parameters (``prompt``, ``login_hint``,
    ``audience``; a list repeats one, as ``resource``). The client secret is never
    shown in a repr.
    """

    client_id: str
    client_secret: str | None = attrs.field(default=None, repr=False)
    auth_method: AuthMethod | None = None
    server: ServerMetadata | None = None
    issuer: str | None = None
    authorization_url: str | None = None
    token_url: str | None = None
    revocation_url: str | None = None
    require_s256: bool = True
    quirks: Quirks = Quirks()
    scope: tuple[str, ...] | None = attrs.field(default=None, converter=_scope)
    params: dict[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_params)
    store: str = "memory"
    profile: str = "default"
    redirect: Redirect = attrs.field(default=Redirect(), validator=_of(Redirect))
    interaction: Interaction = attrs.field(default=Interaction(), validator=_of(Interaction))
    http: HttpOptions = attrs.field(default=HttpOptions(), validator=_of(HttpOptions))
    id_tokens: IdTokenOptions = attrs.field(default=IdTokenOptions(), validator=_of(IdTokenOptions))

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.client_id, str) or not self.client_id:
            raise UsageError("the client id must be a non-empty string")
        if (
            self.server is None
            and self.issuer is None
            and not (self.authorization_url and self.token_url)
        ):
            raise UsageError(
                "give authorization_url and token_url, or server, or an issuer to discover"
            )

    # -- made from a preset or a profile ---------------------------------------------

    @classmethod
    def for_preset(
        cls,
        preset: ProviderPreset,
        client_id: str,
        *,
        template_values: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Settings:
        """Settings for a provider preset; ``options`` win over what the preset says."""
        values = apply_preset(
            preset, template_values, secret_given=bool(options.get("client_secret"))
        )
        options.setdefault("scope", values.scope)
        options["params"] = {**values.params, **_params(options.get("params"))}
        if values.auth_method is not None:
            options.setdefault("auth_method", values.auth_method)
        options.setdefault("quirks", values.quirks)
        if values.server is not None:
            options.setdefault("server", values.server)
        else:
            options.setdefault("issuer", values.issuer)
        return cls(client_id, **options)

    @classmethod
    def from_profile(
        cls, profile: Profile, *, quirks: Quirks | None = None, **options: Any
    ) -> Settings:
        """The settings a saved profile keeps; ``options`` add to them (a secret...)."""
        kept: dict[str, Any] = {
            "auth_method": profile.auth_method,
            "server": profile.server(quirks),
            "scope": profile.scope,
            "params": profile.params,
            "store": profile.store,
            "profile": profile.name,
            "redirect": Redirect(
                host=profile.redirect_host, port=profile.redirect_port, path=profile.redirect_path
            ),
        }
        kept.update(options)
        return cls(profile.client_id, **kept)

    # -- what a client makes of them ---------------------------------------------------

    @property
    def authorization_params(self) -> dict[str, str | list[str]]:
        """The extra authorization parameters as the core takes them (``max_age`` too)."""
        params: dict[str, str | list[str]] = {
            name: values[0] if len(values) == 1 else list(values)
            for name, values in self.params.items()
        }
        if self.id_tokens.max_age is not None:
            params["max_age"] = str(self.id_tokens.max_age)
        return params

    def server_metadata(self, discover: Callable[[str], ServerMetadata]) -> ServerMetadata:
        """The server: ``server``, or ``issuer`` through ``discover``, or the endpoint URLs.

        Endpoint URLs given explicitly win over those the server metadata names.
        """
        if self.server is not None:
            base = self.server
        elif self.issuer is not None:
            base = discover(self.issuer)
        else:
            assert self.authorization_url is not None
            assert self.token_url is not None
            return ServerMetadata(
                authorization_endpoint=self.authorization_url,
                token_endpoint=self.token_url,
                revocation_endpoint=self.revocation_url,
                quirks=self.quirks,
            )
        overrides: dict[str, Any] = {
            name: url
            for name, url in (
                ("authorization_endpoint", self.authorization_url),
                ("token_endpoint", self.token_url),
                ("revocation_endpoint", self.revocation_url),
            )
            if url
        }
        return attrs.evolve(base, **overrides) if overrides else base

    def redirect_path(self, server: ServerMetadata) -> str:
        """The redirect path to listen on for ``server`` (see :class:`Redirect`)."""
        return server.redirect_path() if self.redirect.path is None else self.redirect.path
