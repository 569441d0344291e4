"""Every exit code of ``pkceflow`` (``pkceflow.cli.EXIT_CODES``), and errors as one
``pkceflow: error:`` line.
"""

from __future__ import annotations

import importlib
import re
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import pkceflow_core
from pkceflow import cli as pkceflow_cli
from pkceflow.cli import EXIT_CODES
from pkceflow.testing import CONFIDENTIAL_CLIENT_ID, TestProvider

from .helpers import (
    Cli,
    Result,
    assert_no_login_kept,
    bearer_get,
    redirect_port,
    refuses_connections,
)

ISSUER = "{issuer}"  # replaced with the running provider's issuer
LOGIN = ["login", "--profile", "new", "--client-id", "pkceflow-test", "--issuer", ISSUER]


DOCS = Path(__file__).parents[2] / "docs" / "cli.md"


def _documented_exit_codes() -> list[tuple[int, str]]:
    """(code, meaning) of each row of the table under docs/cli.md's "Exit codes"."""
    section = DOCS.read_text("utf-8").split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| ([^|]*?) \|", section, re.MULTILINE)
    return [(int(code), meaning) for code, meaning in rows]


def test_the_documented_exit_codes_are_exactly_exit_codes() -> None:
    assert _documented_exit_codes() == list(EXIT_CODES.items())


def test_every_exit_code_keeps_its_meaning() -> None:
    assert list(EXIT_CODES) == [0, 1, 2, 3, 4, 5, 6, 7, 130]
    assert EXIT_CODES[130] == "interrupted"
    assert EXIT_CODES[1] == "any other error"


def test_every_error_class_the_exit_table_names_exists() -> None:
    for _, names, _ in pkceflow_cli._EXITS:
        for name in names:
            module, _, attribute = name.rpartition(".")
            found = getattr(importlib.import_module(module), attribute)
            assert isinstance(found, type)
            assert issubclass(found, BaseException), name


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (pkceflow_core.UsageError("x"), 2),
        (pkceflow_core.InsecureEndpointError("x"), 2),
        (pkceflow_core.AuthorizationError("access_denied"), 3),
        (pkceflow_core.TemporarilyUnavailableError("busy", status=503), 7),
        (pkceflow_core.TokenError("invalid_grant", status=400), 4),
        (pkceflow_core.LoginEndedError("ended"), 4),
        (pkceflow_core.IdentityChangedError("someone else", claim="sub"), 4),
        (pkceflow_core.CallbackTimeoutError("late"), 5),
        (pkceflow_core.LoginRequiredError("none"), 6),
        (KeyboardInterrupt(), 130),
        (pkceflow_core.TransportError("down"), 1),
        (pkceflow_core.StoreError("broken"), 1),
        (RuntimeError("odd"), 1),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_error_gets_the_code_of_the_first_row_that_covers_it(
    error: BaseException, code: int
) -> None:
    assert pkceflow_cli._exit_code(error) == code


def _nothing_happened(cli: Cli, provider: TestProvider) -> None:
    assert provider.count("authorize") == provider.count("token") == 0
    assert not (cli.home / "profiles").exists()
    assert not (cli.home / "tokens").exists()


# ---- 2: usage


def _refused_before_anything_happened(
    cli: Cli, provider: TestProvider, args: list[str], message: str
) -> None:
    result = cli.run(*(a.replace(ISSUER, provider.issuer) for a in args))

    result.fails(2, message)
    _nothing_happened(cli, provider)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["login", "--profile", "new", "--issuer", ISSUER],
            "--client-id is required for a new profile",
            id="new-profile-without-client-id",
        ),
        pytest.param(
            ["login", "--profile", "new", "--client-id", "c", "--auth-url", "http://127.0.0.1:1/a"],
            "--auth-url and --token-url go together",
            id="auth-url-without-token-url",
        ),
        pytest.param(
            ["login", "--profile", "new", "--client-id", "c"],
            "give --issuer, or --auth-url and --token-url",
            id="no-endpoints",
        ),
    ],
)
def test_usage_errors_exit_2(
    cli: Cli, provider: TestProvider, args: list[str], message: str
) -> None:
    _refused_before_anything_happened(cli, provider, args, message)


@pytest.mark.parametrize(
    ("provider_args", "message"),
    [
        (["acme"], "no provider plugin called 'acme' is installed"),
        (["github"], "GitHub wants the client secret"),
        (["microsoft", "--template", "tenant=a/b"], "not a valid tenant"),
    ],
    ids=["unknown-provider", "provider-secret-missing", "provider-bad-template"],
)
def test_a_refused_provider_exits_2(
    cli: Cli, provider: TestProvider, provider_args: list[str], message: str
) -> None:
    args = ["login", "--profile", "new", "--client-id", "x", "--provider", *provider_args]
    _refused_before_anything_happened(cli, provider, args, message)


