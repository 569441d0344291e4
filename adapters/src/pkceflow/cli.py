"""The ``pkceflow`` command: any OAuth provider, scriptable from a shell.

    pkceflow login --profile work --client-id ID --issuer https://id.example.com
    curl -H "Authorization: Bearer $(pkceflow token --profile work)" https://api.example.com/

Each exit code and what it means is in EXIT_CODES. Errors are one line on standard
error; ``--debug`` adds the traceback and debug logging.

``pkceflow token`` is the hot path of scripts: with a valid cached token in the file
store it is answered by the entry point (pkceflow.__main__) before this module is
imported, so this module imports what it uses at its top, as any other.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, NoReturn

import attrs
import pluggy

from pkceflow_core import (
    CallbackTimeoutError,
    LoginRequiredError,
    PkceflowError,
    ProviderPreset,
    Quirks,
    ServerError,
    TokenError,
    TokenSet,
    TransportError,
    normalize_scope,
)
from pkceflow_core.errors import printable
from pkceflow_core.ports import TokenStore

from ._fast_token import fast_token, token_json
from .client import Client
from .memory_store import MemoryStore
from .paths import shown
from .plugins import find_store, get_plugin_manager, store_names
from .profiles import (
    Profile,
    delete_client_secret,
    list_profiles,
    load_client_secret,
    load_profile,
    profile_bytes,
    save_login,
    server_settings,
)
from .providers import find_preset, installed_presets
from .settings import Interaction, Settings, apply_preset

__all__ = ["EXIT_CODES", "main", "run"]


class _Usage(Exception):
    pass


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


#: The exit codes, in the order an error is matched against them: the code, the
#: exceptions it stands for (by module and name, so that this table imports nothing
#: the token hot path would not), and what it means. The first row naming a class
#: of the error, or one of its bases, gives the code.
_EXITS: tuple[tuple[int, tuple[str, ...], str], ...] = (
    (0, (), "success"),
    (2, (_class_name(_Usage), "pkceflow_core.errors.UsageError"), "usage error"),
    (
        3,
        ("pkceflow_core.errors.AuthorizationError",),
        "the authorization server refused at the redirect",
    ),
    (
        7,
        ("pkceflow_core.errors.TemporarilyUnavailableError",),
        "the authorization server is busy or unavailable: try again later",
    ),
    (
        4,
        ("pkceflow_core.errors.TokenError", "pkceflow_core.errors.LoginEndedError"),
        "the authorization server refused or ended the login: log in again",
    ),
    (5, ("pkceflow_core.errors.CallbackTimeoutError",), "timed out waiting for the browser"),
    (6, ("pkceflow_core.errors.LoginRequiredError",), "no stored login for that profile"),
    (130, ("builtins.KeyboardInterrupt",), "interrupted"),
    (1, ("builtins.Exception",), "any other error"),
)

#: What each exit code means.
EXIT_CODES = {code: meaning for code, _, meaning in sorted(_EXITS)}


def _exit_code(exc: BaseException) -> int:
    """The code of the first row of _EXITS naming a class ``exc`` is an instance of."""
    names = {_class_name(cls) for cls in type(exc).__mro__}
    return next(code for code, covers, _ in _EXITS if names.intersection(covers))


def _port(text: str) -> int:
    port = int(text) if text.strip().isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r} (0-65535)")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:  # NaN included
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}")
    return value


def _margin(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):  # NaN, negative and infinite refused
        raise argparse.ArgumentTypeError(
            f"invalid number of seconds: {text!r} (0 or more, and finite)"
        )
    return value


#: The subcommands: name -> (help, the function adding its options, the function running it).
_COMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {}


def _command(
    name: str, help: str, options: Callable[[argparse.ArgumentParser], None] | None = None
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Register a subcommand; its options are defined right above it."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        _COMMANDS[name] = (help, options or (lambda _: None), run)
        return run

    return register


def _profile_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="default", help="the profile name (default: default)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"pkceflow: error: {message}\n")
        raise SystemExit(2)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pkceflow", description="OAuth 2.0 Authorization Code + PKCE.")
    parser.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    parser.add_argument("--version", action="version", version="pkceflow 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help, options, _) in _COMMANDS.items():
        options(sub.add_parser(name, help=help))
    return parser


# -- entry point -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see EXIT_CODES).

    The same as the ``pkceflow`` entry point (pkceflow.__main__): a fresh cached
    token is answered by the fast path, anything else by :func:`run`.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    done = fast_token(argv)
    return run(argv) if done is None else done


def run(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run its subcommand; returns the exit code (see EXIT_CODES)."""
    args = _build_parser().parse_args(argv)
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    _, _, command = _COMMANDS[args.command]
    try:
        return int(command(args))
    except KeyboardInterrupt as exc:
        sys.stderr.write("pkceflow: interrupted\n")
        return _exit_code(exc)
    except Exception as exc:  # noqa: BLE001 (turned into one line and an exit code)
        return _report(exc, debug=args.debug)


