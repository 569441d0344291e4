"""kill -9 in the middle of refreshes: the store is never corrupted; losses are only the window.

Eight real ``pkceflow`` processes share one PKCEFLOW_HOME and one profile in the file
store, against a TestProvider that rotates the refresh token on every use and revokes
the whole grant when a rotated-away token is used again. A controller kills some of
them with SIGKILL at random moments (seeded), round after round.

What must hold after every round: the token file parses and is private; no process saw
a half-written store or crashed; and either the stored refresh token is the newest one
the provider issued and still valid, or a process was killed inside the one window
pkceflow cannot close: after the provider read the refresh request (and so rotated the
token) and before the new token set was renamed over the old one. Such a lost rotation
shows up at the provider as an "orphan", a refresh token it issued that nobody ever
stored or presented; there is never more than one per kill. The test counts them
instead of hiding them, and logs in again (a new grant) after each.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest

from pkceflow import Client, LoginRequiredError
from pkceflow.file_store import FileStore
from pkceflow.testing import PUBLIC_CLIENT_ID, ProviderSettings, TestProvider
from pkceflow_core import TokenSet
from tests.support.cli import Cli
from tests.support.commands import reap
from tests.support.oauth import issued_token_set, newest_refresh_token

from .support import WAIT, temporary_files
from .workers import die_during_refresh, make_client, refresh_loop

SEED = int(os.environ.get("PKCEFLOW_FAULT_SEED", "20240611"))
PROFILE = "work"
PROCESSES = 8
#: Every loop is bounded by a count and by time, whichever ends it first.
CLI_ROUNDS, CLI_SECONDS = 25, 25.0
LIBRARY_ROUNDS, LIBRARY_SECONDS = 10, 8.0
WORKERS, WORKER_CALLS, WORKER_SECONDS = 4, 8, 5.0  # each library worker, per round
HOLDER = -1  # a victim: the process that holds the lock when the moment comes
COMMANDS = (
    # 60 s access tokens and --min-ttl 3600: every `token` refreshes.
    ("token", "--profile", PROFILE, "--min-ttl", "3600"),
    ("refresh", "--profile", PROFILE),
)


@pytest.fixture
def settings() -> ProviderSettings:
    # The provider takes 50 ms to answer a token request, as one across a network
    # would: that time is inside the window, so some kills land in it.
    return ProviderSettings(
        refresh_token_rotation="rotate",
        revoke_on_refresh_reuse=True,
        access_token_lifetime=60,
        token_delay=0.05,
    )


@dataclass
class Tally:
    """What the rounds did, for the assertions and the report."""

    rounds: int = 0
    kills: int = 0
    holder_kills: int = 0  # of those, aimed at the process holding the lock
    lost: int = 0
    orphans: int = 0
    refusals: int = 0  # processes that met the lost rotation (invalid_grant, or no login left)
    temporary_files: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self, what: str, seconds: float) -> str:
        return (
            f"\n{what}: {self.rounds} rounds in {seconds:.1f} s (seed {SEED}),"
            f" {self.kills} SIGKILLs ({self.holder_kills} aimed at the lock holder),"
            f" exit codes {dict(sorted(self.codes.items()))};"
            f" {self.lost} rounds lost the login to a kill inside the window"
            f" ({self.orphans} orphaned rotations, {self.refusals} processes refused after),"
            f" {self.temporary_files} temporary files seen after a round"
        )


class Rotations:
    """The provider's view: which refresh tokens it issued and which were presented."""

    def __init__(self, provider: TestProvider) -> None:
        self.provider = provider
        self.known = self._issued()

    def _issued(self) -> set[str]:
        return {info.token for info in self.provider.tokens() if info.kind == "refresh"}

    def orphans(self, stored: TokenSet | None) -> set[str]:
        """Refresh tokens issued since the last call, never presented and not stored."""
        issued = self._issued()
        new, self.known = issued - self.known, issued
        presented = {
            request.form["refresh_token"]
            for request in self.provider.requests
            if request.endpoint == "token" and "refresh_token" in request.form
        }
        kept = set() if stored is None else {stored.refresh_token}
        return new - presented - kept


def lock_holder(lock: Path, pids: set[int]) -> int | None:
    """Which of ``pids`` holds the flock on ``lock`` now, from /proc/locks (Linux)."""
    try:
        inode = os.stat(lock).st_ino
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[3] == "WRITE":
            pid, where = int(fields[4]), fields[5]
            if where.endswith(f":{inode}") and pid in pids:
                return pid
    return None


