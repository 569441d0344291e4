"""Django OAuth Toolkit 3.4.1 (PyPI, on Django 5.2) as a real server of the end-to-end suite.

``tests/e2e/servers/dot/install.sh`` installs DOT into a virtual environment of its own
(``tests/e2e/.e2e-cache/dot-venv``). Each start makes a temporary folder (SQLite database,
RSA key, log), runs ``python -m dot_e2e.serve <folder>`` from that venv in the foreground
(migrations, a test user and three applications, then Django's development server class,
one request at a time, on 127.0.0.1 with a free port) and stops it by PID.

DOT is configured as its documentation recommends for native apps (see
``dot/dot_e2e/settings.py``): PKCE required, S256 only, OpenID Connect with an RS256 key
made at start, refresh tokens rotated with reuse protection and no grace period, RFC 9207
``iss`` in redirects, revocation and introspection.

Two issuers are served by one process, for the two metadata layouts met in the wild:

- ``issuer`` (``<origin>/o``): DOT under ``/o/`` with its RFC 8414 document also at the
  origin, ``/.well-known/oauth-authorization-server/o``;
- ``issuer_without_origin_metadata`` (``<origin>/p``): DOT under ``/p/`` only; the origin
  has no RFC 8414 document for it (404), only ``/p/.well-known/...`` exist.

The applications, user and sign-in session are shared by both issuers (one database).

Refresh grants are counted from the server's log: a middleware writes one line per
token-endpoint request with its grant type, client id and status (never a token).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import IO, Any, Literal

from ..harness import (  # noqa: TID252 (tests/e2e is no installed package)
    HarnessError,
    HttpResponse,
    _missing,
    _NoRedirect,
    _PageParser,
    _read_first_line,
    _send,
    _stop_process,
    basic_auth,
    http_request,
)
from .base import RegisteredClient, SignInRefused

ASSETS = Path(__file__).resolve().parent / "dot"
INSTALL_SCRIPT = ASSETS / "install.sh"
REQUIREMENTS = ASSETS / "requirements.txt"
VENV = Path(__file__).resolve().parents[1] / ".e2e-cache" / "dot-venv"
VENV_PYTHON = VENV / "bin" / "python"
# install.sh copies requirements.txt here once the venv is complete.
INSTALLED_REQUIREMENTS = VENV / ".requirements.txt"

STARTUP_TIMEOUT = 60.0
SHORT_LIVED_SECONDS = 20
USERNAME = "alice"
PASSWORD = "alice-dot-password"
PUBLIC_CLIENT_ID = "pkceflow-public"
CONFIDENTIAL_CLIENT_ID = "pkceflow-confidential"
SHORT_LIVED_CLIENT_ID = "pkceflow-short-lived"
# Registered without a port: DOT matches 127.0.0.1 and [::1] with any port (RFC 8252 7.3).
REDIRECT_URIS = ("http://127.0.0.1/callback", "http://[::1]/callback")

_TOKEN_LINE = re.compile(
    r"^dot-e2e token: path=(?P<path>\S+) grant_type=(?P<grant_type>\S+) "
    r"client_id=(?P<client_id>\S+) status=(?P<status>\d+)$",
    re.MULTILINE,
)

# Only what DOT cannot do; its other quirks are in tests/e2e/README.md.
LIMITS: Mapping[str, str] = {
    "consent_denied": (
        "DOT adds the RFC 9207 iss parameter to successful redirects only: the Cancel "
        "button (the consent form sent without allow=Authorize) redirects with "
        "error=access_denied and no iss, although its metadata says "
        "authorization_response_iss_parameter_supported, so pkceflow refuses that "
        "callback with MissingIssuerError before it sees access_denied"
    ),
}


def require() -> None:
    """Skip (fail when CI=true) unless install.sh has built DOT's venv from the pinned
    requirements."""
    if not VENV_PYTHON.is_file():
        _missing(f"Django OAuth Toolkit is not installed: run bash {INSTALL_SCRIPT}")
    if not _installed_matches():
        _missing(f"Django OAuth Toolkit's venv is out of date: run bash {INSTALL_SCRIPT}")


def _installed_matches() -> bool:
    try:
        return INSTALLED_REQUIREMENTS.read_bytes() == REQUIREMENTS.read_bytes()
    except OSError:
        return False


def _pinned_version() -> str:
    for line in REQUIREMENTS.read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == "django-oauth-toolkit":
            return version.strip()
    raise HarnessError(f"no django-oauth-toolkit pin in {REQUIREMENTS}")


def start() -> DotServer:
    """Start DOT on 127.0.0.1 (a fresh database each time) and return when it serves."""
    if not VENV_PYTHON.is_file() or not _installed_matches():
        raise HarnessError(f"Django OAuth Toolkit is not installed: run bash {INSTALL_SCRIPT}")
    return DotServer.start()


@dataclass
class DotServer:
    """One DOT process serving the issuers ``/o`` and ``/p`` (see the module docstring)."""

    process: subprocess.Popen[bytes]
    state_dir: Path
    log_file: IO[bytes]
    origin: str
    #: The issuer whose RFC 8414 document is also served at the origin.
    issuer: str
    #: The issuer with no RFC 8414 document at the origin (only under ``/p/``).
    issuer_without_origin_metadata: str
    public: RegisteredClient
    confidential: RegisteredClient
    short_lived: RegisteredClient
    version: str
    django_version: str
    startup_seconds: float
    name: str = "dot"
    limits: Mapping[str, str] = field(default_factory=lambda: dict(LIMITS))

    @classmethod
    def start(cls) -> DotServer:
        state_dir = Path(tempfile.mkdtemp(prefix="pkceflow-e2e-dot-"))
        secret = secrets.token_urlsafe(32)
        config = {
            "user": {"username": USERNAME, "password": PASSWORD, "email": "alice@example.test"},
            "short_lived_seconds": SHORT_LIVED_SECONDS,
            "public": {"client_id": PUBLIC_CLIENT_ID, "redirect_uris": list(REDIRECT_URIS)},
            "confidential": {
                "client_id": CONFIDENTIAL_CLIENT_ID,
                "client_secret": secret,
                "redirect_uris": list(REDIRECT_URIS),
            },
            "short_lived": {
                "client_id": SHORT_LIVED_CLIENT_ID,
                "redirect_uris": list(REDIRECT_URIS),
            },
        }
        (state_dir / "config.json").write_text(json.dumps(config))
        command = [str(VENV_PYTHON), "-m", "dot_e2e.serve", str(state_dir)]
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("PYTHON") and key not in ("VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE")
        }
        env["PYTHONPATH"] = str(ASSETS)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        log_file = open(state_dir / "server.log", "w+b")  # noqa: SIM115 (closed by stop())
        began = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=state_dir,
            env=env,
            stdin=subprocess.PIPE,  # never written; closing it stops the server
            stdout=subprocess.PIPE,
            stderr=log_file,
        )
        try:
            line = _read_first_line(process, STARTUP_TIMEOUT)
            ready: dict[str, Any] = json.loads(line)
            port = int(ready["port"])
        except (HarnessError, ValueError, KeyError) as err:
            _stop_process(process)
            log_file.seek(0)
            output = log_file.read().decode("utf-8", "replace")
            log_file.close()
            shutil.rmtree(state_dir, ignore_errors=True)
            raise HarnessError(
                f"Django OAuth Toolkit did not start: {' '.join(command)}: {err}\n{output}"
            ) from err
        startup = time.monotonic() - began

        def client(client_id: str, secret: str | None) -> RegisteredClient:
            return RegisteredClient(
                client_id=client_id,
                client_secret=secret,
                auth_method="client_secret_basic" if secret is not None else None,
                redirect_port=0,
            )

        versions: dict[str, str] = ready.get("versions", {})
        return cls(
            process=process,
            state_dir=state_dir,
            log_file=log_file,
            origin=f"http://127.0.0.1:{port}",
            issuer=f"http://127.0.0.1:{port}/o",
            issuer_without_origin_metadata=f"http://127.0.0.1:{port}/p",
            public=client(PUBLIC_CLIENT_ID, None),
            confidential=client(CONFIDENTIAL_CLIENT_ID, secret),
            short_lived=client(SHORT_LIVED_CLIENT_ID, None),
            version=versions.get("dot", _pinned_version()),
            django_version=versions.get("django", "?"),
            startup_seconds=startup,
        )

    # ----------------------------------------------------------------------------------
    # Where things are.

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token/"

    @property
    def introspection_endpoint(self) -> str:
        return f"{self.issuer}/introspect/"

    @property
    def revocation_endpoint(self) -> str:
        return f"{self.issuer}/revoke_token/"

    def log(self) -> str:
        """The server's stderr so far (Django's request log and the token-request lines)."""
        return (self.state_dir / "server.log").read_text("utf-8", "replace")

    # ----------------------------------------------------------------------------------
    # The RealServer interface.

    def sign_in(
        self,
        authorization_url: str,
        *,
        outcome: Literal["allow", "deny", "abandon"] = "allow",
    ) -> str | None:
        """Django's login form, then DOT's consent form, over plain HTTP with a fresh
        cookie jar. Returns the redirect to the client without requesting it."""
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect()
        )
        current, data = authorization_url, None
        signed_in = False
        for _ in range(12):
            if not current.startswith(self.origin + "/"):
                return current
            response = _send(opener, current, data=data, headers={"Accept": "text/html"})
            data = None
            location = response.header("Location")
            if response.status in (301, 302, 303) and location:
                current = urllib.parse.urljoin(current, location)
                continue
            text = response.body.decode("utf-8", "replace")
            if response.status != 200:
                raise SignInRefused(response.status, text)
            parser = _PageParser()
            parser.feed(text)
            parser.close()
            form = next((f for f in parser.forms if f.method.lower() == "post"), None)
            if form is None:
                # DOT renders its own error page (unknown client, unregistered redirect URI).
                raise SignInRefused(response.status, text)
            fields = dict(form.fields)
            if "password" in fields:
                if outcome == "abandon":
                    return None
                if signed_in:
                    raise HarnessError(f"Django refused the test user's password at {current}")
                fields.update(username=USERNAME, password=PASSWORD)
                signed_in = True
            elif "allow" in fields:
                if outcome == "deny":
                    del fields["allow"]  # the Cancel button: a submit without a name
            else:
                raise HarnessError(f"unexpected form at {current}: {text[:500]}")
            current = urllib.parse.urljoin(current, form.action)
            data = urllib.parse.urlencode(fields).encode("ascii")
        raise HarnessError(f"no redirect to the client from {authorization_url}")

    def refresh_grants(self, client_id: str) -> int:
        """Token-endpoint requests with grant_type=refresh_token for that client, as the
        server logged them (any outcome, both issuers)."""
        return sum(
            1
            for match in _TOKEN_LINE.finditer(self.log())
            if match["grant_type"] == "refresh_token" and match["client_id"] == client_id
        )

    def token_request(
        self, client: RegisteredClient, form: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        fields, headers = self._authenticate(client, form)
        response = http_request(self.token_endpoint, form=fields, headers=headers)
        return response.status, _json_or_none(response)

    def introspect(self, token: str) -> bool | None:
        """RFC 7662 at ``/o/introspect/``, authenticated as the confidential client.

        DOT's introspection looks up access tokens only and answers ``active: false`` for
        any refresh token, live or revoked: for a token found in DOT's refresh-token table
        this returns None (DOT cannot say), not that false."""
        secret = self.confidential.client_secret
        assert secret is not None
        response = http_request(
            self.introspection_endpoint,
            form={"token": token},
            headers={"Authorization": basic_auth(self.confidential.client_id, secret)},
        )
        body = _json_or_none(response)
        if response.status != 200 or body is None or not isinstance(body.get("active"), bool):
            raise HarnessError(f"introspection failed: {response.status} {response.body!r}")
        if body["active"] is True:
            return True
        return None if self._is_refresh_token(token) else False

    def _is_refresh_token(self, token: str) -> bool:
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        database = self.state_dir / "db.sqlite3"
        with contextlib.closing(
            sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
        ) as connection:
            row = connection.execute(
                "SELECT 1 FROM oauth2_provider_refreshtoken WHERE token_checksum = ?",
                (checksum,),
            ).fetchone()
        return row is not None

    def revoke(
        self, client: RegisteredClient, token: str, token_type_hint: str | None = None
    ) -> int:
        """RFC 7009 at ``/o/revoke_token/`` with the client's authentication; the status."""
        form = {"token": token}
        if token_type_hint is not None:
            form["token_type_hint"] = token_type_hint
        fields, headers = self._authenticate(client, form)
        return http_request(self.revocation_endpoint, form=fields, headers=headers).status

    def stop(self) -> None:
        _stop_process(self.process)
        self.log_file.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _authenticate(
        self, client: RegisteredClient, form: Mapping[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        fields = dict(form)
        headers: dict[str, str] = {}
        if client.client_secret is not None and client.auth_method == "client_secret_basic":
            headers["Authorization"] = basic_auth(client.client_id, client.client_secret)
        elif client.client_secret is not None:
            fields.setdefault("client_id", client.client_id)
            fields.setdefault("client_secret", client.client_secret)
        else:
            fields.setdefault("client_id", client.client_id)
        return fields, headers


def _json_or_none(response: HttpResponse) -> dict[str, Any] | None:
    try:
        body = json.loads(response.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
