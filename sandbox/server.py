"""HTTP plumbing of the sandbox: request/reply values, per-vendor route tables and the loopback server.

Nothing here knows about OAuth. A vendor's endpoints are `Route`s (method, path pattern relative to the
vendor prefix `/<name>`, an endpoint name that faults can target, and a handler). The server reads
every request body in full (keep-alive stays correct), hands a `Request` to one dispatch function and
writes the `Reply`, or closes the connection without any answer when dispatch returns None.
"""

from __future__ import annotations

import contextlib
import json
import re
import selectors
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Request:
    """One HTTP request as the handlers see it (query and form keep the first value of each key)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def json_reply(status: int, payload: object, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}, body)


def html_reply(status: int, text: str) -> Reply:
    body = f"<!doctype html><title>{status}</title><p>{text}</p>".encode()
    return Reply(status, {"Content-Type": "text/html;charset=UTF-8"}, body)


def redirect_reply(location: str) -> Reply:
    return Reply(302, {"Location": location, "Cache-Control": "no-store"})


Handler = Callable[[Request], Reply]
Dispatch = Callable[[Request], Reply | None]


@dataclass(frozen=True)
class Route:
    """`pattern` is relative to the vendor prefix; `{name}` matches a path segment (or part of one)."""

    method: str
    pattern: str
    endpoint: str
    handler: Handler


@dataclass(frozen=True)
class RouteMatch:
    vendor: str
    route: Route
    params: dict[str, str]


def _compile(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", pattern)
    regex = "".join(f"(?P<{part}>[^/]+?)" if index % 2 else re.escape(part) for index, part in enumerate(parts))
    return re.compile(regex + r"\Z")


class Router:
    """Route tables keyed by vendor; a vendor owns every path under `/{vendor}`."""

    def __init__(self) -> None:
        self._routes: dict[str, list[tuple[re.Pattern[str], Route]]] = {}

    def add(self, vendor: str, route: Route) -> None:
        self._routes.setdefault(vendor, []).append((_compile(route.pattern), route))

    def endpoints(self, vendor: str) -> set[str]:
        return {route.endpoint for _, route in self._routes.get(vendor, [])}

    def vendor_of(self, path: str) -> str | None:
        first = path.split("/", 2)[1] if path.startswith("/") else ""
        return first if first in self._routes else None

    def match(self, method: str, path: str) -> RouteMatch | Reply:
        vendor = self.vendor_of(path)
        if vendor is None:
            return json_reply(404, {"error": "not_found"})
        relative = path[len(vendor) + 1 :]
        allowed = []
        for regex, route in self._routes[vendor]:
            found = regex.match(relative)
            if found is None:
                continue
            if route.method == method:
                return RouteMatch(vendor, route, found.groupdict())
            allowed.append(route.method)
        if allowed:
            allow = ", ".join(sorted(set(allowed)))
            return json_reply(405, {"error": "method_not_allowed"}, {"Allow": allow})
        return json_reply(404, {"error": "not_found"})


class LoopbackServer(ThreadingHTTPServer):
    """Threaded HTTP server that stops at once (no poll interval), does not wait for handler threads on
    close, and can cut its open connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, _RequestHandler)

    def serve(self) -> None:
        """Accept connections until `stop_serving` (each one is handled on its own thread)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stop_requested.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self and not self._stop_requested.is_set():
                        self.handle_request()  # ready: accepts without waiting

    def stop_serving(self) -> None:
        self._stop_requested.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can be slow; a loopback needs none.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (it timed out, or the test cut it) is normal here: no traceback for it."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Shut down every open connection so that idle keep-alive handler threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"
    server_version = "wearsync-sandbox"
    sys_version = ""
    timeout = 60
    disable_nagle_algorithm = True  # headers and body are two writes: without it each answer waits ~40 ms for an ACK

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: request lines carry codes and tokens."""

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._write(json_reply(400, {"error": "bad_request"}))
            return
        request = self._request(body)
        try:
            reply = self.server.dispatch(request)
        except Exception as exc:  # a sandbox bug must not kill the connection silently
            where = f"{request.method} {request.path}"
            sys.stderr.write(f"sandbox: {type(exc).__name__} while handling {where}\n")
            reply = json_reply(500, {"error": "sandbox_internal_error"})
        if reply is None:
            self.close_connection = True
            return
        self._write(reply)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _request(self, body: bytes) -> Request:
        url = urlsplit(self.path)
        headers = dict(self.headers.items())
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        form = _first_values(body.decode("utf-8", "replace")) if content_type == FORM_CONTENT_TYPE else {}
        return Request(self.command, url.path, _first_values(url.query), headers, body, form)

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)


def _first_values(encoded: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        values.setdefault(key, value)
    return values
