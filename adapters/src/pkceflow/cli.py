"""The ``pkceflow`` command: any OAuth provider, scriptable from a shell.

    pkceflow login --profile work --client-id ID --issuer https://id.example.com
    curl -H "Authorization: Bearer $(pkceflow token --profile work)" https://api.example.com/

Exit codes: 0 success, 2 usage, 3 the authorization server refused at the redirect,
4 the authorization server refused or ended the login (log in again), 5 timed out
waiting for the browser, 6 no stored login for that profile, 7 the authorization
server is busy or unavailable (try again later), 1 anything else (130 when
interrupted). Errors are one line on standard error; ``--debug`` adds the traceback
and debug logging.

``pkceflow token`` is the hot path of scripts: with a valid cached token in the file
store it imports neither the HTTP stack nor the plugin system.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence

# Not typing.TYPE_CHECKING: importing typing alone costs the token hot path more
# than everything else it does. Type checkers treat this name the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any, NoReturn

    import pluggy

    from pkceflow_core import ProviderPreset, Quirks, TokenSet

    from .client import Client
    from .profiles import Profile

__all__ = ["EXIT_CODES", "main"]

#: What each exit code means.
EXIT_CODES = {
    0: "success",
    1: "any other error",
    2: "usage error",
    3: "the authorization server refused at the redirect",
    4: "the authorization server refused or ended the login: log in again",
    5: "timed out waiting for the browser",
    6: "no stored login for that profile",
    7: "the authorization server is busy or unavailable: try again later",
}


class _Usage(Exception):
    pass


def _port(text: str) -> int:
    port = int(text) if text.strip().isdigit() else -1
    if not 0 <= port <= 65535:
        import argparse

        raise argparse.ArgumentTypeError(f"invalid port: {text!r} (0-65535)")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:  # NaN included
        import argparse

        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}")
    return value


def _margin(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):  # NaN, negative and infinite refused
        import argparse

        raise argparse.ArgumentTypeError(
            f"invalid number of seconds: {text!r} (0 or more, and finite)"
        )
    return value


def _build_parser() -> argparse.ArgumentParser:
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            self.print_usage(sys.stderr)
            sys.stderr.write(f"pkceflow: error: {message}\n")
            raise SystemExit(2)

    parser = _Parser(prog="pkceflow", description="OAuth 2.0 Authorization Code + PKCE.")
    parser.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    parser.add_argument("--version", action="version", version="pkceflow 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def profile_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--profile", default="default", help="the profile name (default: default)")

    login = sub.add_parser("login", help="sign in through the browser and store the token")
    profile_arg(login)
    login.add_argument("--client-id")
    login.add_argument(
        "--client-secret-file",
        metavar="PATH",
        help="read the client secret from PATH, or from standard input with -"
        " (or set PKCEFLOW_CLIENT_SECRET)",
    )
    login.add_argument(
        "--client-secret",
        help="the client secret on the command line: visible to other users in the"
        " process list; prefer --client-secret-file or PKCEFLOW_CLIENT_SECRET",
    )
    login.add_argument("--issuer", help="discover the endpoints from this issuer")
    login.add_argument(
        "--auth-url", help="the authorization endpoint (with --issuer: overrides discovery)"
    )
    login.add_argument(
        "--token-url", help="the token endpoint (with --issuer: overrides discovery)"
    )
    login.add_argument(
        "--revocation-url",
        help="the revocation endpoint, RFC 7009 (with --issuer: overrides discovery)",
    )
    login.add_argument("--scope", help='space-separated scopes, e.g. "openid email"')
    login.add_argument("--redirect-host", help="loopback host of the redirect URI (127.0.0.1)")
    login.add_argument("--redirect-port", type=_port, help="0 picks a free port (default)")
    login.add_argument("--redirect-path", help="path of the redirect URI (/callback)")
    login.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra authorization parameter; repeat for more (or the same key)",
    )
    login.add_argument(
        "--store", choices=None, help="file (default), keyring, memory, or a plugin's"
    )
    login.add_argument("--no-browser", action="store_true", help="only print the URL")
    login.add_argument("--timeout", type=_seconds, default=300.0, help="seconds to wait (300)")
    login.add_argument("--provider", help="use an installed provider preset")
    login.add_argument(
        "--template",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fill a provider's URL placeholder, e.g. tenant=contoso.onmicrosoft.com",
    )

    token = sub.add_parser("token", help="print a valid access token")
    profile_arg(token)
    token.add_argument(
        "--min-ttl",
        type=_margin,
        default=60.0,
        help="refresh if it expires sooner (seconds; at most half the token's lifetime)",
    )
    token.add_argument(
        "--json", action="store_true", help="access_token, token_type, expires_at, scope"
    )

    refresh = sub.add_parser("refresh", help="refresh the access token now")
    profile_arg(refresh)
    refresh.add_argument("--json", action="store_true")

    logout = sub.add_parser("logout", help="revoke and forget the stored login")
    profile_arg(logout)
    logout.add_argument("--no-revoke", action="store_true", help="only forget it locally")

    status = sub.add_parser("status", help="profiles, expiry and scopes (never a token)")
    status.add_argument("--profile")
    status.add_argument("--json", action="store_true")

    sub.add_parser("providers", help="list the installed provider presets")

    demo = sub.add_parser("demo", help="a whole login against the built-in test provider")
    demo.add_argument("--browser", action="store_true", help="use your real browser")
    return parser


# -- entry point -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see EXIT_CODES)."""
    from ._fast_token import fast_token

    argv = sys.argv[1:] if argv is None else list(argv)
    done = fast_token(argv)
    if done is not None:
        return done
    args = _build_parser().parse_args(argv)
    if args.debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        return int(_COMMANDS[args.command](args))
    except KeyboardInterrupt:
        sys.stderr.write("pkceflow: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 (turned into one line and an exit code)
        return _report(exc, debug=args.debug)


def _report(exc: Exception, *, debug: bool) -> int:
    from pkceflow_core import (
        AuthorizationError,
        CallbackTimeoutError,
        LoginEndedError,
        LoginRequiredError,
        PkceflowError,
        TemporarilyUnavailableError,
        TokenError,
        UsageError,
    )
    from pkceflow_core.errors import printable

    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, _Usage | UsageError):
        code = 2
    elif isinstance(exc, AuthorizationError):
        code = 3
    elif isinstance(exc, TemporarilyUnavailableError):
        code = 7
    elif isinstance(exc, TokenError | LoginEndedError):
        code = 4
    elif isinstance(exc, CallbackTimeoutError):
        code = 5
    elif isinstance(exc, LoginRequiredError):
        code = 6
    else:
        code = 1
    if isinstance(exc, PkceflowError | _Usage):
        text = str(exc)
        if isinstance(exc.__cause__, TokenError):
            # e.g. a refused refresh: keep the server's error and description.
            text += f"; the server said: {exc.__cause__}"
    elif isinstance(exc, OSError) and exc.strerror:
        # A filesystem error nothing below turned into a pkceflow error: say where.
        from .paths import shown

        where = f" {shown(exc.filename)}" if exc.filename is not None else ""
        text = f"cannot use{where}: {exc.strerror}"
    else:
        text = f"unexpected {type(exc).__name__}" + ("" if debug else " (run with --debug)")
    # A timeout names the authorization URL, which is longer than any other message.
    limit = 1600 if isinstance(exc, CallbackTimeoutError) else 500
    sys.stderr.write(f"pkceflow: error: {printable(text, limit)}\n")
    return code