def kill_lock_holder(
    processes: list[subprocess.Popen[bytes]], lock: Path, seconds: float, later: float
) -> bool:
    """SIGKILL whichever of ``processes`` takes the lock, ``later`` seconds after it does.

    Watches for up to ``seconds``. ``later`` spreads the kills over the critical
    section: loading, sending, the provider's answer, and the save.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        running = {p.pid: p for p in processes if p.poll() is None}
        if not running:
            return False
        holder = lock_holder(lock, set(running))
        if holder is not None:
            time.sleep(later)
            if running[holder].poll() is not None:
                return False
            running[holder].kill()
            return True
        time.sleep(0.002)
    return False


def settle(threads: set[threading.Thread]) -> None:
    """Wait until the provider has finished every request of the round.

    A killed process's request may still be in the provider (its 50 ms answer delay):
    the rotation happens after the process is gone. Only the provider's connection
    threads start during a round, so the round is over when they have ended.
    """
    deadline = time.monotonic() + WAIT
    while set(threading.enumerate()) - threads:
        assert time.monotonic() < deadline, "the provider did not finish the round's requests"
        time.sleep(0.01)


def check_round(
    store: FileStore, key: str, provider: TestProvider, rotations: Rotations, codes: list[int]
) -> tuple[bool, set[str]]:
    """Whether the stored login is the newest and valid, and the orphans of the round.

    Raises (fails the test) when the file does not parse or is not private.
    """
    stored = store.load(key)  # a StoreError here is a corrupted store
    if stored is not None:
        assert stat.S_IMODE(os.stat(store.path(key)).st_mode) == 0o600
    orphans = rotations.orphans(stored)
    good = (
        stored is not None
        and stored.refresh_token == newest_refresh_token(provider)
        and stored.refresh_token in provider.active_tokens()
    )
    kills = codes.count(-signal.SIGKILL)
    if good:
        assert not orphans, f"a rotation was lost although the login survived: {orphans}"
    else:
        # The only way to lose it: a process killed inside the window, one orphan each.
        assert 1 <= len(orphans) <= kills, (
            f"login lost with {len(orphans)} orphaned rotations and {kills} kills; codes {codes}"
        )
    return good, orphans


def test_kill_9_amid_eight_pkceflow_commands_never_corrupts_the_store_and_loses_only_the_window(
    cli: Cli, provider: TestProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED)
    store = cli.store()
    cli.seed(provider, profile=PROFILE, scope="offline_access")
    lock = cli.tokens_dir / f"{PROFILE}.lock"
    rotations = Rotations(provider)
    tally = Tally()
    horizon = 1.0  # how long a round lasts unkilled; measured by the first round
    started = time.monotonic()
    while tally.rounds < CLI_ROUNDS and time.monotonic() - started < CLI_SECONDS:
        calibrating = tally.rounds == 0
        threads = set(threading.enumerate())
        processes = [cli.spawn(*COMMANDS[i % 2]) for i in range(PROCESSES)]
        begun = time.monotonic()
        try:
            # Some victims at random; in every other round, also whichever process holds
            # the lock at a random moment (the critical section, where the window is).
            victims = [] if calibrating else rng.sample(range(PROCESSES), rng.randint(1, 3))
            if not calibrating and tally.rounds % 2:
                victims.append(HOLDER)
            for moment, victim in sorted((rng.uniform(0, horizon), v) for v in victims):
                time.sleep(max(0.0, begun + moment - time.monotonic()))
                if victim == HOLDER:
                    later = rng.uniform(0.0, 0.08)  # the provider answers after 0.05 s
                    tally.holder_kills += kill_lock_holder(processes, lock, horizon / 2, later)
                elif processes[victim].poll() is None:
                    processes[victim].kill()
            outputs = [process.communicate(timeout=WAIT) for process in processes]
        finally:
            reap(processes)
        settle(threads)
        if calibrating:
            horizon = max(time.monotonic() - begun, 0.3)
        codes = [process.returncode for process in processes]
        tally.rounds += 1
        for code in codes:
            tally.codes[code] = tally.codes.get(code, 0) + 1
        tally.kills += codes.count(-signal.SIGKILL)
        for (out, err), code in zip(outputs, codes, strict=True):
            text = err.decode("utf-8", "replace")
            assert "not a token set" not in text, text
            assert "Traceback" not in text, text
            assert "unexpected" not in text, text
            if code == 0:
                assert out or text.startswith("Refreshed;"), (out, text)
        tally.temporary_files += len(temporary_files(cli.tokens_dir))
        good, orphans = check_round(store, PROFILE, provider, rotations, codes)
        if good:
            assert set(codes) <= {0, -signal.SIGKILL}, codes
            continue
        # Lost to a kill inside the window. Those that came after were refused:
        # 4 (invalid_grant: the grant is revoked, the store cleared) or 6 (no login left).
        assert set(codes) <= {0, -signal.SIGKILL, 4, 6}, codes
        tally.lost += 1
        tally.orphans += len(orphans)
        tally.refusals += codes.count(4) + codes.count(6)
        tally.notes.append(f"round {tally.rounds}: codes {codes}")
        cli.seed(provider, profile=PROFILE, scope="offline_access")  # log in again: a new grant
        rotations = Rotations(provider)
    seconds = time.monotonic() - started

    # After all the kills: a round with none, and a last refresh, must simply work.
    processes = [cli.spawn(*COMMANDS[i % 2]) for i in range(PROCESSES)]
    try:
        for process in processes:
            process.communicate(timeout=WAIT)
    finally:
        reap(processes)
    assert [process.returncode for process in processes] == [0] * PROCESSES
    assert check_round(store, PROFILE, provider, rotations, [0] * PROCESSES)[0]
    cli.run("refresh", "--profile", PROFILE).ok()
    stored = store.load(PROFILE)
    assert stored is not None
    assert stored.refresh_token == newest_refresh_token(provider)
    assert stored.refresh_token in provider.active_tokens()
    # Temporary files of killed writers are cleaned by the next one that holds the lock.
    assert temporary_files(cli.tokens_dir) == []

    with capsys.disabled():
        print(tally.summary("pkceflow commands", seconds), *tally.notes, sep="\n  ")
    assert tally.kills > 0
    assert tally.lost <= tally.kills


def test_kill_9_amid_library_processes_never_corrupts_the_store_and_loses_only_the_window(
    provider: TestProvider, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED + 1)
    directory = tmp_path / "tokens"
    store = FileStore(directory)
    store.save("default", issued_token_set(provider))
    rotations = Rotations(provider)
    context = multiprocessing.get_context("spawn")
    tally = Tally()
    workers = WORKERS
    horizon = 1.5
    started = time.monotonic()
    while tally.rounds < LIBRARY_ROUNDS and time.monotonic() - started < LIBRARY_SECONDS:
        reports = [tmp_path / f"round-{tally.rounds}-worker-{i}.txt" for i in range(workers)]
        processes = [
            context.Process(
                target=refresh_loop,
                args=(
                    provider.token_endpoint,
                    provider.authorization_endpoint,
                    str(directory),
                    ("token", "refresh")[i % 2],
                    WORKER_CALLS,
                    WORKER_SECONDS,
                    str(reports[i]),
                ),
                daemon=True,
            )
            for i in range(workers)
        ]
        threads = set(threading.enumerate())
        for process in processes:
            process.start()
        begun = time.monotonic()
        try:
            victims = rng.sample(range(workers), rng.randint(1, 2))
            for moment, victim in sorted((rng.uniform(0.2, horizon), v) for v in victims):
                time.sleep(max(0.0, begun + moment - time.monotonic()))
                if processes[victim].is_alive():
                    processes[victim].kill()
            for process in processes:
                process.join(WAIT)
                assert process.exitcode is not None, "a worker did not end"
        finally:
            for process in processes:
                if process.is_alive():
                    process.kill()
                    process.join(WAIT)
        settle(threads)
        codes = [int(process.exitcode or 0) for process in processes]
        tally.rounds += 1
        for code in codes:
            tally.codes[code] = tally.codes.get(code, 0) + 1
        tally.kills += codes.count(-signal.SIGKILL)
        lines = [line for report in reports if report.exists() for line in _lines(report)]
        assert not [line for line in lines if line.startswith("unexpected")], lines
        assert not [line for line in lines if "not a token set" in line], lines
        tally.temporary_files += len(temporary_files(directory))
        good, orphans = check_round(store, "default", provider, rotations, codes)
        errors = [line for line in lines if line != "ok"]
        if good:
            assert set(codes) <= {0, -signal.SIGKILL}, codes
            assert not errors, errors
            continue
        assert set(codes) <= {0, -signal.SIGKILL}, codes
        assert all(line.startswith("LoginEndedError: ") for line in errors), errors
        tally.lost += 1
        tally.orphans += len(orphans)
        tally.refusals += len(errors)
        store.save("default", issued_token_set(provider))
        rotations = Rotations(provider)
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(tally.summary("library processes (spawn)", seconds))
    assert tally.kills > 0
    assert tally.lost <= tally.kills


def _lines(report: Path) -> list[str]:
    """The whole lines of a worker's report (a kill may have cut the last one short)."""
    return [line for line in report.read_text("utf-8").split("\n")[:-1] if line]


