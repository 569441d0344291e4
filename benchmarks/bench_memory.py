"""6. Peak memory (ru_maxrss) of a fresh process: import a library, build one authorize URL.

Each script runs in its own interpreter and prints its own ``ru_maxrss`` (KiB on
Linux) at the end; the median of a few runs is reported, next to ``python -c pass``.

Linux carries a process's peak RSS across ``exec``, and subprocess starts children
with vfork, so a child started directly would report this (larger) process's peak.
``sh -c '"$@" & wait'`` makes the interpreter a fork of a small shell instead.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

from benchmarks._common import Row, clean_env, emit, log, median, row

GOAL_MIB = 20.0
_TAIL = "\nimport resource\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
_EP = "https://id.example.com/authorize"
_TOKEN = "https://id.example.com/token"
_REDIRECT = "http://127.0.0.1:8765/callback"

SCRIPTS: dict[str, tuple[str, bool]] = {
    "python -c pass": ("pass", False),
    "pkceflow_core AuthorizationCodeFlow": (
        "from pkceflow_core import AuthorizationCodeFlow, ClientConfig, ServerMetadata\n"
        f"server = ServerMetadata(authorization_endpoint={_EP!r}, token_endpoint={_TOKEN!r})\n"
        "AuthorizationCodeFlow(server, ClientConfig('cid'),"
        f" redirect_uri={_REDIRECT!r}, scope='openid email').authorization_url",
        True,
    ),
    "stdlib secrets+hashlib+base64+urlencode": (
        "import base64, hashlib, secrets\n"
        "from urllib.parse import quote, urlencode, urlsplit\n"
        f"urlsplit({_EP!r})\n"
        "v = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b'=').decode()\n"
        "c = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b'=').decode()\n"
        f"{_EP!r} + '?' + urlencode([('client_id', 'cid'), ('redirect_uri', {_REDIRECT!r}),"
        " ('state', secrets.token_urlsafe(32)), ('code_challenge', c)], quote_via=quote)",
        False,
    ),
    "pkceflow (from pkceflow import Client) + the core's flow": (
        "from pkceflow import Client\n"
        "from pkceflow_core import AuthorizationCodeFlow, ClientConfig, ServerMetadata\n"
        f"server = ServerMetadata(authorization_endpoint={_EP!r}, token_endpoint={_TOKEN!r})\n"
        "AuthorizationCodeFlow(server, ClientConfig('cid'),"
        f" redirect_uri={_REDIRECT!r}, scope='openid email').authorization_url",
        False,
    ),
    "oauthlib WebApplicationClient": (
        "from oauthlib.oauth2 import WebApplicationClient\n"
        "c = WebApplicationClient('cid')\n"
        "v = c.create_code_verifier(64)\n"
        f"c.prepare_request_uri({_EP!r}, redirect_uri={_REDIRECT!r}, scope='openid email',"
        " state='s' * 43, code_challenge=c.create_code_challenge(v, 'S256'),"
        " code_challenge_method='S256')",
        False,
    ),
    "Authlib requests OAuth2Session": (
        "from authlib.integrations.requests_client import OAuth2Session\n"
        "from authlib.common.security import generate_token\n"
        f"s = OAuth2Session('cid', redirect_uri={_REDIRECT!r}, scope='openid email',"
        " code_challenge_method='S256')\n"
        f"s.create_authorization_url({_EP!r}, code_verifier=generate_token(64))",
        False,
    ),
    "google-auth-oauthlib Flow": (
        "from google_auth_oauthlib.flow import Flow\n"
        "f = Flow.from_client_config({'installed': {'client_id': 'cid',"
        f" 'auth_uri': {_EP!r}, 'token_uri': {_TOKEN!r}}}}},"
        f" scopes=['openid', 'email'], redirect_uri={_REDIRECT!r})\n"
        "f.authorization_url()",
        False,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    peaks: dict[str, list[int]] = {name: [] for name in SCRIPTS}
    log(f"memory: {len(SCRIPTS)} scripts x {args.runs} runs")
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(args.runs):
            for name, (code, _) in SCRIPTS.items():
                done = subprocess.run(
                    ["sh", "-c", '"$@" & wait $!', "sh", sys.executable, "-c", code + _TAIL],
                    cwd=cwd,
                    env=clean_env(),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                peaks[name].append(int(done.stdout.split()[-1]))
    base = median(peaks["python -c pass"]) / 1024
    rows: list[Row] = []
    for name, (_, has_goal) in SCRIPTS.items():
        if name == "python -c pass":
            continue
        mib = median(peaks[name]) / 1024
        rows.append(
            row(
                "6 peak memory",
                name,
                f"{mib:.1f} MiB",
                versus=f"`python -c pass` {base:.1f} MiB",
                ratio=mib / base,
                goal=f"<= {GOAL_MIB:g} MiB" if has_goal else "",
                met=(mib <= GOAL_MIB) if has_goal else None,
                note=f"median of {args.runs} (ru_maxrss)",
            )
        )
    emit(rows)


if __name__ == "__main__":
    main()