# -- building a client from a profile ---------------------------------------------------


def _preset(manager: pluggy.PluginManager, name: str) -> ProviderPreset:
    from .providers import find_preset

    return find_preset(manager, name)


def _client(profile: Profile, **overrides: Any) -> Client:

    from .client import Client
    from .plugins import get_plugin_manager
    from .profiles import load_client_secret

    manager = get_plugin_manager()
    store = _store(profile.store)
    secret = None
    if profile.has_client_secret and "client_secret" not in overrides:
        secret = load_client_secret(store, profile.name)
    quirks = _preset(manager, profile.provider).quirks if profile.provider else None
    server = profile.server(quirks)
    options: dict[str, Any] = {
        "client_secret": secret,
        "auth_method": profile.auth_method,
        "server": server,
        "scope": list(profile.scope),
        "redirect_host": profile.redirect_host,
        "redirect_port": profile.redirect_port,
        "redirect_path": profile.redirect_path,
        "params": {k: list(v) if len(v) > 1 else v[0] for k, v in profile.params.items()},
        "store": store,
        "profile": profile.name,
        "plugin_manager": manager,
    }
    options.update(overrides)
    return Client(profile.client_id, **options)


def _require_profile(name: str) -> Profile:
    from pkceflow_core import LoginRequiredError

    from .profiles import load_profile

    profile = load_profile(name)
    if profile is None:
        raise LoginRequiredError(
            f"there is no profile {name!r}; run: pkceflow login --profile {name} ..."
        )
    return profile


