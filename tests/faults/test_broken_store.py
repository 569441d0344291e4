"""Token files that are broken or planted: refused, through the Client and the command.

A truncated or corrupted file, one written by a future pkceflow, one others can read,
and symlinks someone else planted at the token file's or the lock file's path. Each is
refused with a StoreError by the Client and with one line and exit code 1 by
``pkceflow token`` and ``pkceflow refresh``: no traceback, nothing sent to the
provider, and the file (or the symlink's target) neither followed, read, nor changed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pkceflow import Client, StoreError
from pkceflow.plugins import make_plugin_manager
from pkceflow.settings import HttpOptions, Interaction
from pkceflow.testing import PUBLIC_CLIENT_ID, TestProvider
from tests.support.cli import Cli
from tests.support.folders import NOBODY
from tests.support.oauth import issued_token_set

from .support import WAIT

PROFILE = "work"

Plant = Callable[[Cli, TestProvider], str]


@pytest.fixture
def client(cli: Cli, provider: TestProvider) -> Iterator[Client]:
    """The library's view of the command's profile: the same token folder and key."""
    made = Client(
        PUBLIC_CLIENT_ID,
        authorization_url=provider.authorization_endpoint,
        token_url=provider.token_endpoint,
        store=cli.store(),
        profile=PROFILE,
        plugin_manager=make_plugin_manager(load_entry_points=False),
        interaction=Interaction(paste=False),
        http=HttpOptions(timeout=WAIT),
    )
    yield made
    made.close()


def _real_file(cli: Cli, provider: TestProvider) -> bytes:
    cli.seed(provider, profile=PROFILE, scope="offline_access")
    return cli.token_path(PROFILE).read_bytes()


def _write(cli: Cli, content: bytes, mode: int = 0o600) -> None:
    path = cli.token_path(PROFILE)
    path.write_bytes(content)
    path.chmod(mode)


def _snapshot(path: Path) -> tuple[bytes, int, int]:
    info = os.lstat(path)
    content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return content, info.st_mtime_ns, info.st_mode


# --------------------------------------------------------------------------- what is planted

#: Where in a real token file (as a fraction of its length) it is cut.
TRUNCATIONS = (0.0, 0.01, 0.25, 0.5, 0.75, 0.99)


def _truncated(fraction: float) -> Plant:
    def plant(cli: Cli, provider: TestProvider) -> str:
        real = _real_file(cli, provider)
        _write(cli, real[: int(len(real) * fraction)])
        return "is not a token set this pkceflow can read (not valid JSON); log in again"

    return plant


def _corrupted(cli: Cli, provider: TestProvider) -> str:
    real = bytearray(_real_file(cli, provider))
    for index in range(0, len(real), 7):  # a disk that flipped bits
        real[index] ^= 0x55
    _write(cli, bytes(real))
    return "is not a token set this pkceflow can read (not valid JSON); log in again"


def _future_version(cli: Cli, provider: TestProvider) -> str:
    document = json.loads(_real_file(cli, provider))
    document["version"] = 2
    document["sender_constraint"] = {"dpop_jkt": "future"}
    _write(cli, json.dumps(document).encode())
    return "version 2; this pkceflow reads 1)"


def _open_to_others(cli: Cli, provider: TestProvider) -> str:
    _write(cli, _real_file(cli, provider), 0o644)
    path = cli.token_path(PROFILE)
    return f"can be read by other users (mode 644); fix it with: chmod 600 {path}"


def _symlinked_file(cli: Cli, provider: TestProvider) -> str:
    # Someone else planted the token path as a link to a file of the user's that holds
    # a valid token set; were it followed, its access token would come out.
    _real_file(cli, provider)
    target = cli.home / "victim.json"
    target.write_text(json.dumps(issued_token_set(provider).to_dict()))
    target.chmod(0o600)
    path = cli.token_path(PROFILE)
    path.unlink()
    path.symlink_to(target)
    if os.geteuid() == 0:
        os.lchown(path, NOBODY, NOBODY)
    return "is a symlink; refusing to follow it"


def _symlinked_lock(cli: Cli, provider: TestProvider) -> str:
    # The lock file's path, planted as a link to a file of the user's.
    _real_file(cli, provider)
    target = cli.home / "victim.txt"
    target.write_text("precious\n")
    target.chmod(0o600)
    lock = cli.tokens_dir / f"{PROFILE}.lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(target)
    if os.geteuid() == 0:
        os.lchown(lock, NOBODY, NOBODY)
    # (Was a bare OSError, ELOOP, out of filelock: "unexpected OSError" from the command.)
    return f"cannot lock {lock}: it is a symlink; refusing to follow it"


PLANTS: dict[str, Plant] = {
    **{f"truncated-at-{int(f * 100)}%": _truncated(f) for f in TRUNCATIONS},
    "bit-flipped": _corrupted,
    "future-schema-version": _future_version,
    "readable-by-others": _open_to_others,
    "symlink-at-the-token-path": _symlinked_file,
    "symlink-at-the-lock-path": _symlinked_lock,
}
#: Refused when the token file is read; the lock symlink only when the lock is taken
#: (a refresh), since reading a fresh token needs no lock.
READ_REFUSED = [name for name in PLANTS if name != "symlink-at-the-lock-path"]


def _watched(cli: Cli) -> dict[Path, tuple[bytes, int, int]]:
    paths = [p for p in cli.home.rglob("*") if p.is_file() or p.is_symlink()]
    return {path: _snapshot(path) for path in paths if not path.name.endswith(".toml")}


#: (method, plant): ``tokens`` only reads, ``refresh`` takes the lock too.
CLIENT_CASES = [("tokens", name) for name in READ_REFUSED] + [("refresh", name) for name in PLANTS]
#: (command, plant): ``pkceflow token`` reads; ``pkceflow refresh``, on a sample.
COMMAND_CASES = [("token", name) for name in READ_REFUSED] + [
    ("refresh", name)
    for name in (
        "truncated-at-50%",
        "future-schema-version",
        "readable-by-others",
        "symlink-at-the-token-path",
        "symlink-at-the-lock-path",
    )
]


@pytest.mark.parametrize(("method", "name"), CLIENT_CASES)
def test_the_client_refuses_a_broken_or_planted_store(
    cli: Cli, provider: TestProvider, client: Client, method: str, name: str
) -> None:
    message = PLANTS[name](cli, provider)
    before = _watched(cli)
    with pytest.raises(StoreError, match=re.escape(message)):
        getattr(client, method)()
    assert provider.count("token") == 0
    assert _watched(cli) == before


@pytest.mark.parametrize(("command", "name"), COMMAND_CASES)
def test_pkceflow_refuses_a_broken_or_planted_store_in_one_line(
    cli: Cli, provider: TestProvider, command: str, name: str
) -> None:
    message = PLANTS[name](cli, provider)
    before = _watched(cli)
    cli.run(command, "--profile", PROFILE).fails(1, message)
    assert provider.count("token") == 0
    assert _watched(cli) == before


def test_a_fresh_token_is_still_served_past_a_planted_lock_symlink(
    cli: Cli, provider: TestProvider
) -> None:
    # Reading needs no lock, so a planted lock link does not deny service to the hot
    # path; the link is still never followed.
    _symlinked_lock(cli, provider)
    stored = cli.store().load(PROFILE)
    assert stored is not None
    before = _watched(cli)
    result = cli.run("token", "--profile", PROFILE)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        stored.access_token + "\n",
        "",
    )
    assert _watched(cli) == before
