"""What real servers, injected faults and a local attacker found, met through the command.

Each test names the item it proves (14.n: the real-server and attacker findings;
27.n: the injected faults). The provider is the local TestProvider, switched to
answer the way the real server did.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from pkceflow.testing import CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET, TestProvider

from .helpers import Cli

if TYPE_CHECKING:
    from pkceflow.testing.provider import TokenFailure


def _wait_for(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def _refreshes(provider: TestProvider) -> int:
    return sum(
        1
        for r in provider.requests
        if r.endpoint == "token" and r.form.get("grant_type") == "refresh_token"
    )


@pytest.fixture
def second_provider() -> Iterator[TestProvider]:
    with TestProvider() as running:
        yield running


# -- 14.3: explicit endpoints win over discovered ones ---------------------------------


def test_14_3_revocation_url_given_with_issuer_is_kept_and_used(
    cli: Cli, provider: TestProvider, second_provider: TestProvider
) -> None:
    cli.login(provider, "--revocation-url", second_provider.revocation_endpoint).ok()
    profile = cli.profile_path().read_text("utf-8")
    assert f'revocation_url = "{second_provider.revocation_endpoint}"' in profile

    cli.run("logout", "--profile", "work")

    assert second_provider.count("revoke") == 2
    assert provider.count("revoke") == 0


# -- 14.8: --min-ttl values that mean nothing --------------------------------------------


@pytest.mark.parametrize("value", ["-86400", "nan", "inf", "-inf", "x"])
def test_14_8_a_meaningless_min_ttl_is_a_usage_error(
    cli: Cli, provider: TestProvider, value: str
) -> None:
    cli.seed(provider)

    result = cli.run("token", "--profile", "work", f"--min-ttl={value}")

    assert result.returncode == 2
    assert "argument --min-ttl: invalid number of seconds" in result.stderr
    assert result.stdout == ""


def test_14_8_min_ttl_zero_is_fine(cli: Cli, provider: TestProvider) -> None:
    seeded = cli.seed(provider)

    assert cli.token("work", "--min-ttl", "0") == seeded.access_token


# -- 14.9: the client secret off the command line ---------------------------------------


def test_14_9_the_client_secret_from_the_environment(cli: Cli, provider: TestProvider) -> None:
    result = cli.run(
        "login", "--profile", "work", "--client-id", CONFIDENTIAL_CLIENT_ID,
        "--issuer", provider.issuer, "--timeout", "20",
        env={"PKCEFLOW_CLIENT_SECRET": CONFIDENTIAL_CLIENT_SECRET},
    ).ok()  # fmt: skip

    assert "warning" not in result.stderr
    (exchange,) = [r for r in provider.requests if r.endpoint == "token"]
    assert exchange.headers["authorization"].startswith("Basic ")
    assert CONFIDENTIAL_CLIENT_SECRET not in cli.profile_path().read_text("utf-8")


def test_14_9_the_client_secret_from_a_file_or_standard_input(
    cli: Cli, provider: TestProvider
) -> None:
    secret_file = cli.root / "secret"
    secret_file.write_text(CONFIDENTIAL_CLIENT_SECRET + "\n", "utf-8")
    base = ["login", "--client-id", CONFIDENTIAL_CLIENT_ID, "--issuer", provider.issuer]
    base += ["--timeout", "20"]

    cli.run(*base, "--profile", "work", "--client-secret-file", str(secret_file)).ok()
    running = cli.start(*base, "--profile", "other", "--client-secret-file", "-", stdin=-1)
    assert running.process.stdin is not None
    running.process.stdin.write(CONFIDENTIAL_CLIENT_SECRET.encode() + b"\n")
    running.process.stdin.close()
    running.finish().ok()

    assert cli.stored("work") is not None
    assert cli.stored("other") is not None


def test_14_9_a_secret_on_the_command_line_is_warned_about(
    cli: Cli, provider: TestProvider
) -> None:
    result = cli.run(
        "login", "--profile", "work", "--client-id", CONFIDENTIAL_CLIENT_ID,
        "--issuer", provider.issuer, "--timeout", "20",
        "--client-secret", CONFIDENTIAL_CLIENT_SECRET,
    ).ok()  # fmt: skip

    assert "--client-secret is visible to other users" in result.stderr


def test_14_9_an_unreadable_secret_file_is_a_usage_error(cli: Cli, provider: TestProvider) -> None:
    missing = cli.root / "missing"

    result = cli.run(
        "login", "--profile", "work", "--client-id", CONFIDENTIAL_CLIENT_ID,
        "--issuer", provider.issuer, "--client-secret-file", str(missing),
    )  # fmt: skip

    result.fails(2, f"cannot read the client secret from {missing}")
    assert provider.count("token") == 0


# -- 14.14: a refusal without OAuth JSON (Glewlwyd's empty 400) --------------------------


def test_14_14_an_empty_400_at_refresh_says_log_in_again_and_keeps_the_login(
    cli: Cli, provider: TestProvider
) -> None:
    seeded = cli.seed(provider)
    provider.settings.token_failure = "empty_400"

    for _ in range(2):  # every later call says the same, with the same exit code
        message = cli.run("refresh", "--profile", "work").fails(4, "refused to refresh")
        assert "log in again" in message
        assert "without an OAuth error" in message

    kept = cli.stored()
    assert kept is not None
    assert kept["refresh_token"] == seeded.refresh_token


# -- 27.7: overload answers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "shown", "when"),
    [
        # A 429 says when to try again, and has an exit code of its own.
        ("http_429", "HTTP 429", "try again in 120 s"),
        # A 429 carrying slow_down is not "log in again".
        ("slow_down_429", "slow_down", "try again later"),
    ],
)
def test_27_7_a_429_is_try_again_later_with_its_own_exit_code(
    cli: Cli, provider: TestProvider, failure: TokenFailure, shown: str, when: str
) -> None:
    cli.seed(provider)
    provider.settings.token_failure = failure

    message = cli.run("refresh", "--profile", "work").fails(7, shown)

    assert when in message
    assert cli.stored() is not None


# -- 14.4: short-lived tokens ----------------------------------------------------------


def test_14_4_pkceflow_token_does_not_refresh_a_short_lived_token_just_obtained(
    cli: Cli, provider: TestProvider
) -> None:
    provider.settings.access_token_lifetime = 20
    cli.login(provider).ok()
    login = cli.stored()
    assert login is not None

    for _ in range(3):
        assert cli.token() == login["access_token"]

    assert _refreshes(provider) == 0


def test_14_4_six_processes_on_a_due_short_lived_token_send_one_refresh(
    cli: Cli, provider: TestProvider
) -> None:
    # Six seconds: the refreshed token stays fresh for three, time enough for six
    # processes to start even on a busy machine (a late one would refresh again).
    provider.settings.access_token_lifetime = 6
    cli.login(provider).ok()
    time.sleep(3.1)  # into the second half of its life: due
    provider.settings.token_delay = 0.2
    running = [cli.start("token", "--profile", "work") for _ in range(6)]
    results = [r.finish() for r in running]

    assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
    assert len({r.stdout for r in results}) == 1
    assert _refreshes(provider) == 1


# -- 27.2: a clock stepped back --------------------------------------------------------


def test_27_2_a_token_obtained_in_the_clocks_future_is_not_served(
    cli: Cli, provider: TestProvider
) -> None:
    # What a refresh made while the clock ran an hour fast leaves behind once NTP has
    # set it right: the token was obtained "later" than now.
    seeded = cli.seed(provider)
    path = cli.token_path()
    data = json.loads(path.read_text("utf-8"))
    data["obtained_at"] = time.time() + 3600
    data["expires_at"] = data["obtained_at"] + 3600
    path.write_text(json.dumps(data), "utf-8")

    status = cli.run("status", "--profile", "work").ok()
    assert "access token expired" in status.stdout

    assert cli.token() != seeded.access_token
    assert _refreshes(provider) == 1


# -- 27.1: signals that end a process, during a refresh ----------------------------------


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGINT])
def test_27_1_an_ending_signal_during_a_refresh_waits_until_the_rotation_is_stored(
    cli: Cli, provider: TestProvider, signum: signal.Signals
) -> None:
    seeded = cli.seed(provider)
    provider.settings.token_answer_delay = 1.0  # rotated at once, answered a second later
    running = cli.start("refresh", "--profile", "work")
    _wait_for(lambda: _refreshes(provider) == 1)

    running.process.send_signal(signum)
    result = running.finish()

    assert result.returncode != 0  # the signal still ends it, once the answer is stored
    kept = cli.stored()
    assert kept is not None
    assert kept["refresh_token"] != seeded.refresh_token
    provider.settings.token_answer_delay = 0.0
    cli.run("refresh", "--profile", "work").ok()  # the rotated token works: no reuse


# -- 27.5: waiting for another process's refresh is interruptible -------------------------


def test_27_5_ctrl_c_while_waiting_for_another_refresh_ends_at_once(
    cli: Cli, provider: TestProvider
) -> None:
    cli.seed(provider)
    provider.settings.token_answer_delay = 5.0
    holder = cli.start("refresh", "--profile", "work")
    _wait_for(lambda: _refreshes(provider) == 1)
    waiter = cli.start("refresh", "--profile", "work")
    time.sleep(0.5)  # well into its wait for the lock

    started = time.monotonic()
    waiter.interrupt()
    result = waiter.finish(timeout=10)

    assert result.returncode == 130
    assert time.monotonic() - started < 2.0  # not after the holder's 5 s
    holder.finish().ok()
    assert _refreshes(provider) == 1


# -- 27.3: two logins to one profile at once --------------------------------------------


def test_27_3_the_login_that_finishes_second_is_told_and_both_halves_stay_together(
    cli: Cli, provider: TestProvider, second_provider: TestProvider
) -> None:
    from pkceflow.testing import HttpFollowingBrowser

    first = cli.start(
        "login", "--profile", "work", "--client-id", "pkceflow-test",
        "--issuer", provider.issuer, "--scope", "openid offline_access",
        "--timeout", "20", "--no-browser",
    )  # fmt: skip
    url = first.wait_for_url()
    # Meanwhile, in another terminal, a login to the same profile at another server.
    cli.login(second_provider).ok()
    winner = cli.stored()
    assert winner is not None

    browser = HttpFollowingBrowser()
    browser.open(url)
    browser.wait()
    result = first.finish()

    result.fails(1, "another login to profile 'work' finished while this one waited", alone=False)
    profile = cli.profile_path().read_text("utf-8")
    assert f'issuer = "{second_provider.issuer}"' in profile
    assert cli.stored() == winner  # the profile and its tokens are the same login's
    assert winner["access_token"] in second_provider.active_tokens()
    assert provider.count("revoke") == 2  # the loser's unused tokens, revoked
    assert provider.active_tokens() == set()


# -- 27.4: a login whose profile cannot be written ----------------------------------------


def test_27_4_a_read_only_profiles_folder_leaves_the_previous_login_whole(
    cli: Cli, provider: TestProvider, second_provider: TestProvider
) -> None:
    # Root ignores folder permissions: the profiles folder is made read-only with a
    # read-only bind mount, in a mount namespace of the command's own.
    seeded = cli.seed(provider)
    before = (cli.profile_path().read_bytes(), cli.token_path().read_bytes())
    folder = cli.profile_path().parent
    login = [
        *cli.command, "login", "--profile", "work", "--client-id", "pkceflow-test",
        "--issuer", second_provider.issuer, "--scope", "openid offline_access",
        "--timeout", "20",
    ]  # fmt: skip
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 77; shift; exec "$@"'
    result = cli.run("-c", script, "sh", str(folder), *login, command=["unshare", "--mount", "sh"])

    assert result.returncode != 77, f"cannot make a read-only bind mount: {result.stderr}"
    message = result.fails(1, "cannot save the profile", alone=False)
    assert "Read-only file system; the previous login is unchanged" in message
    assert "Traceback" not in result.stderr
    assert (cli.profile_path().read_bytes(), cli.token_path().read_bytes()) == before
    assert not [p.name for p in cli.home.rglob("*.tmp")]
    assert second_provider.count("token") == 1  # the server did issue tokens
    assert cli.token() == seeded.access_token  # and the old login still works


# -- 14.5, 14.10: profiles and token files only this user controls ------------------------


def _plant(cli: Cli, target: str, how: str) -> None:
    path = cli.profile_path() if target == "profile" else cli.token_path()
    if how == "symlink":
        real = path.with_name("real-" + path.name)
        path.rename(real)
        path.symlink_to(real)
    elif how == "fifo":
        path.unlink()
        os.mkfifo(path, 0o600)
    elif how == "other-owner":
        os.chown(path, 65534, 65534)
    elif how == "group-writable":
        path.chmod(0o620)
    elif how == "folder-writable":
        path.parent.chmod(0o770)


@pytest.mark.parametrize("target", ["profile", "tokens"])
@pytest.mark.parametrize(
    "how", ["symlink", "fifo", "other-owner", "group-writable", "folder-writable"]
)
@pytest.mark.parametrize("command", ["token", "refresh"])
def test_14_5_and_14_10_an_untrustworthy_file_is_refused_without_blocking(
    cli: Cli, provider: TestProvider, target: str, how: str, command: str
) -> None:
    if how == "other-owner" and os.geteuid() != 0:
        pytest.skip("making a file of another user needs root")
    cli.seed(provider)
    _plant(cli, target, how)
    started = time.monotonic()

    result = cli.run(command, "--profile", "work", timeout=15)

    assert time.monotonic() - started < 10  # a FIFO never hangs it
    assert result.returncode in (1, 2), result
    assert result.stdout == ""  # no token printed
    assert result.stderr.startswith("pkceflow: error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert _refreshes(provider) == 0  # nothing sent where an untrusted profile says
    fix = {"symlink": "symlink", "fifo": "not a regular file", "other-owner": "another user"}
    fix |= {"group-writable": "chmod 600", "folder-writable": "chmod 700"}
    assert fix[how] in result.stderr


# -- 14.11: secrets and token sets in separate namespaces --------------------------------


def test_14_11_a_profile_named_like_a_secret_key_cannot_reach_the_secret(
    cli: Cli, provider: TestProvider
) -> None:
    cli.seed(provider, client_id=CONFIDENTIAL_CLIENT_ID, client_secret=CONFIDENTIAL_CLIENT_SECRET)
    other = cli.seed(provider, profile="work.client-secret")

    cli.run("logout", "--profile", "work.client-secret", "--no-revoke").ok()

    from pkceflow.file_store import FileStore
    from pkceflow.profiles import load_client_secret

    store = FileStore(cli.home / "tokens")
    assert load_client_secret(store, "work") == CONFIDENTIAL_CLIENT_SECRET
    assert cli.stored("work") is not None
    assert cli.stored("work.client-secret") is None
    assert other.access_token in provider.active_tokens()
    cli.run("refresh", "--profile", "work").ok()  # the secret still authenticates


def test_14_11_a_secret_kept_under_the_old_key_moves_to_its_namespace(
    cli: Cli, provider: TestProvider
) -> None:
    from pkceflow.file_store import FileStore
    from pkceflow.profiles import load_client_secret
    from pkceflow_core import TokenSet

    store = FileStore(cli.home / "tokens")
    store.save("work.client-secret", TokenSet("s3cret", token_type="client-secret"))
    store.save("other.client-secret", TokenSet("a-login", token_type="Bearer"))

    assert load_client_secret(store, "work") == "s3cret"
    assert store.load("work.client-secret") is None
    assert load_client_secret(store, "other") is None  # a profile's login is not a secret
    assert store.load("other.client-secret") is not None


# -- 27.8: filesystem errors, in one line that names the path and the cause ---------------


@pytest.mark.parametrize("command", ["status", "token", "refresh", "logout", "login"])
def test_27_8_a_very_long_home_is_one_line_naming_the_path_and_the_cause(
    cli: Cli, command: str
) -> None:
    home = "/tmp/" + "a/" * 2100  # longer than PATH_MAX

    result = cli.run(command, "--profile", "work", env={"PKCEFLOW_HOME": home})

    assert result.returncode in (1, 2), result
    assert result.stderr.count("\n") == 1, result.stderr
    assert "unexpected" not in result.stderr
    assert "File name too long" in result.stderr
    assert "/tmp/a/a/" in result.stderr