# --------------------------------------------------------------------------- the window, exactly


def _killed_refresh(provider: TestProvider, directory: Path, when: str) -> TokenSet:
    """Store a login, run one refresh in a process that SIGKILLs itself ``when``."""
    old = issued_token_set(provider)
    FileStore(directory).save("default", old)
    process = multiprocessing.get_context("spawn").Process(
        target=die_during_refresh,
        args=(provider.token_endpoint, provider.authorization_endpoint, str(directory), when),
        daemon=True,
    )
    process.start()
    process.join(WAIT)
    if process.is_alive():
        process.kill()
        process.join(WAIT)
    assert process.exitcode == -signal.SIGKILL
    return old


def _client(provider: TestProvider, directory: Path) -> Client:
    return make_client(provider.token_endpoint, provider.authorization_endpoint, str(directory))


def test_a_process_killed_before_sending_the_refresh_loses_nothing(
    provider: TestProvider, tmp_path: Path
) -> None:
    directory = tmp_path / "tokens"
    old = _killed_refresh(provider, directory, "before-send")

    assert provider.count("token") == 0
    assert FileStore(directory).load("default") == old
    client = _client(provider, directory)
    new = client.refresh()
    client.close()
    assert new.refresh_token in provider.active_tokens()


@pytest.mark.parametrize("when", ["after-answer", "after-temp-write"])
def test_a_process_killed_after_the_provider_rotated_loses_that_rotation(
    provider: TestProvider, tmp_path: Path, when: str
) -> None:
    # The inherent window: the provider rotated the refresh token when it read the
    # request; the process died before renaming the answer into place. The file still
    # holds the old, whole token set, whose refresh token the provider no longer takes.
    directory = tmp_path / "tokens"
    store = FileStore(directory)
    old = _killed_refresh(provider, directory, when)

    assert provider.count("token") == 1
    assert store.load("default") == old
    assert old.refresh_token not in provider.active_tokens()
    orphan = newest_refresh_token(provider)
    assert orphan != old.refresh_token
    left = temporary_files(directory)
    assert len(left) == (1 if when == "after-temp-write" else 0)

    client = _client(provider, directory)
    with pytest.raises(LoginRequiredError, match="invalid_grant"):
        client.refresh()
    client.close()
    # Reuse detection: the provider revoked the whole grant, the orphan included,
    # and pkceflow cleared the dead login (and the dead writer's temporary file).
    assert orphan not in provider.active_tokens()
    assert store.load("default") is None
    assert temporary_files(directory) == []