@pytest.mark.parametrize(
    ("command", "name"), [("login", "../evil"), ("token", "a b"), ("status", ".hidden")]
)
def test_a_bad_profile_name_exits_2(
    cli: Cli, provider: TestProvider, command: str, name: str
) -> None:
    login = ["--client-id", "c", "--issuer", ISSUER] if command == "login" else []
    args = [command, "--profile", name, *login]
    _refused_before_anything_happened(cli, provider, args, f"{name!r} is not a valid profile name")


#: Options that make an otherwise complete LOGIN a usage error, and what the error says.
BAD_LOGIN_OPTIONS = [
    ("--param", "prompt", "--param takes KEY=VALUE, not 'prompt'"),
    ("--param", "=consent", "--param takes KEY=VALUE"),
    ("--param", "state=mine", "the parameter 'state' is set twice"),
    ("--scope", 'openid "x"', "is not a valid scope token"),
    ("--store", "nowhere", "no token store called 'nowhere' is installed"),
    ("--provider", "github", "--provider names the endpoints"),
    ("--template", "tenant=x", "--template fills a provider's placeholders"),
    ("--redirect-host", "example.com", "the redirect host must be a loopback address"),
    ("--redirect-path", "callback", "the redirect path must start with '/'"),
]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    BAD_LOGIN_OPTIONS,
    ids=[f"{option}={value}" for option, value, _ in BAD_LOGIN_OPTIONS],
)
def test_a_refused_login_option_exits_2(
    cli: Cli, provider: TestProvider, option: str, value: str, message: str
) -> None:
    _refused_before_anything_happened(cli, provider, [*LOGIN, option, value], message)


#: Option values argparse refuses, and what it says of each after ``argument OPTION:``.
BAD_OPTION_VALUES = [
    ("login", "--timeout", "soon", "invalid"),
    ("login", "--timeout", "nan", "invalid number of seconds: 'nan'"),
    ("login", "--timeout", "0", "invalid number of seconds: '0'"),
    ("login", "--redirect-port", "http", "invalid"),
    ("login", "--redirect-port", "70000", "invalid port: '70000' (0-65535)"),
    ("token", "--min-ttl", "x", "invalid number of seconds"),
]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "the following arguments are required: command", id="no-command"),
        pytest.param(["bogus"], "argument command: invalid choice: 'bogus'", id="bad-command"),
        pytest.param(["token", "--bogus"], "unrecognized arguments: --bogus", id="bad-option"),
        pytest.param(["status", "--profile"], "expected one argument", id="missing-value"),
        *(
            pytest.param(
                [command, option, value], f"argument {option}: {says}", id=f"{option}={value}"
            )
            for command, option, value, says in BAD_OPTION_VALUES
        ),
    ],
)
def test_argument_errors_exit_2_with_the_usage(cli: Cli, args: list[str], message: str) -> None:
    result = cli.run(*args)

    line = result.fails(2, message, alone=False)
    assert result.stderr.startswith("usage: pkceflow")
    assert result.stderr.endswith(line + "\n")


def test_help_and_version_exit_0(cli: Cli) -> None:
    assert cli.run("--version").ok().stdout == "pkceflow 0.1.0\n"
    text = cli.run("--help").ok().stdout
    for command in ("login", "token", "refresh", "logout", "status", "demo"):
        assert command in text


# ---- 3: refused at the redirect


def test_access_denied_at_the_redirect_exits_3(cli: Cli, provider: TestProvider) -> None:
    provider.settings.deny_consent = True

    result = cli.login(provider)

    result.fails(3, "access_denied: The resource owner denied the request.", alone=False)
    assert_no_login_kept(cli, provider)


def test_the_person_pressing_deny_exits_3(cli: Cli, provider: TestProvider) -> None:
    provider.settings.interactive = True
    cli.env["FAKE_BROWSER_DECISION"] = "deny"

    cli.login(provider).fails(3, "access_denied", alone=False)

    assert provider.count("token") == 0


def test_a_hostile_error_description_stays_on_one_printable_line(
    cli: Cli, provider: TestProvider
) -> None:
    provider.settings.deny_consent = True
    provider.settings.deny_error_description = (
        "<script>alert(1)</script>\x1b[2J\x07 denied\r\npkceflow: error: forged"
    )

    result = cli.login(provider)

    line = result.fails(3, "access_denied", "<script>alert(1)</script>", alone=False)
    assert "\x1b" not in result.stderr
    assert "\x07" not in result.stderr
    assert line.endswith("deniedpkceflow: error: forged")


