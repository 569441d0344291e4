"""endpoints.py: credentials only go to https URLs, or plain http on loopback."""

from __future__ import annotations

import pytest

from pkceflow_core import InsecureEndpointError, UsageError
from pkceflow_core._endpoints import check_endpoint, is_loopback_host


@pytest.mark.parametrize(
    "host", ["localhost", "LocalHost", "127.0.0.1", "127.255.10.9", "::1", "[::1]"]
)
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost.example.com",
        "127.0.0.1.example.com",
        "128.0.0.1",
        "10.0.0.1",
        "0.0.0.0",
        "::",
        "::2",
        "",
    ],
)
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_an_https_url_is_accepted_and_returned_split() -> None:
    parts = check_endpoint("https://as.example.com:8443/oauth/token?tenant=a")

    assert (parts.scheme, parts.hostname, parts.port) == ("https", "as.example.com", 8443)
    assert (parts.path, parts.query) == ("/oauth/token", "tenant=a")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8765/callback", "http://localhost/cb", "http://[::1]:9/cb"],
)
def test_plain_http_to_a_loopback_host_is_accepted(url: str) -> None:
    assert check_endpoint(url).scheme == "http"


def test_plain_http_to_another_host_is_refused_as_insecure() -> None:
    with pytest.raises(InsecureEndpointError, match=r"'as\.example\.com'"):
        check_endpoint("http://as.example.com/token")


def test_an_insecure_endpoint_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"RFC 9700 2\.6"):
        check_endpoint("http://10.0.0.1/token")


@pytest.mark.parametrize(
    "url",
    ["/token", "as.example.com/token", "ftp://as.example.com/", "https:///token", "mailto:a@b"],
)
def test_a_url_that_is_not_absolute_http_is_refused(url: str) -> None:
    with pytest.raises(UsageError, match="absolute https URL") as raised:
        check_endpoint(url)

    assert not isinstance(raised.value, InsecureEndpointError)


@pytest.mark.parametrize("url", ["https://as.example.com/a#frag", "https://as.example.com/a#"])
def test_a_fragment_is_refused_even_when_empty(url: str) -> None:
    with pytest.raises(UsageError, match="fragment"):
        check_endpoint(url)


@pytest.mark.parametrize(
    "url",
    ["https://[::1/token", "https://as.example.com:99999/", "https://as.example.com:port/"],
    ids=["unclosed-ipv6", "port-out-of-range", "port-not-a-number"],
)
def test_an_unparseable_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="not a valid URL"):
        check_endpoint(url)


def test_a_query_is_refused_when_not_allowed() -> None:
    with pytest.raises(UsageError, match="must not have a query"):
        check_endpoint("https://as.example.com/?a=b", allow_query=False)


@pytest.mark.parametrize(
    "url",
    ["https://user@as.example.com/", "https://user:pw@as.example.com/", "https://:pw@x.com/"],
)
def test_user_information_is_refused(url: str) -> None:
    with pytest.raises(UsageError, match="user information"):
        check_endpoint(url)


def test_the_error_names_the_endpoint_checked() -> None:
    with pytest.raises(UsageError, match=r"^the token endpoint must"):
        check_endpoint("ftp://as.example.com/", name="token endpoint")
