"""Glewlwyd 2.7.5 (Debian's ``glewlwyd`` package) as a real server of the end-to-end suite.

Each start makes a temporary folder with a config file of its own (port on 127.0.0.1 only),
a fresh SQLite database made from the schema Debian ships, an RSA key and Glewlwyd's log,
runs ``glewlwyd -c <config>`` in the foreground as a child process, and configures it
through its REST API as the ``admin`` user of the fresh database:

- two instances of the OpenID Connect plugin: ``oidc`` (access tokens for an hour) and
  ``oidc-short`` (20 s), each its own issuer (``<origin>/api/<name>``); RS256, PKCE
  required (S256 only), one-use refresh tokens (``refresh-token-one-use: always``: a
  replayed refresh token disables every token of its chain), ``iss`` in the authorization
  response (``oauth-as-iss-id``), introspection and revocation, userinfo;
- a test user, a public client, a confidential client (client_secret_basic, also allowed
  client_credentials) and a public client for the short-lived instance.

Glewlwyd's own quirks, as met here (see tests/e2e/README.md):

- redirect URIs match exactly, port included (RFC 8252 7.3 says any port): each client
  has one fixed loopback port, picked free at start, in ``RegisteredClient.redirect_port``;
- its web app does not load as installed, so :meth:`GlewlwydServer.sign_in` drives its
  REST authentication API (``POST /api/auth/``, ``PUT /api/auth/grant/<client>``, then the
  authorization URL again with ``&g_continue``), as the login page's script would;
- it has no "deny" button; an unknown client at ``/auth`` is an empty 403;
- ``/introspect`` and ``/revoke`` accept only a client authenticating with its secret
  (its own tokens) or a bearer access token carrying the introspection scope.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import socket
import sqlite3
import string
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, Literal

from ..harness import (  # noqa: TID252 (tests/e2e is no installed package)
    HarnessError,
    _missing,
    _NoRedirect,
    _stop_process,
    basic_auth,
)
from .base import RegisteredClient, SignInRefused

GLEWLWYD = "/usr/bin/glewlwyd"
SCHEMA = Path("/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz")
ASSETS = Path(__file__).resolve().parent / "glewlwyd"
CONFIG_TEMPLATE = ASSETS / "glewlwyd.conf.in"
INSTALL_SCRIPT = ASSETS / "install.sh"

HOST = "127.0.0.1"
ADMIN = ("admin", "password")  # the fresh database's administrator
USERNAME = "alice"
PASSWORD = "alice-password"  # a test account on a loopback server
PUBLIC_CLIENT_ID = "pkceflow-public"
CONFIDENTIAL_CLIENT_ID = "pkceflow-confidential"
CONFIDENTIAL_CLIENT_SECRET = "pkceflow-confidential-secret"
SHORT_CLIENT_ID = "pkceflow-short"
PLUGIN = "oidc"
SHORT_PLUGIN = "oidc-short"
INTROSPECT_SCOPE = "pkceflow_introspect"
ACCESS_TOKEN_TTL = 3600
SHORT_ACCESS_TOKEN_TTL = 20
REDIRECT_PATH = "/callback"

#: gpo_access_token.gpoa_authorization_type of a token issued by a refresh_token grant
#: (GLEWLWYD_AUTHORIZATION_TYPE_REFRESH_TOKEN in src/plugin/protocol_oidc.c).
REFRESH_GRANT_TYPE = 6
#: What Glewlwyd logs (at WARNING) for every refused refresh_token grant, whatever client.
REFUSED_TOKEN_LINE = "Security - Token invalid at IP Address"

STARTUP_TIMEOUT = 20.0
HTTP_TIMEOUT = 10.0
START_ATTEMPTS = 3

LIMITS: Mapping[str, str] = {
    "consent_denied": (
        "Glewlwyd has no deny button: consent is a grant the login page sends to "
        "PUT /api/auth/grant/<client>, and a person who refuses closes the tab; Glewlwyd "
        "never redirects with error=access_denied. sign_in(outcome='deny') returns None."
    ),
    "logout_revokes": (
        "Glewlwyd's /revoke accepts only a client that authenticates with its secret (and "
        "then only its own tokens) or a bearer token carrying the introspection scope; a "
        "public client's revocation request is refused, so its tokens stay valid after "
        "logout."
    ),
    "reuse_detection": (
        "Glewlwyd does end the whole chain when a rotated refresh token is replayed, but it "
        "answers the next refresh with an empty HTTP 400, not RFC 6749's invalid_grant: "
        "pkceflow says log in again (exit 4) and keeps the stored login, since a proxy's "
        "error page would look the same."
    ),
}


# --------------------------------------------------------------------------------------------
# Prerequisites.


def require() -> None:
    """Skip (fail when CI=true) unless Debian's glewlwyd package is installed."""
    if not os.access(GLEWLWYD, os.X_OK):
        _missing(f"{GLEWLWYD} is missing: run `bash {INSTALL_SCRIPT}` as root")
    if not SCHEMA.is_file():
        _missing(f"{SCHEMA} is missing: reinstall Debian's glewlwyd package")
    if shutil.which("openssl") is None:
        _missing("openssl is not installed (Glewlwyd's RS256 key is made with it)")


