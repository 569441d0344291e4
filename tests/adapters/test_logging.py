"""Logging at DEBUG through a whole login, refresh and logout never shows a secret."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote, quote_plus

import pytest

from pkceflow.testing import TestProvider

from .conftest import MakeClient
from .support import secrets_seen

CLIENT_ID = "logged-client"
CLIENT_SECRET = "the-client-secret-4f1c9a"


def encodings(secret: str) -> set[str]:
    """``secret`` in clear, percent-encoded (both ways) and base64 (both alphabets)."""
    raw = secret.encode("utf-8")
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms |= {encoded.decode("ascii"), encoded.decode("ascii").rstrip("=")}
    return forms


def rendered(record: logging.LogRecord) -> str:
    """The record's message, and its exception and stack text if any."""
    return record.getMessage() + "\n" + logging.Formatter().format(record)


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_no_log_record_holds_a_token_code_verifier_or_client_secret(
    provider: TestProvider,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    auth_method: str,
) -> None:
    provider.add_client(CLIENT_ID, CLIENT_SECRET, auth_method=auth_method)  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG)
    for name in ("pkceflow", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    client = make_client(
        CLIENT_ID,
        client_secret=CLIENT_SECRET,
        auth_method=auth_method,
        scope="openid offline_access",
    )
    login = client.login()
    refreshed = client.refresh()
    client.token()
    assert client.logout() is True

    secrets = secrets_seen(provider, login, refreshed) | {CLIENT_SECRET}
    # The Basic credentials are base64 of "id:secret", not of the secret alone.
    basic_pair = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    codes = [r.form["code"] for r in provider.requests if "code" in r.form]
    verifiers = [r.form["code_verifier"] for r in provider.requests if "code_verifier" in r.form]
    assert codes
    assert verifiers
    assert login.id_token is not None
    assert refreshed.id_token is not None
    assert {*codes, *verifiers, login.id_token, refreshed.id_token} <= secrets

    names = {record.name for record in caplog.records}
    assert any(name.startswith("pkceflow") for name in names)
    assert any(name.startswith("urllib3") for name in names)
    leaks = [
        (record.name, form[:12])
        for record in caplog.records
        for form in {basic_pair}.union(*(encodings(secret) for secret in secrets))
        if form in rendered(record)
    ]
    assert leaks == []