def _report(exc: Exception, *, debug: bool) -> int:

    if debug:
        import traceback

        traceback.print_exception(exc)
    code = _exit_code(exc)
    if isinstance(exc, PkceflowError | _Usage):
        text = str(exc)
        if isinstance(exc.__cause__, TokenError):
            # e.g. a refused refresh: keep the server's error and description.
            text += f"; the server said: {exc.__cause__}"
    elif isinstance(exc, OSError) and exc.strerror:
        # A filesystem error nothing below turned into a pkceflow error: say where.

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

    return find_preset(manager, name)


def _client(
    profile: Profile,
    *,
    store: TokenStore | None = None,
    refresh_guard: Callable[[], AbstractContextManager[object]] | None = None,
    **options: Any,
) -> Client:
    """The Client a saved profile describes; ``options`` are Settings fields to add."""

    manager = _manager()
    named = _store(profile.store)
    if profile.has_client_secret and "client_secret" not in options:
        options["client_secret"] = load_client_secret(named, profile.name)
    quirks = _preset(manager, profile.provider).quirks if profile.provider else None
    settings = Settings.from_profile(profile, quirks=quirks, **options)
    return Client.from_settings(
        settings, store=store or named, plugin_manager=manager, refresh_guard=refresh_guard
    )


def _require_profile(name: str) -> Profile:

    profile = load_profile(name)
    if profile is None:
        raise LoginRequiredError(
            f"there is no profile {name!r}; run: pkceflow login --profile {name} ..."
        )
    return profile


def _token_json(tokens: TokenSet) -> str:

    return token_json(tokens.access_token, tokens.token_type, tokens.expires_at, tokens.scope)


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


def _login_options(p: argparse.ArgumentParser) -> None:
    _profile_option(p)
    p.add_argument("--client-id")
    p.add_argument(
        "--client-secret-file",
        metavar="PATH",
        help="read the client secret from PATH, or from standard input with -"
        " (or set PKCEFLOW_CLIENT_SECRET)",
    )
    p.add_argument(
        "--client-secret",
        help="the client secret on the command line: visible to other users in the"
        " process list; prefer --client-secret-file or PKCEFLOW_CLIENT_SECRET",
    )
    p.add_argument("--issuer", help="discover the endpoints from this issuer")
    p.add_argument(
        "--auth-url", help="the authorization endpoint (with --issuer: overrides discovery)"
    )
    p.add_argument("--token-url", help="the token endpoint (with --issuer: overrides discovery)")
    p.add_argument(
        "--revocation-url",
        help="the revocation endpoint, RFC 7009 (with --issuer: overrides discovery)",
    )
    p.add_argument("--scope", help='space-separated scopes, e.g. "openid email"')
    p.add_argument("--redirect-host", help="loopback host of the redirect URI (127.0.0.1)")
    p.add_argument("--redirect-port", type=_port, help="0 picks a free port (default)")
    p.add_argument("--redirect-path", help="path of the redirect URI (/callback)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra authorization parameter; repeat for more (or the same key)",
    )
    p.add_argument(
        "--store",
        metavar="NAME",
        help="the token store (a new profile's default: file); see pkceflow stores",
    )
    p.add_argument("--no-browser", action="store_true", help="only print the URL")
    p.add_argument("--timeout", type=_seconds, default=300.0, help="seconds to wait (300)")
    p.add_argument("--provider", help="use an installed provider preset")
    p.add_argument(
        "--template",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fill a provider's URL placeholder, e.g. tenant=contoso.onmicrosoft.com",
    )