def _token_json(tokens: TokenSet) -> str:
    return json.dumps(
        {
            "access_token": tokens.access_token,
            "token_type": tokens.token_type,
            "expires_at": tokens.expires_at,
            "scope": None if tokens.scope is None else " ".join(tokens.scope),
        }
    )


def _expiry(tokens: TokenSet, now: float) -> str:
    left = tokens.expires_in(now)
    if left is None:
        return "no stated expiry"
    if left <= 0:
        return "expired"
    return f"expires in {int(left)} s"


# -- commands --------------------------------------------------------------------------


def _split_pairs(items: list[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _Usage(f"{option} takes KEY=VALUE, not {item!r}")
        pairs.append((key, value))
    return pairs


def _parse_params(items: list[str]) -> dict[str, tuple[str, ...]]:
    params: dict[str, list[str]] = {}
    for key, value in _split_pairs(items, "--param"):
        params.setdefault(key, []).append(value)
    return {k: tuple(v) for k, v in params.items()}


def _parse_pairs(items: list[str], option: str) -> dict[str, str]:
    return dict(_split_pairs(items, option))


def _cmd_login(args: argparse.Namespace) -> int:
    import attrs

    from pkceflow_core.scope import normalize_scope

    from .profiles import Profile, load_profile

    saved = load_profile(args.profile)
    args.client_secret = _client_secret(args)
    if args.client_id is None and saved is None:
        raise _Usage("--client-id is required for a new profile")
    if args.provider and (args.issuer or args.auth_url):
        raise _Usage("--provider names the endpoints: give no --issuer or --auth-url with it")
    if not args.issuer and bool(args.auth_url) != bool(args.token_url):
        raise _Usage("--auth-url and --token-url go together (or give --issuer)")
    if saved is None and not args.issuer and not args.auth_url and not args.provider:
        raise _Usage("give --issuer, or --auth-url and --token-url, or --provider")
    if args.template and not (args.provider or (saved and saved.provider)):
        raise _Usage("--template fills a provider's placeholders: give --provider")

    changes: dict[str, Any] = {}
    for option, field in (
        ("client_id", "client_id"),
        ("redirect_host", "redirect_host"),
        ("redirect_port", "redirect_port"),
        ("redirect_path", "redirect_path"),
        ("store", "store"),
    ):
        value = getattr(args, option)
        if value is not None:
            changes[field] = value
    if args.scope is not None:
        changes["scope"] = normalize_scope(args.scope)
    if args.param:
        changes["params"] = _parse_params(args.param)
    if args.issuer:
        changes.update(issuer=args.issuer, auth_url=None, token_url=None, revocation_url=None)
    elif args.auth_url:
        changes.update(
            issuer=None,
            auth_url=args.auth_url,
            token_url=args.token_url,
            revocation_url=args.revocation_url,
            userinfo_url=None,
            jwks_uri=None,
            iss_parameter_supported=False,
        )
    if args.client_secret is not None:
        changes["has_client_secret"] = True
    if args.provider or (args.template and saved is not None):
        changes.update(_provider_settings(args, saved, changes))
    profile = (
        attrs.evolve(saved, **changes)
        if saved is not None
        else Profile(name=args.profile, **changes)
    )
    store = _store(profile.store)
    if profile.has_client_secret and args.client_secret is None:
        from .profiles import load_client_secret

        if load_client_secret(store, profile.name) is None:
            raise _Usage(
                f"the client of profile {profile.name!r} needs its client secret:"
                " --client-secret-file PATH, or PKCEFLOW_CLIENT_SECRET"
            )
    if profile.auth_url is None:
        quirks = _preset(_manager(), profile.provider).quirks if profile.provider else None
        profile = _discover_into(profile, quirks)
    if args.issuer:
        # Endpoints given explicitly win over discovered ones, as in Client.
        explicit = {
            field: value
            for field, value in (
                ("auth_url", args.auth_url),
                ("token_url", args.token_url),
                ("revocation_url", args.revocation_url),
            )
            if value
        }
        profile = attrs.evolve(profile, **explicit)

    overrides: dict[str, Any] = {"open_browser": not args.no_browser, "timeout": args.timeout}
    if args.client_secret is not None:
        overrides["client_secret"] = args.client_secret
    # The browser round trip keeps its tokens in memory: they are saved below, with
    # the profile, once both can be replaced together.
    from .memory_store import MemoryStore

    before = _profile_bytes(profile.name)
    profile = attrs.evolve(profile, login_id=os.urandom(8).hex())
    client = _client(profile, store=MemoryStore(), **overrides)
    if profile.redirect_path is None and client.redirect_path != "/callback":
        port = "any port" if not profile.redirect_port else f"port {profile.redirect_port}"
        host = f"[{client.redirect_host}]" if ":" in client.redirect_host else client.redirect_host
        sys.stderr.write(
            "This server does not name itself in its redirects (RFC 9207), so pkceflow gives"
            f" it a redirect URI of its own: register http://{host}{client.redirect_path}"
            f" ({port}) for the client.\n"
        )
    tokens = client.login()
    _save_login(store, profile, tokens, args.client_secret, before, client)
    sys.stderr.write(
        f"Signed in; profile {profile.name!r} saved. Access token {_expiry(tokens, time.time())}.\n"
    )
    return 0


def _profile_bytes(name: str) -> bytes | None:
    """The profile file as it is now (its login id tells one login from another)."""
    from .paths import UnsafeFileError, read_private
    from .profiles import profiles_dir

    try:
        return read_private(str(profiles_dir() / f"{name}.toml"), secret=False)
    except UnsafeFileError as exc:  # planted while the browser was out: never this login's
        return str(exc).encode()


def _save_login(
    store: Any,
    profile: Profile,
    tokens: TokenSet,
    secret: str | None,
    before: bytes | None,
    client: Client,
) -> None:
    """Replace the profile and its token set together, under the profile's lock.

    A profile that names one server beside tokens of another would send the next
    refresh token to the wrong server. So: under the store's lock for the profile,
    a login that finished while this one waited (its profile, with a login id of its
    own, replaced the one this login started from; a refresh meanwhile changes only
    the tokens) wins: this one's tokens are revoked where the server can, and the
    person is told; the profile is written to a
    temporary file first, then the tokens are saved, then the profile is renamed
    into place. A failure at any step leaves the previous login whole.
    """
    from pkceflow_core import StoreError

    from .profiles import save_client_secret, stage_profile

    with store.lock(profile.name):
        if _profile_bytes(profile.name) != before:
            with contextlib.suppress(Exception):
                client.logout(revoke=True)  # best effort: these tokens are never used
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


def _client_secret(args: argparse.Namespace) -> str | None:
    """The client secret from --client-secret-file, --client-secret or the environment."""
    import os

    if args.client_secret_file is not None and args.client_secret is not None:
        raise _Usage("give --client-secret-file or --client-secret, not both")
    if args.client_secret_file is not None:
        return _read_secret_file(args.client_secret_file)
    if args.client_secret is not None:
        sys.stderr.write(
            "pkceflow: warning: --client-secret is visible to other users of this machine"
            " while pkceflow runs; prefer --client-secret-file or PKCEFLOW_CLIENT_SECRET\n"
        )
        return str(args.client_secret)
    return os.environ.get("PKCEFLOW_CLIENT_SECRET") or None


def _read_secret_file(path: str) -> str:
    try:
        if path == "-":
            text = sys.stdin.read(65537)
        else:
            with open(path, encoding="utf-8") as file:
                text = file.read(65537)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise _Usage(f"cannot read the client secret from {path}: {reason}") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret or len(secret) > 65536 or any(c in secret for c in "\r\n"):
        raise _Usage(f"{path} must hold the client secret alone, on one line")
    return secret


def _manager() -> pluggy.PluginManager:
    from .plugins import get_plugin_manager

    return get_plugin_manager()


def _store(name: str) -> Any:
    store = _manager().hook.pkceflow_token_store(name=name)
    if store is None:
        raise _Usage(f"no token store called {name!r} is installed")
    return store


def _provider_settings(
    args: argparse.Namespace, saved: Profile | None, changes: dict[str, Any]
) -> dict[str, Any]:
    """The profile settings a provider preset supplies, the person's options kept."""
    name = args.provider or (saved.provider if saved else None)
    assert name is not None
    preset = _preset(_manager(), name)
    template = dict(saved.template) if saved and saved.provider == name else {}
    template.update(_parse_pairs(args.template, "--template"))
    values = preset.values(template)
    settings: dict[str, Any] = {"provider": name, "template": values}
    fresh = saved is None or saved.provider != name
    if preset.client_secret_required and not args.client_secret and fresh:
        raise _Usage(
            f"{preset.title} wants the client secret even with PKCE:"
            " --client-secret-file PATH, or PKCEFLOW_CLIENT_SECRET"
        )
    if "scope" not in changes and fresh:
        settings["scope"] = preset.default_scope
    defaults = {k: (v,) for k, v in preset.default_params.items()}
    settings["params"] = {**defaults, **changes.get("params", {})}
    if preset.auth_method is not None:
        settings["auth_method"] = preset.auth_method
    if preset.authorization_endpoint is not None and preset.token_endpoint is not None:
        from .profiles import server_settings

        settings.update(server_settings(preset.server(template)))
    else:
        settings.update(issuer=preset.issuer_for(template), auth_url=None, token_url=None)
    return settings


def _discover_into(profile: Profile, quirks: Quirks | None = None) -> Profile:
    import attrs

    from pkceflow_core import Quirks, discover

    from .profiles import server_settings

    assert profile.issuer is not None
    transport = _manager().hook.pkceflow_transport(timeout=30.0, ca_bundle=None)
    server = discover(transport, profile.issuer, quirks=quirks or Quirks())
    return attrs.evolve(profile, **server_settings(server))


#: Every signal whose default action ends the process and that a mask can hold
#: (SIGKILL and SIGSTOP cannot be held; faults like SIGSEGV are the program's own).
_ENDING_SIGNALS = (
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGPIPE",
    "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGXFSZ", "SIGIO", "SIGPWR", "SIGSTKFLT",
)  # fmt: skip


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold off every signal that would end the process while a refresh is in flight.

    Once the server has the refresh request it rotates the refresh token; dying
    before the answer is saved would lose the login (a closed terminal's SIGHUP,
    Ctrl-C, SIGTERM, Ctrl-\\). The driver enters this only from sending the request
    to storing its answer, so waiting for another process's refresh stays
    interruptible; the wait is bounded by the transport's deadline. Held signals
    are delivered as soon as the answer is stored.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    held = {getattr(signal, name) for name in _ENDING_SIGNALS if hasattr(signal, name)}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _cmd_token(args: argparse.Namespace) -> int:
    profile = _require_profile(args.profile)
    tokens = None
    if profile.store == "file":
        # A fresh token straight from the file (the fast path declined, e.g. --debug).
        from .file_store import FileStore

        cached = FileStore().load(profile.name)
        if cached is not None and cached.is_fresh(time.time(), args.min_ttl):
            tokens = cached
    if tokens is None:
        tokens = _client(profile, refresh_guard=_signals_held).tokens(min_ttl=args.min_ttl)
    sys.stdout.write((_token_json(tokens) if args.json else tokens.access_token) + "\n")
    return 0


def _cmd_refresh(args: argparse.Namespace) -> int:
    tokens = _client(_require_profile(args.profile), refresh_guard=_signals_held).refresh()
    if args.json:
        sys.stdout.write(_token_json(tokens) + "\n")
    else:
        sys.stderr.write(f"Refreshed; access token {_expiry(tokens, time.time())}.\n")
    return 0


def _cmd_logout(args: argparse.Namespace) -> int:
    from pkceflow_core import PkceflowError, ServerError, TransportError
    from pkceflow_core.errors import printable

    from .profiles import delete_client_secret

    profile = _require_profile(args.profile)
    client = _client(profile)
    tokens = client.stored()
    refused: PkceflowError | None = None
    try:
        revoked = client.logout(revoke=not args.no_revoke)
    except (ServerError, TransportError) as exc:  # the local copy is gone already
        revoked, refused = False, exc
    finally:
        if profile.has_client_secret:
            delete_client_secret(client.store, profile.name)
    name = profile.name
    if tokens is None:
        sys.stderr.write(f"There was no stored login for {name!r}; nothing to sign out of.\n")
    elif revoked:
        sys.stderr.write(f"Signed out of {name!r}; the server revoked its tokens.\n")
    else:
        if refused is not None:
            why = f"revoking them failed ({printable(str(refused), 300)})"
        elif args.no_revoke:
            why = "--no-revoke was given"
        else:
            why = "the server offers no revocation endpoint (RFC 7009)"
        left = tokens.expires_in(time.time())
        until = "until they expire" + (
            f" (the access token in {int(left)} s)" if left is not None and left > 0 else ""
        )
        sys.stderr.write(
            f"Signed out of {name!r} on this machine only: {why}, so its tokens remain"
            f" valid at the server {until}.\n"
        )
    return 0 if refused is None else 1


def _cmd_status(args: argparse.Namespace) -> int:
    from pkceflow_core.errors import printable

    from .plugins import get_plugin_manager
    from .profiles import list_profiles

    profiles = [_require_profile(args.profile)] if args.profile else list(list_profiles())
    manager = get_plugin_manager()
    now = time.time()
    rows: list[dict[str, Any]] = []
    for profile in profiles:
        store = manager.hook.pkceflow_token_store(name=profile.store)
        tokens = store.load(profile.name) if store is not None else None
        rows.append(
            {
                "profile": profile.name,
                "client_id": profile.client_id,
                "issuer": profile.issuer or profile.auth_url,
                "store": profile.store,
                "logged_in": tokens is not None,
                "expires_at": None if tokens is None else tokens.expires_at,
                # Never more than the server granted, whatever the clock did since.
                "expires_in": None if tokens is None else tokens.expires_in(now),
                "expired": None if tokens is None else not tokens.is_fresh(now),
                "refresh_token": None if tokens is None else tokens.refresh_token is not None,
                "scope": list(
                    profile.scope if tokens is None or tokens.scope is None else tokens.scope
                ),
            }
        )
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    if not rows:
        sys.stdout.write("No profiles yet: pkceflow login --profile NAME ...\n")
    for row in rows:
        if not row["logged_in"]:
            state = "signed out"
        elif row["expires_in"] is None:
            state = "signed in"
        else:
            left = int(row["expires_in"])
            state = (
                f"signed in, expires in {left} s" if left > 0 else "signed in, access token expired"
            )
        refresh = ", refresh token kept" if row["refresh_token"] else ""
        sys.stdout.write(
            f"{row['profile']}: {state}{refresh}\n"
            f"  client {row['client_id']} at {row['issuer']} (store: {row['store']})\n"
            f"  scope: {printable(' '.join(row['scope']), 500) or '-'}\n"
        )
    return 0


def _cmd_providers(args: argparse.Namespace) -> int:
    from .providers import installed_presets

    presets = installed_presets(_manager())
    if not presets:
        sys.stdout.write("No provider plugins are installed (pip install pkceflow-github ...).\n")
    for preset in presets.values():
        where = preset.issuer or preset.authorization_endpoint
        needs = ", ".join(sorted(preset.placeholders))
        extra = []
        if preset.client_secret_required:
            extra.append("needs a client secret (--client-secret-file)")
        if needs:
            defaults = ", ".join(f"{k}={v}" for k, v in sorted(preset.template_defaults.items()))
            extra.append(f"--template {needs}" + (f" (default {defaults})" if defaults else ""))
        sys.stdout.write(
            f"{preset.name}: {preset.title}\n  {where}\n"
            + (f"  {'; '.join(extra)}\n" if extra else "")
        )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(real_browser=args.browser)


_COMMANDS = {
    "login": _cmd_login,
    "token": _cmd_token,
    "refresh": _cmd_refresh,
    "logout": _cmd_logout,
    "status": _cmd_status,
    "providers": _cmd_providers,
    "demo": _cmd_demo,
}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
