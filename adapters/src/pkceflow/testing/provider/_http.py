"""Requests and responses as the endpoints see them, how their parameters are read, and
the answers every endpoint builds (JSON, HTML pages, redirects)."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MAX_BODY_BYTES = 64 * 1024
"""The largest request body read; a longer one is answered 413."""
NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
"""The headers of an answer that carries tokens or token errors (RFC 6749 5.1)."""
_MAX_FIELDS = 64
_HTML_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
)


class BadRequest(Exception):
    """A request that cannot be parsed; the endpoint answers ``invalid_request``."""


@dataclass
class Request:
    """One HTTP request, its body read."""

    method: str
    path: str
    query: str
    headers: Message
    body: bytes


@dataclass
class Response:
    """One HTTP answer; `disconnect` closes the connection without answering."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False
    disconnect: bool = False


def parse_params(raw: str) -> tuple[dict[str, str], set[str]]:
    """Parameters (empty values dropped, RFC 6749 3.1) and the names that repeat."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, errors="strict", max_num_fields=_MAX_FIELDS)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the parameters cannot be parsed ({type(exc).__name__})") from exc
    params: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if value == "":
            continue
        if name in params:
            repeated.add(name)
        params[name] = value
    return params, repeated


def lenient_params(raw: str) -> dict[str, str]:
    """The parameters as far as they can be read, for the request log."""
    try:
        return dict(parse_qsl(raw, keep_blank_values=True, errors="replace"))
    except ValueError:
        return {}


def is_form(headers: Message) -> bool:
    """Whether the body is ``application/x-www-form-urlencoded``."""
    value = headers.get("Content-Type", "")
    return value.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


def read_form(request: Request) -> tuple[dict[str, str], set[str]]:
    """The form body's parameters and the names that repeat (`BadRequest` if none)."""
    if not is_form(request.headers):
        raise BadRequest("the body must be application/x-www-form-urlencoded")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the body is not UTF-8") from exc
    return parse_params(text)


def accepts_json(headers: Message) -> bool:
    """Whether an Accept header names ``application/json``."""
    for item in headers.get_all("Accept", []):
        for media_range in item.split(","):
            if media_range.split(";")[0].strip().lower() == "application/json":
                return True
    return False


def with_query(uri: str, params: Iterable[tuple[str, str]]) -> str:
    """`uri` with `params` added to its query and no fragment."""
    parts = urlsplit(uri)
    extra = urlencode(list(params))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def json_response(status: int, payload: object, *headers: tuple[str, str]) -> Response:
    """`payload` as a JSON answer."""
    body = json.dumps(payload).encode("utf-8")
    return Response(status, body, [("Content-Type", "application/json"), *headers])


def invalid_request(description: str) -> Response:
    """A 400 ``invalid_request`` JSON answer."""
    return json_response(400, {"error": "invalid_request", "error_description": description})


def page(status: int, title: str, content: str, *headers: tuple[str, str]) -> Response:
    """An HTML page; `content` is HTML already escaped where needed."""
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{content}\n</body></html>\n"
    )
    return Response(status, document.encode("utf-8"), [*_HTML_HEADERS, *headers])


def error_page(description: str) -> Response:
    """The page of an authorization request that cannot be redirected back."""
    return page(400, "Invalid authorization request", f"<p>{html.escape(description)}</p>")


def redirect(location: str, status: int = 302, *headers: tuple[str, str]) -> Response:
    """A redirect to `location`."""
    return Response(status, b"", [("Location", location), ("Cache-Control", "no-store"), *headers])
