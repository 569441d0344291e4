"""The listening sockets of the loopback redirect listeners (RFC 8252 7.3, 8.3).

Both listeners, threaded and asyncio, bind here, when they are made: loopback hosts
only, and for ``localhost`` the same port on 127.0.0.1 and ::1, so that no other
local user can take the address a browser tries first. :class:`BoundListener` is
what they share: their arguments, checked and bound, and the limits they serve by.
"""

from __future__ import annotations

import errno
import logging
import socket

from pkceflow_core import UsageError, is_loopback_host

from ._callback_http import Routes

__all__ = ["PORT_ATTEMPTS", "BoundListener", "BoundRedirect", "bind_redirect"]

log = logging.getLogger("pkceflow.loopback")

#: How many free ports are tried for ``localhost`` before giving up: the port the OS
#: picks on 127.0.0.1 can already be taken on ::1 by another program.
PORT_ATTEMPTS = 16

# The errors that mean this machine has no IPv6 loopback at all (IPv6 disabled on
# ``lo``, or no IPv6 in the kernel): nothing can listen on ::1, nobody else either.
_NO_IPV6 = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in ("EADDRNOTAVAIL", "EAFNOSUPPORT", "EPROTONOSUPPORT", "EPFNOSUPPORT")
    )
    if code is not None
)


class BoundRedirect:
    """A redirect URI whose listening sockets are bound: what a listener serves."""

    def __init__(self, host: str, path: str, sockets: list[socket.socket]) -> None:
        #: One socket, or two for ``localhost`` (127.0.0.1 first, then ::1).
        self.sockets = sockets
        #: The port bound (the same on both addresses).
        self.port: int = sockets[0].getsockname()[1]
        #: The addresses listened on.
        self.addresses = [str(sock.getsockname()[0]) for sock in sockets]
        bracketed = f"[{host}]" if ":" in host else host
        #: ``http://host:port/path`` with the port actually bound.
        self.redirect_uri = f"http://{bracketed}:{self.port}{path}"


class BoundListener:
    """A loopback listener's arguments, checked, and its sockets, bound when it is made.

    ``host``, ``port``, ``path`` and ``bind_host`` go to :func:`bind_redirect` (a
    UsageError for a non-loopback host, a bad path, or a port that cannot be bound);
    ``request_timeout`` and ``max_request_bytes`` bound each request head,
    ``max_connections`` the connections open at once, and ``linger`` how long the
    result page is served after the wait. Each listener sets up the rest of its state
    in :meth:`_start`, which ``__init__`` calls last.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/callback",
        *,
        bind_host: str | None = None,
        request_timeout: float = 10.0,
        max_request_bytes: int = 16 * 1024,
        max_connections: int = 64,
        linger: float = 2.0,
    ) -> None:
        self._bound = bind_redirect(host, port, path, bind_host)
        self._socks = self._bound.sockets
        self._routes = Routes(path)
        self._request_timeout = request_timeout
        self._max_request = max_request_bytes
        self._max_connections = max_connections
        self._linger = linger
        self._start()

    def _start(self) -> None:
        """Set up what the listener needs besides its sockets and limits."""

    @property
    def redirect_uri(self) -> str:
        """``http://host:port/path`` with the port actually bound."""
        return self._bound.redirect_uri

    @property
    def port(self) -> int:
        """The port bound."""
        return self._bound.port

    @property
    def addresses(self) -> list[str]:
        """The addresses listened on: one, or 127.0.0.1 and ::1 for ``localhost``."""
        return list(self._bound.addresses)


def bind_redirect(host: str, port: int, path: str, bind_host: str | None) -> BoundRedirect:
    """Check a redirect URI's parts and bind its listening sockets.

    The sockets are one, or 127.0.0.1 and ::1 for ``localhost``, listening.
    Raises UsageError for a host that is not loopback, a path that is not a
    plain absolute path, or a port that cannot be bound. A ``bind_host`` that is
    not loopback is bound all the same, with a warning in the log.
    """
    host = host.strip("[]")
    if not is_loopback_host(host):
        raise UsageError(
            f"the redirect host must be a loopback address, not {host!r} (RFC 8252 7.3);"
            " to listen on another address, keep the host and set a bind address"
        )
    if not path.startswith("/") or "?" in path or "#" in path:
        raise UsageError("the redirect path must start with '/' and have no query")
    if bind_host is not None and not is_loopback_host(bind_host.strip("[]")):
        log.warning("listening for the redirect on %s, which is not a loopback address", bind_host)
    if bind_host is None and host == "localhost":
        return BoundRedirect(host, path, _listen_on_both_loopbacks(port))
    return BoundRedirect(host, path, [_listen((bind_host or host).strip("[]"), port)])


def _listen(address: str, port: int) -> socket.socket:
    """A listening TCP socket on ``address``; UsageError naming the port when it cannot be."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        return socket.create_server((address, port), family=family, backlog=128)
    except OSError as exc:
        raise _bind_error(exc, address, port) from None


def _bind_error(exc: OSError, address: str, port: int) -> UsageError:
    if exc.errno == errno.EADDRINUSE:
        return UsageError(
            f"the redirect port {port} is already in use on {address};"
            " choose another, or 0 for a free one"
        )
    return UsageError(f"cannot listen on {address} port {port}: {exc.strerror}")


def _listen_on_both_loopbacks(port: int) -> list[socket.socket]:
    """127.0.0.1 and ::1 on one port, for a redirect URI naming ``localhost``.

    With ``port`` 0 the OS picks it on 127.0.0.1. When another program holds that
    one on ::1, the pick is kept bound (so that the OS picks another) and another
    is tried, PORT_ATTEMPTS in all; the ones passed over are released at the end.
    """
    passed_over: list[socket.socket] = []
    try:
        for _ in range(PORT_ATTEMPTS if port == 0 else 1):
            try:
                first = _listen("127.0.0.1", port)
            except UsageError:
                if port == 0 and passed_over:
                    break  # no free port left to pick
                raise
            chosen = first.getsockname()[1]
            try:
                second = socket.create_server(("::1", chosen), family=socket.AF_INET6, backlog=128)
            except OSError as exc:
                if exc.errno in _NO_IPV6:
                    log.info(
                        "this machine has no IPv6 loopback (%s): the redirect to localhost"
                        " is awaited on 127.0.0.1 alone; no other program can listen on ::1",
                        exc.strerror,
                    )
                    return [first]
                if exc.errno == errno.EADDRINUSE and port == 0:
                    passed_over.append(first)
                    continue
                first.close()
                raise _bind_error(exc, "::1", chosen) from None
            return [first, second]
    finally:
        for sock in passed_over:
            sock.close()
    raise UsageError(
        f"found no port free on both 127.0.0.1 and ::1 in {len(passed_over)} tries;"
        " use the redirect host 127.0.0.1 or a given port"
    )
