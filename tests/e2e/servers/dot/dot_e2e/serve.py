"""Start the DOT server for the end-to-end suite: ``python -m dot_e2e.serve STATE_DIR``.

``STATE_DIR/config.json`` (written by ``tests/e2e/servers/dot.py``) names the user, the
applications and their secrets. This script makes an RSA key and a secret key, creates the
SQLite database there (migrations), the user and the applications, then serves on
127.0.0.1 with a free port and prints one JSON line ``{"port": N, ...}`` on stdout. It
stops on SIGTERM and when its stdin is closed (the test process went away).

The HTTP server is Django's own development server class (what ``runserver --noreload
--nothreading`` runs) without the autoreloader, so port 0 works and the chosen port is
reported. Requests are served one at a time: SQLite has one writer at a time, and DOT's
``select_for_update`` is a no-op on SQLite, so serialising requests is what keeps
concurrent refreshes from failing with "database is locked".
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _write_state(state: Path, config: dict[str, Any]) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (state / "oidc-rsa.pem").write_bytes(pem)
    (state / "state.json").write_text(
        json.dumps(
            {
                "secret_key": secrets.token_urlsafe(50),
                "short_lived_client_id": config["short_lived"]["client_id"],
                "short_lived_seconds": config["short_lived_seconds"],
            }
        )
    )


def _create_data(config: dict[str, Any]) -> None:
    from django.contrib.auth import get_user_model  # type: ignore[import-not-found]
    from oauth2_provider.models import get_application_model  # type: ignore[import-not-found]

    user_model = get_user_model()
    user = user_model.objects.create_user(
        username=config["user"]["username"],
        password=config["user"]["password"],
        email=config["user"]["email"],
    )
    application = get_application_model()
    for name in ("public", "confidential", "short_lived"):
        entry = config[name]
        confidential = entry.get("client_secret") is not None
        app = application(
            name=f"pkceflow {name}",
            client_id=entry["client_id"],
            client_type=(
                application.CLIENT_CONFIDENTIAL if confidential else application.CLIENT_PUBLIC
            ),
            authorization_grant_type=application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(entry["redirect_uris"]),
            algorithm=application.RS256_ALGORITHM,
            skip_authorization=False,
            user=user,
        )
        if confidential:
            # Hashed on save (hash_client_secret): the plain secret stays in config.json.
            app.client_secret = entry["client_secret"]
        app.save()


def main() -> None:
    state = Path(sys.argv[1])
    config: dict[str, Any] = json.loads((state / "config.json").read_text())
    timings: dict[str, float] = {}
    began = time.monotonic()
    _write_state(state, config)
    timings["key"] = time.monotonic() - began

    os.environ["DOT_E2E_STATE"] = str(state)
    os.environ["DJANGO_SETTINGS_MODULE"] = "dot_e2e.settings"
    import django  # type: ignore[import-not-found]
    from django.core.management import call_command  # type: ignore[import-not-found]
    from django.core.servers.basehttp import (  # type: ignore[import-not-found]
        WSGIRequestHandler,
        WSGIServer,
    )
    from django.core.wsgi import get_wsgi_application  # type: ignore[import-not-found]

    django.setup()
    mark = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    timings["migrate"] = time.monotonic() - mark
    mark = time.monotonic()
    _create_data(config)
    timings["data"] = time.monotonic() - mark

    # A deep listen backlog: many clients may connect at once while one is served.
    server_class = type("DotE2EServer", (WSGIServer,), {"request_queue_size": 128})
    server = server_class(("127.0.0.1", 0), WSGIRequestHandler, ipv6=False)
    server.set_app(get_wsgi_application())
    port = server.server_address[1]

    def _terminate(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    threading.Thread(target=_exit_on_stdin_close, name="stdin-watch", daemon=True).start()
    timings["total"] = time.monotonic() - began
    versions = {"django": django.get_version(), "dot": _dot_version()}
    sys.stdout.write(json.dumps({"port": port, "versions": versions, "timings": timings}) + "\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _exit_on_stdin_close() -> None:
    """The parent holds our stdin open; when it goes away (even killed), stop too."""
    # The raw descriptor, not sys.stdin: a daemon thread blocked in a buffered read would
    # hold its lock through interpreter shutdown (which then aborts).
    while os.read(0, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def _dot_version() -> str:
    from importlib.metadata import version

    return version("django-oauth-toolkit")


if __name__ == "__main__":
    main()
