"""client_auth.py: how the client identifies itself at the token endpoint (RFC 6749 2.3)."""

from __future__ import annotations

import base64
from urllib.parse import unquote_plus

import pytest

from pkceflow_core import ClientConfig, UsageError

AWKWARD_ID = "a b:c/d%e"
AWKWARD_SECRET = "s3cr&t=+:/%\u00e9 x"


def authenticate(client: ClientConfig) -> tuple[dict[str, str], dict[str, str]]:
    form: dict[str, str] = {"grant_type": "authorization_code"}
    headers: dict[str, str] = {}
    client.authenticate(form, headers)
    return form, headers


def basic_credentials(headers: dict[str, str]) -> tuple[str, str]:
    scheme, _, encoded = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    user, colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    assert colon == ":"
    return user, password


def test_a_client_without_secret_uses_none() -> None:
    assert ClientConfig("cli").method == "none"


def test_a_client_with_a_secret_uses_client_secret_basic_by_default() -> None:
    assert ClientConfig("cli", "secret").method == "client_secret_basic"


def test_an_explicit_method_wins() -> None:
    assert ClientConfig("cli", "secret", "client_secret_post").method == "client_secret_post"


def test_none_sends_the_client_id_in_the_form() -> None:
    form, headers = authenticate(ClientConfig("cli"))

    assert form == {"grant_type": "authorization_code", "client_id": "cli"}
    assert headers == {}


def test_none_sends_no_secret_even_when_one_is_configured() -> None:
    form, headers = authenticate(ClientConfig("cli", "secret", "none"))

    assert "client_secret" not in form
    assert headers == {}


def test_client_secret_basic_sends_an_authorization_header_only() -> None:
    form, headers = authenticate(ClientConfig("cli", "secret"))

    assert form == {"grant_type": "authorization_code"}
    assert basic_credentials(headers) == ("cli", "secret")


def test_client_secret_basic_form_urlencodes_id_and_secret_first() -> None:
    _, headers = authenticate(ClientConfig(AWKWARD_ID, AWKWARD_SECRET))

    user, password = basic_credentials(headers)

    # RFC 6749 2.3.1: application/x-www-form-urlencoded, then base64.
    assert user == "a+b%3Ac%2Fd%25e"
    assert "/" not in password
    assert ":" not in password
    assert (unquote_plus(user), unquote_plus(password)) == (AWKWARD_ID, AWKWARD_SECRET)


def test_client_secret_post_sends_id_and_secret_in_the_form() -> None:
    form, headers = authenticate(ClientConfig(AWKWARD_ID, AWKWARD_SECRET, "client_secret_post"))

    assert form == {
        "grant_type": "authorization_code",
        "client_id": AWKWARD_ID,
        "client_secret": AWKWARD_SECRET,
    }
    assert headers == {}


def test_the_secret_is_not_in_the_repr() -> None:
    text = repr(ClientConfig("cli", "very-secret-value"))

    assert "very-secret-value" not in text
    assert "cli" in text


def test_an_empty_client_id_is_refused() -> None:
    with pytest.raises(UsageError, match="client_id"):
        ClientConfig("")


def test_a_client_id_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(UsageError, match="client_id"):
        ClientConfig(42)  # type: ignore[arg-type]


def test_an_unknown_auth_method_is_refused() -> None:
    with pytest.raises(UsageError, match="auth_method must be one of"):
        ClientConfig("cli", "secret", "private_key_jwt")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize("secret", [None, ""])
def test_a_secret_method_without_a_secret_is_refused(method: str, secret: str | None) -> None:
    with pytest.raises(UsageError, match=f"{method} needs a client_secret"):
        ClientConfig("cli", secret, method)  # type: ignore[arg-type]