@_command("login", "sign in through the browser and store the token", _login_options)
def _cmd_login(args: argparse.Namespace) -> int:

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
    if (
        profile.has_client_secret
        and args.client_secret is None
        and load_client_secret(store, profile.name) is None
    ):
        raise _Usage(
            f"the client of profile {profile.name!r} needs its client secret:"
            " --client-secret-file PATH, or PKCEFLOW_CLIENT_SECRET"
        )
    if profile.auth_url is None:
        quirks = _preset(_manager(), profile.provider).quirks if profile.provider else None
        # Endpoints given with --issuer win over discovered ones, as in Client.
        profile = _discover_into(
            profile,
            quirks,
            authorization_url=args.auth_url,
            token_url=args.token_url,
            revocation_url=args.revocation_url,
        )

    overrides: dict[str, Any] = {
        "interaction": Interaction(open_browser=not args.no_browser, timeout=args.timeout)
    }
    if args.client_secret is not None:
        overrides["client_secret"] = args.client_secret
    # The browser round trip keeps its tokens in memory: they are saved below, with
    # the profile, once both can be replaced together.

    before = profile_bytes(profile.name)
    profile = attrs.evolve(profile, login_id=os.urandom(8).hex())
    client = _client(profile, store=MemoryStore(), **overrides)
    if profile.redirect_path is None and client.redirect_path != "/callback":
        port = "any port" if not profile.redirect_port else f"port {profile.redirect_port}"
        host = (
            f"[{profile.redirect_host}]" if ":" in profile.redirect_host else profile.redirect_host
        )
        sys.stderr.write(
            "This server does not name itself in its redirects (RFC 9207), so pkceflow gives"
            f" it a redirect URI of its own: register http://{host}{client.redirect_path}"
            f" ({port}) for the client.\n"
        )
    tokens = client.login()
    save_login(
        store,
        profile,
        tokens,
        secret=args.client_secret,
        before=before,
        # Best effort: the tokens of a login that lost the race are never used.
        discard=lambda: client.logout(revoke=True),
    )
    sys.stderr.write(
        f"Signed in; profile {profile.name!r} saved. Access token {_expiry(tokens, time.time())}.\n"
    )
    return 0


def _client_secret(args: argparse.Namespace) -> str | None:
    """The client secret from --client-secret-file, --client-secret or the environment."""

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

    return get_plugin_manager()


def _store(name: str) -> Any:

    return find_store(_manager(), name)


def _provider_settings(
    args: argparse.Namespace, saved: Profile | None, changes: dict[str, Any]
) -> dict[str, Any]:
    """The profile settings a provider preset supplies, the person's options kept."""

    name = args.provider or (saved.provider if saved else None)
    assert name is not None
    template = dict(saved.template) if saved and saved.provider == name else {}
    template.update(_parse_pairs(args.template, "--template"))
    fresh = saved is None or saved.provider != name
    values = apply_preset(
        _preset(_manager(), name),
        template,
        secret_given=bool(args.client_secret) or not fresh,
        secret_hint="--client-secret-file PATH, or PKCEFLOW_CLIENT_SECRET",
    )
    settings: dict[str, Any] = {"provider": name, "template": values.template}
    if "scope" not in changes and fresh:
        settings["scope"] = values.scope or ()
    settings["params"] = {**values.params, **changes.get("params", {})}
    if values.auth_method is not None:
        settings["auth_method"] = values.auth_method
    if values.server is not None:
        settings.update(server_settings(values.server))
    else:
        settings.update(issuer=values.issuer, auth_url=None, token_url=None)
    return settings


