"""_fast_token.py: the token hot path answers only when it is sure, else defers."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pkceflow._fast_token import fast_token
from pkceflow.file_store import FileStore
from pkceflow.profiles import Profile, save_profile
from pkceflow_core import TokenSet


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PKCEFLOW_HOME", str(tmp_path))
    save_profile(
        Profile(
            name="work",
            client_id="c",
            auth_url="https://id.example/authorize",
            token_url="https://id.example/token",
        )
    )
    FileStore().save("work", TokenSet("at-1", expires_at=time.time() + 3600, scope=("a", "b")))
    return tmp_path


def token_file(home: Path) -> Path:
    return home / "tokens" / "work.json"


def test_a_fresh_token_is_printed_alone(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fast_token(["token", "--profile", "work"]) == 0
    assert capsys.readouterr().out == "at-1\n"


def test_json_output_matches_the_full_command(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fast_token(["token", "--json", "--profile", "work", "--min-ttl", "5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["access_token"], printed["token_type"], printed["scope"]) == (
        "at-1",
        "Bearer",
        "a b",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["token", "--profile"],
        ["token", "--profile", "work", "--debug"],
        ["token", "--profile", "../work"],
        ["token", "--profile", "work", "--min-ttl", "soon"],
        ["token", "--profile", "work", "--min-ttl", "nan"],
        ["token", "--profile", "work", "--min-ttl", "7200"],
        ["token", "--profile", "other"],
    ],
)
def test_anything_else_defers_to_the_full_command(home: Path, argv: list[str]) -> None:
    assert fast_token(argv) is None


def test_a_file_others_can_read_defers(home: Path) -> None:
    token_file(home).chmod(0o644)
    assert fast_token(["token", "--profile", "work"]) is None


def test_a_symlinked_token_file_defers(home: Path) -> None:
    real = home / "elsewhere.json"
    token_file(home).rename(real)
    os.symlink(real, token_file(home))
    assert fast_token(["token", "--profile", "work"]) is None


@pytest.mark.parametrize(
    "stored",
    [
        b"not json",
        b"[]",
        json.dumps({"version": 2, "access_token": "a", "token_type": "Bearer"}).encode(),
        json.dumps({"version": 1, "access_token": "", "token_type": "Bearer"}).encode(),
        json.dumps({"version": 1, "access_token": "a", "token_type": "mac"}).encode(),
        json.dumps(
            {"version": 1, "access_token": "a", "token_type": "Bearer", "expires_at": "x"}
        ).encode(),
    ],
)
def test_a_token_file_it_does_not_fully_understand_defers(home: Path, stored: bytes) -> None:
    token_file(home).write_bytes(stored)
    assert fast_token(["token", "--profile", "work"]) is None


def test_a_profile_with_another_store_defers(home: Path) -> None:
    path = home / "profiles" / "work.toml"
    path.write_text(path.read_text().replace('store = "file"', 'store = "keyring"'))
    assert fast_token(["token", "--profile", "work"]) is None


def test_a_token_without_a_stated_expiry_is_fresh(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    FileStore().save("work", TokenSet("forever"))
    assert fast_token(["token", "--profile", "work"]) == 0
    assert capsys.readouterr().out == "forever\n"
