"""The hot path of scripts: ``pkceflow token`` with a fresh token in the file store.

``$(pkceflow token --profile x)`` runs before every API call of a script, so this
path reads the profile and the token file with the standard library alone: no
attrs, no pkceflow_core, no argparse. It reads both through the reader FileStore.load
and load_profile use (the same refusals: a symlink, another owner, permissions open
to others) and checks the same schema version; anything it does not trust or fully
understand returns None, and the ordinary command, with its checks and error
messages, runs instead.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Sequence

from .paths import UnsafeFileError, folders, read_private

_VERSION = 1
_PROFILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")  # as FileStore's keys


def _options(argv: Sequence[str]) -> tuple[str, float, bool] | None:
    if not argv or argv[0] != "token":
        return None
    profile, min_ttl, as_json = "default", 60.0, False
    rest = list(argv[1:])
    while rest:
        option = rest.pop(0)
        if option.startswith(("--profile=", "--min-ttl=")):
            option, value = option.split("=", 1)
            rest.insert(0, value)
        if option == "--json":
            as_json = True
        elif option in ("--profile", "--min-ttl") and rest:
            value = rest.pop(0)
            if option == "--profile":
                profile = value
            else:
                try:
                    min_ttl = float(value)
                except ValueError:
                    return None
        else:
            return None
    if not _PROFILE.match(profile):
        return None
    if min_ttl != min_ttl or min_ttl < 0:  # NaN or negative: let argparse say so
        return None
    return profile, min_ttl, as_json


def _store_is_file(path: str) -> bool:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    raw = _trusted(path, secret=False)
    try:
        profile = tomllib.loads(raw.decode("utf-8")) if raw is not None else None
    except ValueError:  # not UTF-8, not TOML
        return False
    return bool(
        isinstance(profile, dict)
        and profile.get("version") == _VERSION
        and profile.get("store", "file") == "file"
    )


def _trusted(path: str, *, secret: bool) -> bytes | None:
    """The file's bytes, or None when it is missing or untrusted (the full command says why)."""
    try:
        return read_private(path, secret=secret)
    except UnsafeFileError:
        return None


def token_json(
    access_token: str, token_type: str, expires_at: float | None, scope: Sequence[str] | None
) -> str:
    """``pkceflow token --json``'s line: the access token, its type, expiry and scope."""
    return json.dumps(
        {
            "access_token": access_token,
            "token_type": token_type,
            "expires_at": expires_at,
            "scope": None if scope is None else " ".join(scope),
        }
    )


def fast_token(argv: Sequence[str]) -> int | None:
    """Print a fresh stored token and return 0, or None to run the full command."""
    options = _options(argv)
    if options is None:
        return None
    profile, min_ttl, as_json = options
    config, data = folders()
    if not _store_is_file(os.path.join(config, "profiles", f"{profile}.toml")):
        return None
    raw = _trusted(os.path.join(data, "tokens", f"{profile}.json"), secret=True)
    if raw is None:
        return None
    try:
        stored = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(stored, dict) or stored.get("version") != _VERSION:
        return None
    access, expires_at = stored.get("access_token"), stored.get("expires_at")
    if not isinstance(access, str) or not access or stored.get("token_type") != "Bearer":
        return None
    if expires_at is not None:
        if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)):
            return None
        # TokenSet.is_fresh's rule, kept in step with it: never more life than the
        # server granted, and a margin of at most half that lifetime.
        now, obtained_at = time.time(), stored.get("obtained_at")
        if obtained_at is not None:
            if isinstance(obtained_at, bool) or not isinstance(obtained_at, (int, float)):
                return None
            if now < obtained_at:
                return None
            min_ttl = min(min_ttl, (expires_at - obtained_at) / 2)
        if not expires_at - now > min_ttl:
            return None
    if as_json:
        scope = stored.get("scope")
        if scope is not None and not (
            isinstance(scope, list) and all(isinstance(item, str) for item in scope)
        ):
            return None  # not a scope pkceflow wrote: the full command says what it is
        output = token_json(access, "Bearer", expires_at, scope)
    else:
        output = access
    sys.stdout.write(output + "\n")
    return 0