def _discover_into(
    profile: Profile,
    quirks: Quirks | None = None,
    *,
    authorization_url: str | None = None,
    token_url: str | None = None,
    revocation_url: str | None = None,
) -> Profile:
    """``profile`` with the endpoints its issuer's metadata names; those given win."""
    assert profile.issuer is not None
    settings = Settings(
        profile.client_id,
        issuer=profile.issuer,
        quirks=quirks or Quirks(),
        authorization_url=authorization_url,
        token_url=token_url,
        revocation_url=revocation_url,
    )
    with Client.from_settings(settings, plugin_manager=_manager()) as client:
        return attrs.evolve(profile, **server_settings(client.server))


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


def _token_options(p: argparse.ArgumentParser) -> None:
    _profile_option(p)
    p.add_argument(
        "--min-ttl",
        type=_margin,
        default=60.0,
        help="refresh if it expires sooner (seconds; at most half the token's lifetime)",
    )
    p.add_argument(
        "--json", action="store_true", help="access_token, token_type, expires_at, scope"
    )


@_command("token", "print a valid access token", _token_options)
def _cmd_token(args: argparse.Namespace) -> int:
    profile = _require_profile(args.profile)
    tokens = _client(profile, refresh_guard=_signals_held).tokens(min_ttl=args.min_ttl)
    sys.stdout.write((_token_json(tokens) if args.json else tokens.access_token) + "\n")
    return 0


def _refresh_options(p: argparse.ArgumentParser) -> None:
    _profile_option(p)
    p.add_argument("--json", action="store_true")


@_command("refresh", "refresh the access token now", _refresh_options)
def _cmd_refresh(args: argparse.Namespace) -> int:
    tokens = _client(_require_profile(args.profile), refresh_guard=_signals_held).refresh()
    if args.json:
        sys.stdout.write(_token_json(tokens) + "\n")
    else:
        sys.stderr.write(f"Refreshed; access token {_expiry(tokens, time.time())}.\n")
    return 0


def _logout_options(p: argparse.ArgumentParser) -> None:
    _profile_option(p)
    p.add_argument("--no-revoke", action="store_true", help="only forget it locally")


@_command("logout", "revoke and forget the stored login", _logout_options)
def _cmd_logout(args: argparse.Namespace) -> int:

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


def _status_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile")
    p.add_argument("--json", action="store_true")


@_command("status", "profiles, expiry and scopes (never a token)", _status_options)
def _cmd_status(args: argparse.Namespace) -> int:

    profiles = [_require_profile(args.profile)] if args.profile else list(list_profiles())
    manager = get_plugin_manager()
    now = time.time()
    rows: list[dict[str, Any]] = []
    for profile in profiles:
        # A profile whose store is no longer installed is listed as signed out.
        installed = profile.store in store_names(manager)
        tokens = find_store(manager, profile.store).load(profile.name) if installed else None
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


@_command("providers", "list the installed provider presets")
def _cmd_providers(args: argparse.Namespace) -> int:

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
            + (f"  register an application at {preset.console_url}\n" if preset.console_url else "")
        )
    return 0


def _stores_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="a list of name and description")


@_command("stores", "list the installed token stores (--store NAME)", _stores_options)
def _cmd_stores(args: argparse.Namespace) -> int:

    stores = store_names(_manager())
    if args.json:
        rows = [{"name": name, "description": text} for name, text in stores.items()]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    width = max(map(len, stores), default=0)
    for name, description in stores.items():
        sys.stdout.write(f"{name:<{width}}  {description}\n")
    return 0


def _demo_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--browser", action="store_true", help="use your real browser")


@_command("demo", "a whole login against the built-in test provider", _demo_options)
def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(real_browser=args.browser)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