# ---- 4: the token endpoint refused (a refused refresh: see test_refresh.py)


def test_a_wrong_client_secret_exits_4(cli: Cli, provider: TestProvider) -> None:
    result = cli.login(provider, "--client-secret", "guess", client_id=CONFIDENTIAL_CLIENT_ID)

    result.fails(4, "invalid_client: Client authentication failed.", alone=False)
    assert cli.stored() is None
    assert not cli.profile_path().exists()
    assert not [p for p in cli.files() if "guess" in p.read_text("utf-8")]


# ---- 5: timed out waiting for the browser


def test_nobody_following_the_url_times_out_with_5(cli: Cli, provider: TestProvider) -> None:
    result = cli.login(provider, "--no-browser", timeout="1")

    result.fails(5, "no callback arrived within 1 s", alone=False)
    assert refuses_connections(redirect_port(result.authorization_url()))
    assert cli.browser_visits(timeout=0) == []
    assert provider.count("authorize") == 0
    assert cli.stored() is None
    assert not cli.profile_path().exists()


# ---- 6: no stored login


@pytest.mark.parametrize("command", ["token", "refresh", "logout", "status"])
def test_an_unknown_profile_exits_6(cli: Cli, command: str) -> None:
    result = cli.run(command, "--profile", "ghost")

    result.fails(6, "there is no profile 'ghost'", "pkceflow login --profile ghost")


def test_a_profile_without_a_stored_login_exits_6(cli: Cli, provider: TestProvider) -> None:
    cli.seed(provider)
    cli.token_path().unlink()

    cli.run("token", "--profile", "work").fails(6, "there is no stored login for 'work'")
    cli.run("refresh", "--profile", "work").fails(6, "there is no stored login for 'work'")
    assert provider.count() == 0


# ---- 1: anything else


def test_an_unreachable_provider_exits_1(cli: Cli) -> None:
    # Bound but never listening: connections are refused, and no one else gets the port.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        result = cli.run(*LOGIN[:-1], f"http://127.0.0.1:{port}")

    result.fails(1, "GET to 127.0.0.1 failed")
    assert not (cli.home / "profiles").exists()


def test_a_provider_gone_at_refresh_exits_1(cli: Cli, provider: TestProvider) -> None:
    cli.seed(provider)
    before = cli.token_path().read_bytes()
    provider.stop()

    cli.run("refresh", "--profile", "work").fails(1, "POST to 127.0.0.1 failed")

    assert cli.token_path().read_bytes() == before


def test_a_redirect_port_in_use_exits_2(cli: Cli, provider: TestProvider) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = cli.login(provider, "--redirect-port", str(port))

    result.fails(2, f"the redirect port {port} is already in use on 127.0.0.1")
    assert provider.count("authorize") == 0


def test_debug_shows_the_traceback_of_any_error(cli: Cli) -> None:
    result = cli.run("--debug", "token", "--profile", "ghost")

    assert result.returncode == 6
    assert "Traceback (most recent call last):" in result.stderr
    assert "LoginRequiredError: there is no profile 'ghost'" in result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("pkceflow: error:")] == [lines[-1]]


# ---- 130: interrupted


@contextmanager
def _sigint_delivered() -> Iterator[None]:
    # A child inherits an ignored SIGINT (as in a shell's background job), and Python
    # then never turns it into KeyboardInterrupt; a handled one is reset on exec.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_while_waiting_exits_130_and_leaves_no_listener(
    cli: Cli, provider: TestProvider
) -> None:
    with _sigint_delivered():
        running = cli.start(*LOGIN[:-1], provider.issuer, "--no-browser", "--timeout", "30")
    port = redirect_port(running.wait_for_url())
    # The listener is there while it waits. (A full round trip: a bare connection
    # just before SIGINT can land it inside the listener's thread start, where
    # loopback.py then fails with RuntimeError instead of exiting 130.)
    assert bearer_get(f"http://127.0.0.1:{port}/elsewhere", "-") == 404

    running.interrupt()
    result: Result = running.finish(timeout=10)

    assert result.returncode == 130, result
    assert result.stdout == ""
    assert result.stderr.endswith("\npkceflow: interrupted\n")
    assert "Traceback" not in result.stderr
    assert refuses_connections(port)
    assert not (cli.home / "profiles").exists()
