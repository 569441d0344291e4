"""The HTTP server: a thread per connection, HTTP/1.1 keep-alive, bodies read with a size
limit, and every request handed to the provider as a `Request`."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from ._http import MAX_BODY_BYTES, Request, Response


class ServerOptions(Protocol):
    """The options the server reads as it goes (`TestProvider` has them)."""

    verbose: bool
    request_timeout: float


class RequestHandler(BaseHTTPRequestHandler):
    """Reads one request at a time from a connection and writes the provider's answer."""

    # Headers and body go out in separate writes; with Nagle's algorithm a client's
    # delayed ACK would hold the body back ~40 ms on every reused connection.
    disable_nagle_algorithm = True

    protocol_version = "HTTP/1.1"
    server_version = "pkceflow-testing"
    sys_version = ""
    server: HttpServer

    def setup(self) -> None:
        """Apply the provider's per-connection timeout."""
        super().setup()
        self.connection.settimeout(self.server.options.request_timeout)

    def handle(self) -> None:
        """Serve the connection's requests until it closes."""
        try:
            super().handle()
        except OSError:  # the client went away or timed out: nothing to answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Log to stderr only when the provider is verbose."""
        if self.server.options.verbose:
            super().log_message(format, *args)

    def _serve(self) -> None:
        body = self._read_body()
        if isinstance(body, Response):
            self._send(body)
            return
        target = urlsplit(self.path)
        request = Request(self.command, target.path, target.query, self.headers, body)
        self._send(self.server.respond(request))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

    def do_HEAD(self) -> None:
        """HEAD is not served (405)."""
        self._send(Response(405, b"", [("Allow", "GET, POST")], close=True))

    def _read_body(self) -> bytes | Response:
        if self.headers.get("Transfer-Encoding") is not None:
            return Response(411, b"Content-Length required\n", close=True)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            if self.command == "POST":
                return Response(411, b"Content-Length required\n", close=True)
            return b""
        if not length_text.strip().isdigit():
            return Response(400, b"bad Content-Length\n", close=True)
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            return Response(413, b"request body too large\n", close=True)
        body = self.rfile.read(length)
        if len(body) < length:
            return Response(400, b"", disconnect=True)
        return body

    def _send(self, response: Response) -> None:
        if response.disconnect:
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if response.close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()


class HttpServer(ThreadingHTTPServer):
    """Answers with `respond` on `address`; `close_connections` ends the open keep-alive ones."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        respond: Callable[[Request], Response],
        options: ServerOptions,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.respond = respond
        self.options = options
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def server_bind(self) -> None:
        """Bind without a reverse DNS lookup of the address."""
        # HTTPServer.server_bind would do a reverse DNS lookup (socket.getfqdn).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in a thread of its own, remembered until it closes."""
        thread = threading.Thread(target=self._process, args=(request, client_address), daemon=True)
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - socketserver's own policy: report, keep serving
            self.handle_error(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Print a connection's traceback only when the provider is verbose."""
        if self.options.verbose:
            super().handle_error(request, client_address)

    def close_connections(self, timeout: float) -> None:
        """Shut the open connections down and wait up to `timeout` for their threads."""
        with self._connections_lock:
            connections = list(self._connections.items())
        for sock, _thread in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _sock, thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))
