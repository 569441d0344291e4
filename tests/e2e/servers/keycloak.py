"""Keycloak (the Quarkus distribution, Maven Central) as a real server of the end-to-end suite.

``tests/e2e/servers/keycloak/install.sh`` unpacks ``org.keycloak:keycloak-quarkus-dist``
(the version in ``keycloak/VERSION``) into ``tests/e2e/.e2e-cache/keycloak-<version>/`` and
pre-builds it once (``kc.sh build --db=dev-file``). Each start then:

- makes a home folder of its own in a temporary directory: a copy of ``bin/kc.sh``,
  ``conf/`` and ``lib/quarkus/`` (the build's output, a few MB), links to the rest of the
  distribution, and ``data/import/realm.json``; kc.sh takes its home from where it lies, so
  the dev database (H2 in ``data/h2``), the transaction logs, the import folder and the
  JVM's temporary files all live there and go with ``stop()``, and the cache is only read;
- runs ``kc.sh start --optimized`` on 127.0.0.1 and a free port, plain HTTP, the embedded
  dev-file database, a local (non-clustered) cache, the bootstrap admin from
  ``KC_BOOTSTRAP_ADMIN_USERNAME``/``_PASSWORD``, a 512 MB heap, and ``--import-realm``.

Why ``start --optimized`` and not ``start-dev``: ``start-dev`` cannot use a pre-built
distribution (``kc.sh build`` refuses the dev profile) and redoes the Quarkus augmentation
(about 22 s on two cores) whenever the last build was not its own, so every fresh home
would start in about 40 s; the optimized start of the build made at install takes 17-19 s,
almost all of it creating the database schema, the master realm and importing the realm.

Why OpenJDK 17: Keycloak 26.7's jars are Java 17 class files, and it starts and passes the
suite on Debian 12's OpenJDK 17, the Java that install.sh can install on a fresh Debian 12.
Temurin 25 (on this machine's image, not a Debian package) runs it as well, in the same
time and memory within the noise (14-19 s either way); ``KEYCLOAK_JAVA_HOME`` picks
another JDK.

The realm (``keycloak/realm.json``) has the test user, three clients and these settings:

- ``pkceflow-public``: public, standard flow only, PKCE required with S256
  (``pkce.code.challenge.method``), consent required (asked for again at every sign-in with
  ``prompt=consent``, so that "No" can always be pressed);
- ``pkceflow-confidential``: client_secret_basic, PKCE S256;
  its credentials also authenticate introspection;
- ``pkceflow-short``: public, access tokens for 20 s (``access.token.lifespan``);
- refresh-token rotation without reuse (``revokeRefreshToken``, ``refreshTokenMaxReuse: 0``);
- events stored for LOGIN, CODE_TO_TOKEN, REFRESH_TOKEN and their errors, and more: the
  refresh grants are counted from Keycloak's own event store through its admin REST API.

Keycloak's quirks, as met here (see tests/e2e/README.md): it marks its sign-in cookies
``Secure`` even over plain http (the sign-in's cookie jar sends them to loopback hosts, as
browsers do for these secure contexts); a loopback redirect URI registered without a port
matches any port, for 127.0.0.1, localhost and [::1] alike, but only for the host
registered; an unknown client gets its own "Client not found." page (HTTP 400).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import Cookie, CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any, Literal

from ..harness import (  # noqa: TID252 (tests/e2e is no installed package)
    HarnessError,
    HttpResponse,
    _missing,
    _NoRedirect,
    _send,
    basic_auth,
)
from .base import RegisteredClient, SignInRefused

ASSETS = Path(__file__).resolve().parent / "keycloak"
INSTALL_SCRIPT = ASSETS / "install.sh"
REALM_FILE = ASSETS / "realm.json"
VERSION_FILE = ASSETS / "VERSION"
CACHE = Path(__file__).resolve().parents[1] / ".e2e-cache"
#: Written by install.sh once the distribution is unpacked and built.
BUILT_STAMP = ".pkceflow-e2e-built"
DEFAULT_JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"

HOST = "127.0.0.1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
ADMIN_USERNAME = "admin"
#: The heap of a test server: Keycloak's own default is 70% of the machine's memory.
HEAP = "-Xms64m -Xmx512m"
#: Keycloak's sign-in, public client: the consent page at every sign-in (see the docstring).
PUBLIC_PARAMS: Mapping[str, str] = {"prompt": "consent"}
#: Successful and refused refresh_token grants, as Keycloak's event store names them.
REFRESH_EVENTS = ("REFRESH_TOKEN", "REFRESH_TOKEN_ERROR")

STARTUP_TIMEOUT = 180.0
STOP_TIMEOUT = 20.0
HTTP_TIMEOUT = 15.0
SIGN_IN_STEPS = 8
START_ATTEMPTS = 2

LIMITS: Mapping[str, str] = {}


# --------------------------------------------------------------------------------------------
# Prerequisites and the installed distribution.


def version() -> str:
    """The Keycloak version install.sh installs (``keycloak/VERSION``)."""
    return VERSION_FILE.read_text().strip()


def distribution() -> Path:
    """The unpacked, pre-built distribution in the cache."""
    return CACHE / f"keycloak-{version()}"


def java_home() -> Path:
    return Path(os.environ.get("KEYCLOAK_JAVA_HOME", DEFAULT_JAVA_HOME))


def require() -> None:
    """Skip (fail when CI=true) unless install.sh has unpacked and built Keycloak and its
    Java is there."""
    dist = distribution()
    if not (dist / BUILT_STAMP).is_file() or not (dist / "bin" / "kc.sh").is_file():
        _missing(f"Keycloak {version()} is not installed: run `bash {INSTALL_SCRIPT}`")
    java = java_home() / "bin" / "java"
    if not os.access(java, os.X_OK):
        _missing(f"{java} is missing (Keycloak's Java): run `bash {INSTALL_SCRIPT}` as root")


def installed_version(dist: Path) -> str:
    """The version the distribution says it is (``version.txt``: "Keycloak - Version N")."""
    text = (dist / "version.txt").read_text().strip()
    found = text.rsplit(" ", 1)[-1]
    if not found[:1].isdigit():
        raise HarnessError(f"cannot read Keycloak's version from {dist / 'version.txt'}: {text!r}")
    return found


# --------------------------------------------------------------------------------------------
# The realm, as the tests keep it.


@dataclass(frozen=True)
class Realm:
    name: str
    username: str
    password: str
    public_id: str
    confidential_id: str
    confidential_secret: str
    short_lived_id: str

    @classmethod
    def load(cls, path: Path = REALM_FILE) -> Realm:
        data = json.loads(path.read_text())
        user = data["users"][0]
        password = next(c["value"] for c in user["credentials"] if c["type"] == "password")
        clients = {c["clientId"]: c for c in data["clients"]}
        public = next(c for c in clients.values() if c["publicClient"] and c["consentRequired"])
        confidential = next(c for c in clients.values() if not c["publicClient"])
        short = next(c for c in clients.values() if "access.token.lifespan" in c["attributes"])
        return cls(
            name=data["realm"],
            username=user["username"],
            password=password,
            public_id=public["clientId"],
            confidential_id=confidential["clientId"],
            confidential_secret=confidential["secret"],
            short_lived_id=short["clientId"],
        )


# --------------------------------------------------------------------------------------------
# A browser's cookies and forms, over plain HTTP.


class _LoopbackCookiePolicy(DefaultCookiePolicy):
    """Sends ``Secure`` cookies over plain http to loopback hosts, as browsers do
    (http://127.0.0.1 is a potentially trustworthy origin, W3C Secure Contexts 3.1):
    Keycloak marks its sign-in cookies Secure whatever the scheme."""

    def return_ok_secure(self, cookie: Cookie, request: urllib.request.Request) -> bool:
        host = urllib.parse.urlsplit(request.get_full_url()).hostname
        return host in LOOPBACK_HOSTS or super().return_ok_secure(cookie, request)


@dataclass
class _Form:
    action: str
    method: str
    form_id: str
    fields: dict[str, str] = field(default_factory=dict)
    #: Submit buttons: name -> value (a button without a value attribute sends "").
    buttons: dict[str, str] = field(default_factory=dict)


class _Page(HTMLParser):
    """The forms of a Keycloak page and the text of its error message."""

    def __init__(self, body: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self.error: list[str] = []
        self._form: _Form | None = None
        self._in_error = 0
        self.feed(body.decode("utf-8", "replace"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if self._in_error:
            self._in_error += 1
        elif "kc-error-message" in (attributes.get("class", ""), attributes.get("id", "")):
            self._in_error = 1
        if tag == "form":
            self._form = _Form(
                attributes.get("action", ""),
                attributes.get("method", "get").lower(),
                attributes.get("id", ""),
            )
            self.forms.append(self._form)
        elif self._form is not None and "name" in attributes:
            kind = attributes.get("type", "submit" if tag == "button" else "text").lower()
            if tag == "button" or (tag == "input" and kind == "submit"):
                if kind == "submit":
                    self._form.buttons[attributes["name"]] = attributes.get("value", "")
            elif tag == "input":
                self._form.fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if self._in_error:
            self._in_error -= 1
        if tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._in_error and data.strip():
            self.error.append(data.strip())

    def message(self) -> str:
        return " ".join(self.error)


class _Browser:
    """One person's browser: a cookie jar, no redirect following, loopback only."""

    def __init__(self) -> None:
        self.cookies = CookieJar(_LoopbackCookiePolicy())
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def get(self, url: str) -> HttpResponse:
        return _send(self.opener, url, headers={"Accept": "text/html"}, timeout=HTTP_TIMEOUT)

    def post(self, url: str, form: Mapping[str, str]) -> HttpResponse:
        return _send(
            self.opener,
            url,
            data=urllib.parse.urlencode(form).encode("ascii"),
            headers={
                "Accept": "text/html",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
            timeout=HTTP_TIMEOUT,
        )


_PLAIN = urllib.request.build_opener(_NoRedirect())


def _post_json(
    url: str, form: Mapping[str, str], headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, Any] | None]:
    answer = _send(
        _PLAIN,
        url,
        data=urllib.parse.urlencode(form).encode("ascii"),
        headers={
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            **(headers or {}),
        },
        method="POST",
        timeout=HTTP_TIMEOUT,
    )
    return answer.status, _json_object(answer.body)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _same_origin(url: str, origin: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" == origin


# --------------------------------------------------------------------------------------------
# The server.


@dataclass
class KeycloakServer:
    """A running Keycloak with the realm imported (see the module docstring)."""

    version: str
    origin: str
    issuer: str
    realm: Realm
    public: RegisteredClient
    confidential: RegisteredClient
    short_lived: RegisteredClient
    process: subprocess.Popen[bytes]
    folder: Path
    admin_password: str = field(repr=False)
    #: The discovery document read at start.
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: Seconds from starting kc.sh to the realm's discovery document answering.
    started_in: float = 0.0
    #: The JVM's peak resident memory (VmHWM) in KiB, last read (``peak_rss_kib()``).
    peak_rss: int = 0
    name: str = "keycloak"
    limits: Mapping[str, str] = field(default_factory=lambda: dict(LIMITS))
    _admin_token: tuple[str, float] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- files and the process ----------------------------------------------------------------

    @property
    def log_file(self) -> Path:
        return self.folder / "keycloak.log"

    def log(self) -> str:
        """What Keycloak wrote to stdout and stderr so far."""
        with contextlib.suppress(OSError):
            return self.log_file.read_text(errors="replace")
        return ""

    def java_pid(self) -> int | None:
        """The JVM's PID: kc.sh runs java as its child (and waits for it)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError, ValueError):
            children = path.read_text().split()
            if children:
                return int(children[0])
        return None

    def peak_rss_kib(self) -> int:
        """The JVM's peak resident set size so far (VmHWM, KiB); 0 once it is gone."""
        pid = self.java_pid()
        if pid is not None:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_rss = max(self.peak_rss, int(line.split()[1]))
        return self.peak_rss

    # -- endpoints ----------------------------------------------------------------------------

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def introspection_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token/introspect"

    # -- the interface ------------------------------------------------------------------------

    def sign_in(
        self,
        authorization_url: str,
        *,
        outcome: Literal["allow", "deny", "abandon"] = "allow",
    ) -> str | None:
        """Walk Keycloak's login form (and its consent page, where shown) for the test user,
        as a browser would, and return the redirect to the client WITHOUT requesting it.

        "deny" presses "No" on the consent page (Keycloak then redirects with
        error=access_denied); "abandon" stops at the login page and returns None. Raises
        SignInRefused when Keycloak shows its own error page (e.g. "Client not found.")."""
        browser = _Browser()
        url = authorization_url
        answer = browser.get(url)
        signed_in = consented = False
        for _ in range(SIGN_IN_STEPS):
            location = answer.header("Location")
            if answer.status in (301, 302, 303, 307, 308) and location:
                target = urllib.parse.urljoin(url, location)
                if _same_origin(target, self.origin):
                    url = target
                    answer = browser.get(url)  # Keycloak's own next step
                    continue
                if outcome == "deny" and not consented:
                    raise HarnessError(f"Keycloak redirected before any consent page: {target}")
                return target  # the client's redirect URI: not requested
            page = _Page(answer.body)
            if answer.status != 200:
                raise SignInRefused(answer.status, page.message() or _text(answer.body))
            login = next((f for f in page.forms if f.form_id == "kc-form-login"), None)
            consent = next(
                (f for f in page.forms if {"accept", "cancel"} <= f.buttons.keys()), None
            )
            if login is not None:
                if outcome == "abandon":
                    return None
                if signed_in:
                    raise HarnessError(
                        f"Keycloak refused the test user's password: {page.message()!r}"
                    )
                fields = dict(login.fields)
                fields.update(username=self.realm.username, password=self.realm.password)
                url = urllib.parse.urljoin(url, login.action)
                answer = browser.post(url, fields)
                signed_in = True
            elif consent is not None:
                button = "accept" if outcome == "allow" else "cancel"
                fields = {**consent.fields, button: consent.buttons[button]}
                url = urllib.parse.urljoin(url, consent.action)
                answer = browser.post(url, fields)
                consented = True
            else:
                raise SignInRefused(answer.status, page.message() or _text(answer.body))
        raise HarnessError(f"Keycloak's sign-in did not end in {SIGN_IN_STEPS} steps at {url}")

    def refresh_grants(self, client_id: str) -> int:
        """How many refresh_token grants Keycloak has processed for that client: the
        REFRESH_TOKEN (answered with new tokens) and REFRESH_TOKEN_ERROR (refused) events of
        its own event store, read through the admin REST API. Refused grants count too: two
        refreshes where pkceflow should send one show as two, whatever the second got."""
        return len(self.refresh_events(client_id))

    def refresh_events(self, client_id: str) -> list[dict[str, Any]]:
        """Keycloak's stored refresh events for that client (type, time, error...)."""
        query = urllib.parse.urlencode(
            [("client", client_id), *(("type", t) for t in REFRESH_EVENTS), ("max", "100000")]
        )
        events = self._admin_get(f"/admin/realms/{self.realm.name}/events?{query}")
        if not isinstance(events, list):
            raise HarnessError(f"Keycloak's events answer is not a list: {events!r}")
        return [e for e in events if isinstance(e, dict) and e.get("clientId") == client_id]

    def token_request(
        self, client: RegisteredClient, form: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        """A raw POST to the realm's token endpoint with the client's authentication."""
        body = dict(form)
        headers: dict[str, str] = {}
        if client.client_secret is None:
            body.setdefault("client_id", client.client_id)
        elif client.auth_method == "client_secret_post":
            body.setdefault("client_id", client.client_id)
            body.setdefault("client_secret", client.client_secret)
        else:
            headers["Authorization"] = basic_auth(client.client_id, client.client_secret)
        return _post_json(self.token_endpoint, body, headers)

    def introspect(self, token: str) -> bool | None:
        """RFC 7662 introspection, authenticated as the confidential client.

        Keycloak 26.7 answers ``active`` only to a client in the token's audience (else
        ``active: false``, an INTROSPECT_TOKEN_ERROR "not in the token audience"), even for
        the client's own tokens: the realm gives every client's access tokens the audience
        ``pkceflow-confidential`` (an audience mapper) for that. Its refresh tokens' audience
        is the realm itself, which no client can be: for a refresh token (``typ`` Refresh or
        Offline in its unverified payload) this returns None, and the caller tries the
        refresh token at the token endpoint instead."""
        if _jwt_type(token) in ("Refresh", "Offline"):
            return None
        status, body = _post_json(
            self.introspection_endpoint,
            {"token": token},
            {
                "Authorization": basic_auth(
                    self.realm.confidential_id, self.realm.confidential_secret
                )
            },
        )
        if status != 200 or body is None or not isinstance(body.get("active"), bool):
            raise HarnessError(f"Keycloak's introspection failed: {status} {body!r}")
        return bool(body["active"])

    def stop(self) -> None:
        """Stop Keycloak by its PID: SIGTERM to kc.sh (which passes it on to the JVM and
        waits for it), SIGKILL to its process group after 20 s; remove the home folder."""
        self.peak_rss_kib()
        process = self.process
        if process.poll() is None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT)
        # kc.sh was started in a session of its own: its group is kc.sh and the JVM.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------------------

    def _admin_get(self, path: str) -> Any:
        answer = _send(
            _PLAIN,
            f"{self.origin}{path}",
            headers={"Accept": "application/json", "Authorization": f"Bearer {self._admin()}"},
            timeout=HTTP_TIMEOUT,
        )
        if answer.status != 200:
            raise HarnessError(f"Keycloak's admin API refused GET {path}: {answer.status}")
        return json.loads(answer.body.decode("utf-8"))

    def _admin(self) -> str:
        """An access token of the bootstrap admin (master realm, admin-cli), kept while it
        lives (60 s by Keycloak's default)."""
        with self._lock:
            if self._admin_token is not None and self._admin_token[1] > time.monotonic():
                return self._admin_token[0]
            status, body = _post_json(
                f"{self.origin}/realms/master/protocol/openid-connect/token",
                {
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": ADMIN_USERNAME,
                    "password": self.admin_password,
                },
            )
            if status != 200 or body is None or "access_token" not in body:
                raise HarnessError(f"Keycloak refused the bootstrap admin: {status} {body!r}")
            lifetime = float(body.get("expires_in", 60))
            token = str(body["access_token"])
            self._admin_token = (token, time.monotonic() + lifetime - 10)
            return token


def _jwt_type(token: str) -> str | None:
    """The ``typ`` claim of a JWT's payload, read without verifying it; None otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    typ = payload.get("typ") if isinstance(payload, dict) else None
    return typ if isinstance(typ, str) else None


def _text(body: bytes, limit: int = 2000) -> str:
    return body.decode("utf-8", "replace")[:limit]


# --------------------------------------------------------------------------------------------
# Start-up.


def start() -> KeycloakServer:
    """Start Keycloak on 127.0.0.1 and a free port with the realm imported; return when the
    realm's discovery document answers."""
    require()
    dist = distribution()
    ver = installed_version(dist)
    realm = Realm.load()
    last: HarnessError | None = None
    for _ in range(START_ATTEMPTS):  # a port picked free may be taken before Keycloak binds
        folder = Path(tempfile.mkdtemp(prefix="e2e-keycloak-"))
        try:
            return _start_in(folder, dist, ver, realm)
        except HarnessError as err:
            shutil.rmtree(folder, ignore_errors=True)
            last = err
            if "address already in use" not in str(err).lower():
                raise
    assert last is not None
    raise last


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _make_home(folder: Path, dist: Path) -> Path:
    """A Keycloak home of this start's own (see the module docstring)."""
    home = folder / "home"
    (home / "bin").mkdir(parents=True)
    shutil.copy2(dist / "bin" / "kc.sh", home / "bin" / "kc.sh")
    shutil.copytree(dist / "conf", home / "conf")
    (home / "lib").mkdir()
    for name in ("app", "lib", "quarkus-run.jar"):
        (home / "lib" / name).symlink_to(dist / "lib" / name)
    # The build's output: copied, so that an unexpected re-augmentation writes here only.
    shutil.copytree(dist / "lib" / "quarkus", home / "lib" / "quarkus")
    for name in ("themes", "providers"):
        (home / name).symlink_to(dist / name)
    (home / "data" / "import").mkdir(parents=True)
    shutil.copy2(REALM_FILE, home / "data" / "import" / REALM_FILE.name)
    (home / "data" / "tmp").mkdir()
    return home


def _environment(home: Path, admin_password: str) -> dict[str, str]:
    # Keycloak reads any KC_* variable as configuration: none leaks in from outside.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("KC_") and not key.startswith("JAVA_OPTS")
    }
    env.update(
        JAVA_HOME=str(java_home()),
        KC_BOOTSTRAP_ADMIN_USERNAME=ADMIN_USERNAME,
        KC_BOOTSTRAP_ADMIN_PASSWORD=admin_password,
        JAVA_OPTS_KC_HEAP=HEAP,
        JAVA_OPTS_APPEND=f"-Djava.io.tmpdir={home / 'data' / 'tmp'}",
    )
    return env


def _start_in(folder: Path, dist: Path, ver: str, realm: Realm) -> KeycloakServer:
    home = _make_home(folder, dist)
    port = _free_port()
    origin = f"http://{HOST}:{port}"
    admin_password = secrets.token_urlsafe(24)
    command = [
        str(home / "bin" / "kc.sh"),
        "start",
        "--optimized",
        "--http-enabled=true",
        f"--http-host={HOST}",
        f"--http-port={port}",
        "--hostname-strict=false",
        # No JGroups: the default "ispn" cache listens for cluster members on every address.
        "--cache=local",
        "--import-realm",
    ]
    log_file = folder / "keycloak.log"
    started = time.monotonic()
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
            env=_environment(home, admin_password),
            start_new_session=True,
        )
    issuer = f"{origin}/realms/{realm.name}"
    server = KeycloakServer(
        version=ver,
        origin=origin,
        issuer=issuer,
        realm=realm,
        public=RegisteredClient(
            client_id=realm.public_id,
            client_secret=None,
            auth_method=None,
            params=dict(PUBLIC_PARAMS),
        ),
        confidential=RegisteredClient(
            client_id=realm.confidential_id,
            client_secret=realm.confidential_secret,
            auth_method="client_secret_basic",
        ),
        short_lived=RegisteredClient(
            client_id=realm.short_lived_id, client_secret=None, auth_method=None
        ),
        process=process,
        folder=folder,
        admin_password=admin_password,
    )
    try:
        server.metadata = _wait_ready(process, issuer)
    except BaseException as err:
        output = server.log()
        server.stop()
        if isinstance(err, HarnessError):
            raise HarnessError(f"{err}\ncommand: {' '.join(command)}\noutput:\n{output}") from err
        raise
    server.started_in = time.monotonic() - started
    server.peak_rss_kib()
    return server


def _wait_ready(process: subprocess.Popen[bytes], issuer: str) -> dict[str, Any]:
    url = f"{issuer}/.well-known/openid-configuration"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HarnessError(f"kc.sh exited with code {process.returncode} at start")
        with contextlib.suppress(OSError):
            answer = _send(_PLAIN, url, headers={"Accept": "application/json"}, timeout=5)
            body = _json_object(answer.body)
            if answer.status == 200 and body is not None and body.get("issuer") == issuer:
                return body
        time.sleep(0.25)
    raise HarnessError(f"Keycloak did not serve {url} within {STARTUP_TIMEOUT:g} s")
