"""Profiles: a login's settings, saved as TOML so later commands need only its name.

A profile holds no secret. A client secret given at login is kept in the token
store, next to the tokens (see :func:`save_client_secret`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import tomli_w

from pkceflow_core import Quirks, ServerMetadata, StoreError, TokenSet, UsageError

from .file_store import SECRET_NAMESPACE, check_profile_name
from .paths import StagedFile, UnsafeFileError, config_dir, read_private, stage_private

if TYPE_CHECKING:
    from pkceflow_core.ports import TokenStore

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "Profile",
    "StagedProfile",
    "list_profiles",
    "load_client_secret",
    "load_profile",
    "profile_bytes",
    "profiles_dir",
    "save_client_secret",
    "save_login",
    "save_profile",
    "server_settings",
    "stage_profile",
]

_VERSION = 1


def profiles_dir() -> Path:
    """The folder of profile files."""
    return config_dir() / "profiles"


@attrs.frozen
class Profile:
    """The settings of one login (no secrets)."""

    name: str
    client_id: str
    issuer: str | None = None
    auth_url: str | None = None
    token_url: str | None = None
    revocation_url: str | None = None
    userinfo_url: str | None = None
    jwks_uri: str | None = None
    iss_parameter_supported: bool = False
    issuer_template: str | None = None
    scope: tuple[str, ...] = ()
    redirect_host: str = "127.0.0.1"
    redirect_port: int = 0
    redirect_path: str | None = None  # None: /callback, or the server's own (mix-up)
    params: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    template: dict[str, str] = attrs.field(factory=dict)
    store: str = "file"
    provider: str | None = None
    auth_method: str | None = None
    has_client_secret: bool = False
    #: New at every login: a login that finds another one's id in the file lost a race.
    login_id: str | None = None

    def server(self, quirks: Quirks | None = None) -> ServerMetadata:
        """The server metadata the profile keeps; UsageError if it has no endpoints."""
        if self.auth_url is None or self.token_url is None:
            raise UsageError(
                f"the profile {self.name!r} has no endpoints; run pkceflow login again"
            )
        return ServerMetadata(
            authorization_endpoint=self.auth_url,
            token_endpoint=self.token_url,
            revocation_endpoint=self.revocation_url,
            issuer=self.issuer,
            userinfo_endpoint=self.userinfo_url,
            jwks_uri=self.jwks_uri,
            authorization_response_iss_parameter_supported=self.iss_parameter_supported,
            issuer_template=self.issuer_template,
            quirks=quirks or Quirks(),
        )

    def to_toml(self) -> str:
        """The profile as a TOML document, which :func:`load_profile` reads back equal.

        tomli-w writes it: every string is escaped as TOML requires, so what tomllib
        reads is what was written. Unset settings (None) and empty tables are left out.
        """
        document: dict[str, Any] = {"version": _VERSION}
        for field in attrs.fields(Profile):
            value = getattr(self, field.name)
            if value is None or (field.name in ("params", "template") and not value):
                continue
            if field.name == "params":
                value = {key: list(values) for key, values in value.items()}
            document[field.name] = list(value) if isinstance(value, tuple) else value
        return tomli_w.dumps(document)


def server_settings(server: ServerMetadata) -> dict[str, Any]:
    """The profile settings that keep ``server`` (the inverse of Profile.server)."""
    return {
        "issuer": server.issuer,
        "auth_url": server.authorization_endpoint,
        "token_url": server.token_endpoint,
        "revocation_url": server.revocation_endpoint,
        "userinfo_url": server.userinfo_endpoint,
        "jwks_uri": server.jwks_uri,
        "iss_parameter_supported": server.authorization_response_iss_parameter_supported,
        "issuer_template": server.issuer_template,
    }


def _path(name: str) -> Path:
    try:
        check_profile_name(name)
    except StoreError:
        raise UsageError(
            f"{name!r} is not a valid profile name: use letters, digits, '.', '_' or '-'"
        ) from None
    return profiles_dir() / f"{name}.toml"


def save_profile(profile: Profile) -> Path:
    """Write ``profile`` atomically (0600 in a 0700 folder, an exclusive temporary file
    of an unpredictable name, fsynced, renamed); return its path. Errors as
    :func:`stage_profile` and :meth:`StagedProfile.commit`."""
    staged = stage_profile(profile)
    try:
        staged.commit()
    finally:
        staged.discard()
    return staged.path


def load_profile(name: str) -> Profile | None:
    """Read the profile called ``name``; None when there is none. UsageError if broken."""
    path = _path(name)
    try:
        raw = read_private(str(path), secret=False)
    except UnsafeFileError as exc:
        raise UsageError(f"the profile {name!r}: {exc}") from None
    if raw is None:
        return None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read the profile {path}: {exc}") from None
    if data.pop("version", None) != _VERSION:
        raise UsageError(f"the profile {path} was written by another pkceflow version")
    data.pop("name", None)  # the file's name is the profile's name
    problem = _type_problem(data)
    if problem is not None:
        raise UsageError(f"the profile {path} is not valid: {problem}")
    params = {k: tuple(v) for k, v in data.pop("params", {}).items()}
    data["scope"] = tuple(data.get("scope", ()))
    return Profile(name=name, params=params, **data)


_STRINGS = {"client_id", "store", "redirect_host", "redirect_path"}
_OPTIONAL_STRINGS = {
    "issuer", "auth_url", "token_url", "revocation_url", "userinfo_url", "jwks_uri",
    "issuer_template", "provider", "auth_method", "login_id",
}  # fmt: skip
_FLAGS = {"iss_parameter_supported", "has_client_secret"}


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _type_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with a profile's values (a hand edit), or None."""
    if "client_id" not in data:
        return "client_id is missing"
    for key, value in data.items():
        if key in _STRINGS or key in _OPTIONAL_STRINGS:
            good = isinstance(value, str)
        elif key in _FLAGS:
            good = isinstance(value, bool)
        elif key == "redirect_port":
            good = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 65536
        elif key == "scope":
            good = _strings(value)
        elif key == "params":
            good = isinstance(value, dict) and all(_strings(v) for v in value.values())
        elif key == "template":
            good = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        else:
            return f"{key!r} is not a profile setting"
        if not good:
            return f"{key} has the wrong type"
    return None