def test_the_cli_reports_a_lost_rotation_as_a_refused_login_in_one_line(
    cli: Cli, provider: TestProvider
) -> None:
    seeded = cli.seed(provider, profile=PROFILE, scope="offline_access")
    # What a process killed inside the window leaves behind: the provider rotated the
    # refresh token, and nobody saved the answer.
    body = urlencode(
        {
            "grant_type": "refresh_token",
            "refresh_token": seeded.refresh_token or "",
            "client_id": PUBLIC_CLIENT_ID,
        }
    ).encode()
    with urlopen(Request(provider.token_endpoint, body), timeout=WAIT) as answer:
        assert answer.status == 200

    cli.run("refresh", "--profile", PROFILE).fails(4, "invalid_grant")
    cli.run("token", "--profile", PROFILE).fails(6, "no stored login")


def test_ctrl_c_during_a_refresh_in_flight_does_not_lose_the_login(
    cli: Cli, provider: TestProvider
) -> None:
    seeded = cli.seed(provider, profile=PROFILE, scope="offline_access")
    provider.settings.token_delay = 1.0  # the answer is a second away
    process = cli.spawn("refresh", "--profile", PROFILE)
    deadline = time.monotonic() + WAIT
    try:
        while provider.count("token") == 0:  # bounded by WAIT
            assert time.monotonic() < deadline, "the refresh request never arrived"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)  # the request is at the provider: in the window
        process.communicate(timeout=WAIT)
    finally:
        reap([process])
    while newest_refresh_token(provider) == seeded.refresh_token:  # it answers a second later
        assert time.monotonic() < deadline, "the provider never rotated the refresh token"
        time.sleep(0.01)
    stored = cli.store().load(PROFILE)
    assert stored is not None
    assert stored.refresh_token == newest_refresh_token(provider)
