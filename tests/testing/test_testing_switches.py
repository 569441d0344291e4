"""Each misbehaviour switch of ProviderSettings does what it says."""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import parse_qs

import pytest

from pkceflow.testing import ProviderSettings, TestProvider

from .helpers import get_code, redeem, refresh, request, tokens


def test_http_500(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.token_failure = "http_500"
    grant = get_code(pkceflow_provider)
    for _ in range(3):
        reply = redeem(pkceflow_provider, grant)
        assert reply.status == 500
        assert reply.header("Content-Type") == "text/plain"
    # The failing requests were not processed: the code is still good.
    pkceflow_provider.settings.token_failure = None
    assert redeem(pkceflow_provider, grant).status == 200


def test_http_503_with_retry_after(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.token_failure = "http_503"
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider))
    assert reply.status == 503
    assert reply.header("Retry-After") == "1"


def test_html_page_with_status_200(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.token_failure = "html_200"
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider))
    assert reply.status == 200
    assert (reply.header("Content-Type") or "").startswith("text/html")
    assert reply.text.lstrip().startswith("<!doctype html>")


def test_invalid_json(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.token_failure = "invalid_json"
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider))
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/json"
    with pytest.raises(json.JSONDecodeError):
        reply.json()


def test_disconnect(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.token_failure = "disconnect"
    with pytest.raises(http.client.RemoteDisconnected):
        redeem(pkceflow_provider, get_code(pkceflow_provider))
    # The server keeps serving.
    assert request(pkceflow_provider.jwks_uri).status == 200


def test_fail_only_the_next_requests(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.fail_next_token_requests(2, "http_500")
    grant = get_code(pkceflow_provider)
    statuses = [redeem(pkceflow_provider, grant).status for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert pkceflow_provider.settings.token_failure is None
    assert pkceflow_provider.count("token") == 3


def test_token_delay(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.token_delay = 0.3
    grant = get_code(pkceflow_provider)
    start = time.monotonic()
    assert redeem(pkceflow_provider, grant).status == 200
    assert time.monotonic() - start >= 0.3


def test_delay_only_the_next_requests(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.delay_next_token_requests(1, 0.3)
    first = tokens(pkceflow_provider)
    start = time.monotonic()
    assert refresh(pkceflow_provider, first["refresh_token"]).status == 200
    assert time.monotonic() - start < 0.3
    assert pkceflow_provider.settings.token_delay == 0.0


def test_delay_is_cut_short_by_stop() -> None:
    provider = TestProvider(ProviderSettings(token_delay=30)).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            redeem(provider, get_code(provider))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    while provider.count("token") == 0:
        time.sleep(0.01)
    start = time.monotonic()
    provider.stop()
    assert time.monotonic() - start < 5
    thread.join(5)
    assert not thread.is_alive()


def test_refresh_invalid_grant(pkceflow_provider: TestProvider) -> None:
    first = tokens(pkceflow_provider)
    pkceflow_provider.settings.refresh_invalid_grant = True
    reply = refresh(pkceflow_provider, first["refresh_token"])
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_grant"
    pkceflow_provider.settings.refresh_invalid_grant = False
    assert refresh(pkceflow_provider, first["refresh_token"]).status == 200


def test_refresh_token_not_rotated_same(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.refresh_token_rotation = "same"
    first = tokens(pkceflow_provider)
    for _ in range(3):
        again = refresh(pkceflow_provider, first["refresh_token"]).json()
        assert again["refresh_token"] == first["refresh_token"]


def test_refresh_token_not_rotated_omitted(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.refresh_token_rotation = "omit"
    first = tokens(pkceflow_provider)
    for _ in range(3):
        again = refresh(pkceflow_provider, first["refresh_token"]).json()
        assert "refresh_token" not in again
        assert again["access_token"]


def test_form_encoded_token_responses(pkceflow_provider: TestProvider) -> None:
    settings = pkceflow_provider.settings
    settings.token_response_format = "form"
    settings.token_type = "bearer"
    settings.scope_as_list = True
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider))
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/x-www-form-urlencoded; charset=utf-8"
    body = reply.form()
    assert body["token_type"] == "bearer"
    assert body["scope"] == "openid,profile,email"
    assert body["expires_in"] == "3600"
    # Asking for JSON gets JSON.
    reply = redeem(
        pkceflow_provider,
        get_code(pkceflow_provider),
        headers={"Accept": "text/plain, application/json;q=0.9"},
    )
    assert reply.header("Content-Type") == "application/json"
    assert reply.json()["scope"] == ["openid", "profile", "email"]
    # Errors are form-encoded too (and with GitHub's status 200 when asked).
    settings.token_errors_status_200 = True
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider), code="bad")
    assert reply.status == 200
    assert parse_qs(reply.text)["error"] == ["invalid_grant"]


def test_expires_in_as_string_and_scope_shapes(pkceflow_provider: TestProvider) -> None:
    settings = pkceflow_provider.settings
    settings.expires_in_as_string = True
    settings.scope_as_list = True
    settings.access_token_lifetime = 120
    payload = tokens(pkceflow_provider)
    assert payload["expires_in"] == "120"
    assert payload["scope"] == ["openid", "profile", "email"]
    settings.omit_expires_in = True
    settings.scope_in_token_response = False
    payload = tokens(pkceflow_provider)
    assert "expires_in" not in payload
    assert "scope" not in payload


def test_token_errors_status_200_in_json(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.token_errors_status_200 = True
    reply = redeem(pkceflow_provider, get_code(pkceflow_provider), code="bad")
    assert reply.status == 200
    assert reply.json()["error"] == "invalid_grant"


def test_advertise_iss_parameter(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.advertise_iss_parameter = False
    metadata = request(pkceflow_provider.metadata_url).json()
    assert metadata["authorization_response_iss_parameter_supported"] is False


def test_scopes_supported_is_live(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.scopes_supported = ("openid", "api")
    assert tokens(pkceflow_provider, scope="openid api")["scope"] == "openid api"
    metadata = request(pkceflow_provider.metadata_url).json()
    assert metadata["scopes_supported"] == ["openid", "api"]


def test_settings_reject_typos() -> None:
    settings = ProviderSettings()
    with pytest.raises(AttributeError):
        settings.interactve = True  # type: ignore[attr-defined]


def test_concurrent_requests_while_switching(pkceflow_provider: TestProvider) -> None:
    """Many clients at once, with a switch flipping meanwhile: no internal errors."""
    failures: list[BaseException] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(5):
                status = redeem(pkceflow_provider, get_code(pkceflow_provider)).status
                with lock:
                    statuses.append(status)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for _ in range(10):
        pkceflow_provider.settings.fail_next_token_requests(1, "http_503")
        time.sleep(0.005)
    for thread in threads:
        thread.join(30)
    assert not failures
    assert len(statuses) == 40
    assert set(statuses) <= {200, 503}
    assert len(pkceflow_provider.tokens()) >= 2 * statuses.count(200)