def list_profiles() -> Iterator[Profile]:
    """Every saved profile, by name."""
    folder = profiles_dir()
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.toml")):
        profile = load_profile(path.stem)
        if profile is not None:
            yield profile


# A client secret lives in the token store, never in the profile file: the store
# is the place built to keep secrets (0600 files, or the OS keychain). It is kept
# under a key of its own namespace (``client-secret/<profile>``, which no profile
# name can spell) as a TokenSet whose access_token holds the secret, so every store,
# a plugin's included, can keep it without a new port.
_SECRET_TYPE = "client-secret"


def _secret_key(name: str) -> str:
    return SECRET_NAMESPACE + name


def save_client_secret(store: TokenStore, name: str, secret: str) -> None:
    """Keep the client secret of profile ``name`` in ``store``."""
    store.save(_secret_key(name), TokenSet(access_token=secret, token_type=_SECRET_TYPE))


def load_client_secret(store: TokenStore, name: str) -> str | None:
    """The client secret kept for ``name``, or None.

    A secret kept by an earlier pkceflow under ``<profile>.client-secret`` (a key a
    profile could also have) is moved to its namespace on first read, only when what
    is stored there is a client secret, not a profile's token set.
    """
    kept = store.load(_secret_key(name))
    if kept is None:
        legacy = f"{name}.client-secret"
        with contextlib.suppress(StoreError):  # a name too long to have a legacy key
            kept = store.load(legacy)
            if kept is not None and kept.token_type == _SECRET_TYPE:
                store.save(_secret_key(name), kept)
                store.delete(legacy)
            else:
                kept = None
    return None if kept is None else kept.access_token