def version() -> str:
    """Glewlwyd's version as the binary reports it (``glewlwyd --version``)."""
    result = subprocess.run(
        [GLEWLWYD, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    found = (result.stdout + result.stderr).strip()  # "2.7.5"
    if result.returncode == 0 and found and found[0].isdigit():
        return found.splitlines()[0]
    raise HarnessError(f"cannot read Glewlwyd's version: {result.stdout!r} {result.stderr!r}")


# --------------------------------------------------------------------------------------------
# Plain HTTP with a cookie jar (loopback only, no redirect following).


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


class Session:
    """A browser-like HTTP session: its own cookie jar, no redirect following."""

    def __init__(self) -> None:
        self.cookies = CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        if urllib.parse.urlsplit(url).hostname != HOST:
            raise HarnessError(f"refusing to contact a non-loopback URL: {url}")
        all_headers = {"Accept": "application/json", **(headers or {})}
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode("ascii")
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
        try:
            with self._opener.open(request, timeout=HTTP_TIMEOUT) as response:
                return Answer(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as err:
            with err:
                return Answer(err.code, dict(err.headers.items()), err.read())


# --------------------------------------------------------------------------------------------
# The server.


@dataclass
class GlewlwydServer:
    """A running, configured Glewlwyd (see the module docstring)."""

    version: str
    origin: str
    issuer: str
    short_lived_issuer: str
    public: RegisteredClient
    confidential: RegisteredClient
    short_lived: RegisteredClient
    process: subprocess.Popen[bytes]
    folder: Path
    name: str = "glewlwyd"
    limits: Mapping[str, str] = field(default_factory=lambda: dict(LIMITS))
    _bearer: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- files --------------------------------------------------------------------------------

    @property
    def database(self) -> Path:
        return self.folder / "glewlwyd.db"

    @property
    def log_file(self) -> Path:
        return self.folder / "glewlwyd.log"

    def log(self) -> str:
        """Glewlwyd's log so far (its own log file, plus what it wrote to stdout/stderr)."""
        parts = []
        for path in (self.log_file, self.folder / "stdout.log"):
            with contextlib.suppress(OSError):
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    # -- the interface ------------------------------------------------------------------------

    def sign_in(
        self,
        authorization_url: str,
        *,
        outcome: Literal["allow", "deny", "abandon"] = "allow",
    ) -> str | None:
        """Sign the test user in through Glewlwyd's REST authentication API, grant the
        client its scopes, and return the redirect to the client WITHOUT requesting it.

        The login page's script does the same: ``/auth`` redirects an unknown browser to
        ``login.html?...&callback_url=<the authorization URL>``; the page posts the
        password to ``/api/auth/``, the grant to ``/api/auth/grant/<client>``, and sends the
        browser back to ``callback_url`` with ``&g_continue``. "abandon" stops at the login
        page; "deny" does the same (Glewlwyd has no deny button, see ``limits``). Raises
        SignInRefused when Glewlwyd answers with its own error instead of a redirect."""
        session = Session()
        first = session.request("GET", authorization_url)
        location = first.header("Location")
        if first.status not in (301, 302, 303, 307) or not location:
            raise SignInRefused(first.status, first.body.decode("utf-8", "replace"))
        login_page = f"{self.origin}/login.html"
        if not location.startswith(login_page):
            return location  # straight back to the client (an error redirect)
        if outcome != "allow":
            return None
        page = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        callback = _one(page, "callback_url")
        client_id = _one(page, "client_id")
        scope = _one(page, "scope")
        login = session.request(
            "POST",
            f"{self.origin}/api/auth/",
            json_body={"username": USERNAME, "password": PASSWORD},
        )
        if login.status != 200:
            raise HarnessError(f"Glewlwyd refused the test user's password: {login.status}")
        grant = session.request(
            "PUT",
            f"{self.origin}/api/auth/grant/{urllib.parse.quote(client_id, safe='')}",
            json_body={"scope": scope},
        )
        if grant.status != 200:
            raise HarnessError(f"Glewlwyd refused the grant of {scope!r}: {grant.status}")
        back = session.request("GET", f"{callback}&g_continue")
        redirect = back.header("Location")
        if back.status not in (301, 302, 303, 307) or not redirect:
            raise SignInRefused(back.status, back.body.decode("utf-8", "replace"))
        if redirect.startswith(login_page):
            raise HarnessError(
                f"Glewlwyd sent the signed-in user back to its login page: {redirect}"
            )
        return redirect

    def refresh_grants(self, client_id: str) -> int:
        """How many refresh_token grants Glewlwyd has answered with new tokens for that
        client, in either plugin instance: the rows of its ``gpo_access_token`` table that
        a refresh_token grant wrote (one per successful grant). Refused grants leave no row;
        :meth:`refused_refresh_grants` counts them, server-wide, from the log. The file is
        read (read-only, a shared lock for a moment): call it between requests, not while
        Glewlwyd is answering a burst of them."""
        uri = f"file:{urllib.parse.quote(str(self.database))}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM gpo_access_token"
                " WHERE gpoa_client_id = ? AND gpoa_authorization_type = ?",
                (client_id, REFRESH_GRANT_TYPE),
            ).fetchone()
        return int(row[0])

    def refused_refresh_grants(self) -> int:
        """Refresh_token grants Glewlwyd refused (dead, replayed or unknown refresh token),
        all clients together: its log names no client for them."""
        return sum(REFUSED_TOKEN_LINE in line for line in self.log().splitlines())

    def token_request(
        self, client: RegisteredClient, form: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        """A raw POST to the token endpoint of the client's plugin instance."""
        body = dict(form)
        headers: dict[str, str] = {}
        if client.client_secret is None:
            body.setdefault("client_id", client.client_id)
        elif client.auth_method == "client_secret_post":
            body.setdefault("client_id", client.client_id)
            body.setdefault("client_secret", client.client_secret)
        else:
            headers["Authorization"] = basic_auth(client.client_id, client.client_secret)
        issuer = self.short_lived_issuer if client == self.short_lived else self.issuer
        answer = Session().request("POST", f"{issuer}/token", form=body, headers=headers)
        return answer.status, answer.json()

    def introspect(self, token: str) -> bool | None:
        """RFC 7662 introspection with a bearer token that carries the introspection scope
        (obtained by client_credentials), which Glewlwyd lets see every client's tokens;
        asked of both plugin instances (each knows only its own tokens)."""
        for plugin in (PLUGIN, SHORT_PLUGIN):
            answer = Session().request(
                "POST",
                f"{self.origin}/api/{plugin}/introspect",
                form={"token": token},
                headers={"Authorization": f"Bearer {self._introspection_bearer(plugin)}"},
            )
            body = answer.json()
            if answer.status != 200 or body is None:
                raise HarnessError(
                    f"Glewlwyd introspection failed: {answer.status} {answer.body!r}"
                )
            if body.get("active") is True:
                return True
        return False

    def userinfo(self, access_token: str, *, short_lived: bool = False) -> dict[str, Any]:
        """The userinfo answer for an access token of either plugin instance."""
        issuer = self.short_lived_issuer if short_lived else self.issuer
        answer = Session().request(
            "GET", f"{issuer}/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )
        body = answer.json()
        if answer.status != 200 or body is None:
            raise HarnessError(f"Glewlwyd userinfo failed: {answer.status} {answer.body!r}")
        return body

    def stop(self) -> None:
        """Stop Glewlwyd by its PID (SIGTERM, then SIGKILL after 5 s); remove its folder."""
        _stop_process(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------------------

    def _introspection_bearer(self, plugin: str) -> str:
        with self._lock:
            cached = self._bearer.get(plugin)
            if cached is not None and cached[1] > time.monotonic() + 5:
                return cached[0]
            answer = Session().request(
                "POST",
                f"{self.origin}/api/{plugin}/token",
                form={"grant_type": "client_credentials", "scope": INTROSPECT_SCOPE},
                headers={
                    "Authorization": basic_auth(CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET)
                },
            )
            body = answer.json()
            if answer.status != 200 or body is None or "access_token" not in body:
                raise HarnessError(
                    f"Glewlwyd refused the introspection bearer: {answer.status} {answer.body!r}"
                )
            token = str(body["access_token"])
            self._bearer[plugin] = (token, time.monotonic() + float(body.get("expires_in", 20)))
            return token


def _one(query: Mapping[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values:
        raise HarnessError(f"Glewlwyd's login page URL has no {name!r}")
    return values[0]


# --------------------------------------------------------------------------------------------
# Start-up.


def start() -> GlewlwydServer:
    """Start Glewlwyd on 127.0.0.1 and a free port, configure it, return when it answers."""
    require()
    ver = version()
    last: HarnessError | None = None
    for _ in range(START_ATTEMPTS):  # a port picked free may be taken before Glewlwyd binds
        folder = Path(tempfile.mkdtemp(prefix="e2e-glewlwyd-"))
        try:
            return _start_in(folder, ver)
        except HarnessError as err:
            shutil.rmtree(folder, ignore_errors=True)
            last = err
            if "bind" not in str(err).lower() and "address already in use" not in str(err):
                raise
    assert last is not None
    raise last


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _start_in(folder: Path, ver: str) -> GlewlwydServer:
    port, public_port, confidential_port, short_port = _free_ports(4)
    origin = f"http://{HOST}:{port}"
    database = folder / "glewlwyd.db"
    log_file = folder / "glewlwyd.log"
    _make_database(database)
    key, cert = _make_key(folder)
    config = folder / "glewlwyd.conf"
    template = string.Template(CONFIG_TEMPLATE.read_text())
    config.write_text(
        template.substitute(
            port=port,
            # without a trailing slash: Glewlwyd joins it to "/api/..." as it is
            external_url=origin,
            log_level="INFO",
            log_file=str(log_file),
            database=str(database),
        )
    )
    command = [GLEWLWYD, "--config-file", str(config)]
    with (folder / "stdout.log").open("wb") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=folder
        )
    try:
        _wait_ready(process, origin, folder)
        server = GlewlwydServer(
            version=ver,
            origin=origin,
            issuer=f"{origin}/api/{PLUGIN}",
            short_lived_issuer=f"{origin}/api/{SHORT_PLUGIN}",
            public=RegisteredClient(
                client_id=PUBLIC_CLIENT_ID,
                client_secret=None,
                auth_method=None,
                redirect_port=public_port,
            ),
            confidential=RegisteredClient(
                client_id=CONFIDENTIAL_CLIENT_ID,
                client_secret=CONFIDENTIAL_CLIENT_SECRET,
                auth_method="client_secret_basic",
                redirect_port=confidential_port,
            ),
            short_lived=RegisteredClient(
                client_id=SHORT_CLIENT_ID,
                client_secret=None,
                auth_method=None,
                redirect_port=short_port,
            ),
            process=process,
            folder=folder,
        )
        _configure(server, key, cert)
    except BaseException as err:
        _stop_process(process)
        log = "\n".join(
            p.read_text(errors="replace") for p in (log_file, folder / "stdout.log") if p.is_file()
        )
        if isinstance(err, HarnessError):
            raise HarnessError(f"{err}\ncommand: {' '.join(command)}\noutput:\n{log}") from err
        raise
    return server


def _make_database(path: Path) -> None:
    with gzip.open(SCHEMA, "rt", encoding="utf-8") as schema:
        script = schema.read()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(script)
        db.commit()


def _make_key(folder: Path) -> tuple[str, str]:
    """A fresh RSA key pair for RS256 (private PEM, public PEM)."""
    private = _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    key_file = folder / "rsa.key"
    key_file.write_bytes(private)
    public = _openssl("pkey", "-in", str(key_file), "-pubout")
    return private.decode("ascii"), public.decode("ascii")


def _openssl(*args: str) -> bytes:
    command = ["openssl", *args]
    result = subprocess.run(command, capture_output=True, timeout=30, check=False)
    if result.returncode != 0:
        raise HarnessError(f"{' '.join(command)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def _wait_ready(process: subprocess.Popen[bytes], origin: str, folder: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HarnessError(f"glewlwyd exited with code {process.returncode} at start")
        try:
            with socket.create_connection((HOST, int(origin.rsplit(":", 1)[1])), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise HarnessError(f"glewlwyd did not listen within {STARTUP_TIMEOUT} s ({folder})")


def _plugin(name: str, issuer: str, key: str, cert: str, access_token_ttl: int) -> dict[str, Any]:
    return {
        "module": "oidc",
        "name": name,
        "display_name": f"pkceflow end-to-end ({name})",
        "enabled": True,
        "parameters": {
            "iss": issuer,
            "oauth-as-iss-id": True,  # RFC 9207 iss in the authorization response
            "jwt-type": "rsa",
            "jwt-key-size": "256",  # RS256
            "key": key,
            "cert": cert,
            "access-token-duration": access_token_ttl,
            "refresh-token-duration": 1209600,
            "refresh-token-rolling": False,
            "refresh-token-one-use": "always",
            "code-duration": 600,
            "allow-non-oidc": True,  # needed by client_credentials (introspection bearer)
            "auth-type-code-enabled": True,
            "auth-type-code-revoke-replayed": True,
            "auth-type-token-enabled": False,
            "auth-type-id-token-enabled": False,
            "auth-type-none-enabled": False,
            "auth-type-password-enabled": False,
            "auth-type-client-enabled": True,
            "auth-type-device-enabled": False,
            "auth-type-refresh-enabled": True,
            "allowed-scope": ["openid", INTROSPECT_SCOPE],
            "pkce-allowed": True,
            "pkce-method-plain-allowed": False,
            "pkce-required": True,
            "pkce-required-public-client": True,
            "introspection-revocation-allowed": True,
            "introspection-revocation-auth-scope": [INTROSPECT_SCOPE],
            "introspection-revocation-allow-target-client": True,
            "jwks-show": True,
            "secret-type": "public",
            "name-claim": "on-demand",
            "email-claim": "on-demand",
            "scope-claim": "no",
            "request-parameter-allow": False,
            "session-management-allowed": False,
        },
    }


def _configure(server: GlewlwydServer, key: str, cert: str) -> None:
    admin = Session()
    api = f"{server.origin}/api"

    def call(method: str, path: str, body: Any) -> None:
        answer = admin.request(method, f"{api}{path}", json_body=body)
        if answer.status != 200:
            raise HarnessError(
                f"Glewlwyd's admin API refused {method} /api{path}: {answer.status} "
                f"{answer.body.decode('utf-8', 'replace')}"
            )

    call("POST", "/auth/", {"username": ADMIN[0], "password": ADMIN[1]})
    call(
        "POST",
        "/scope/",
        {
            "name": INTROSPECT_SCOPE,
            "display_name": "Token introspection",
            "description": "Introspect and revoke any token (end-to-end suite)",
            "password_required": False,
            "scheme": {},
        },
    )
    call("POST", "/mod/plugin/", _plugin(PLUGIN, server.issuer, key, cert, ACCESS_TOKEN_TTL))
    call(
        "POST",
        "/mod/plugin/",
        _plugin(SHORT_PLUGIN, server.short_lived_issuer, key, cert, SHORT_ACCESS_TOKEN_TTL),
    )
    call(
        "POST",
        "/user/",
        {
            "username": USERNAME,
            "name": "Alice Example",
            "email": f"{USERNAME}@example.test",
            "password": PASSWORD,
            "scope": ["openid"],
            "enabled": True,
        },
    )
    for client in (server.public, server.confidential, server.short_lived):
        body: dict[str, Any] = {
            "client_id": client.client_id,
            "name": client.client_id,
            "confidential": client.client_secret is not None,
            "redirect_uri": [
                f"http://{client.redirect_host}:{client.redirect_port}{client.redirect_path}"
            ],
            "authorization_type": ["code", "refresh_token"],
            "scope": [],
            "enabled": True,
        }
        if client.client_secret is not None:
            body["client_secret"] = client.client_secret
            body["token_endpoint_auth_method"] = [client.auth_method]
            body["authorization_type"].append("client_credentials")
            body["scope"] = [INTROSPECT_SCOPE]
        call("POST", "/client/", body)