def delete_client_secret(store: TokenStore, name: str) -> None:
    """Forget the client secret kept for ``name``."""
    store.delete(_secret_key(name))


class StagedProfile:
    """A profile written to a temporary file beside its place, not yet renamed into it.

    :meth:`commit` renames it over the profile (atomic) and makes the rename
    durable; :meth:`discard` removes the temporary file if it is still there.
    """

    def __init__(self, staged: StagedFile) -> None:
        self._staged = staged
        self.path = Path(staged.path)

    def commit(self) -> None:
        """Put the staged profile in place; StoreError naming the path if that fails."""
        try:
            self._staged.commit()
        except OSError as exc:
            raise _not_saved(self.path, exc) from None

    def discard(self) -> None:
        """Remove the temporary file (after a failure, or when already committed)."""
        self._staged.discard()


def stage_profile(profile: Profile) -> StagedProfile:
    """Write ``profile`` to an exclusive temporary file in its folder, fsynced.

    Nothing is replaced yet: a full or read-only disk, or a profiles folder that is
    not this user's alone, is found here, before the login's tokens are saved.
    StoreError names the path and the cause; UsageError a setting that cannot be
    written.
    """
    path = _path(profile.name)
    try:
        document = profile.to_toml().encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: bytes of an argument that were not UTF-8
        raise UsageError(
            f"the profile {profile.name!r} cannot be saved: a setting is not valid UTF-8 text"
        ) from None
    try:
        return StagedProfile(stage_private(path, document))
    except (OSError, UnsafeFileError) as exc:
        raise _not_saved(path, exc) from None


def _not_saved(path: Path, exc: OSError | UnsafeFileError) -> StoreError:
    reason = (exc.strerror or exc) if isinstance(exc, OSError) else exc
    return StoreError(f"cannot save the profile {path}: {reason}; the previous login is unchanged")


def profile_bytes(name: str) -> bytes | None:
    """The profile file as it is now (its login id tells one login from another)."""
    try:
        return read_private(str(profiles_dir() / f"{name}.toml"), secret=False)
    except UnsafeFileError as exc:  # planted while the browser was out: never this login's
        return str(exc).encode()


def save_login(
    store: TokenStore,
    profile: Profile,
    tokens: TokenSet,
    *,
    secret: str | None,
    before: bytes | None,
    discard: Callable[[], object],
) -> None:
    """Replace the profile and its token set together, under the profile's lock.

    A profile that names one server beside tokens of another would send the next
    refresh token to the wrong server. So, under the store's lock for the profile:
    a login that finished while this one waited (its profile, with a login id of its
    own, replaced ``before``, the file this login started from; a refresh meanwhile
    changes only the tokens) wins, ``discard`` is called (to revoke these tokens
    where the server can) and StoreError says so. Otherwise the profile is written
    to a temporary file first, then the tokens (and ``secret``) are saved, then the
    profile is renamed into place. A failure at any step leaves the previous login
    whole.
    """
    with store.lock(profile.name):
        if profile_bytes(profile.name) != before:
            with contextlib.suppress(Exception):
                discard()
            raise StoreError(
                f"another login to profile {profile.name!r} finished while this one waited"
                " for the browser; it was kept, and this one's tokens were not saved (run"
                " pkceflow login again to replace it)"
            )
        staged = stage_profile(profile)
        try:
            old_tokens = store.load(profile.name)
            store.save(profile.name, tokens)
            try:
                if secret is not None:
                    save_client_secret(store, profile.name, secret)
                staged.commit()
            except BaseException:
                # Put the previous tokens back: the profile on disk still names them.
                if old_tokens is None:
                    store.delete(profile.name)
                else:
                    store.save(profile.name, old_tokens)
                raise
        finally:
            staged.discard()
