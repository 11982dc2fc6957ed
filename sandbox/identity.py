"""Loopback imitation of the App Service / Azure Functions managed-identity endpoint.

On App Service the platform sets ``IDENTITY_ENDPOINT`` (plain ``http://`` on localhost) and
``IDENTITY_HEADER``. azure-identity's ``ManagedIdentityCredential`` (inside ``DefaultAzureCredential``)
then delegates to ``msal.ManagedIdentityClient``, which sends::

    GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<resource>[&client_id=...]
    X-IDENTITY-HEADER: <IDENTITY_HEADER>
    Metadata: true

and reads ``access_token`` and ``expires_on`` (epoch seconds, a string) from the JSON answer. Any
answer without those two is turned into ``CredentialUnavailableError``. The resource is the scope
without ``/.default``.

Usage::

    ident = IdentityEndpoint().start()
    monkeypatch.setenv(...) for each item of ident.env()
    ...
    ident.valid(token)  # was this token issued here (and not expired)?
    ident.stop()
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

API_VERSION = "2019-08-01"
TOKEN_PATH = "/msi/token"
TOKEN_LIFETIME = 3600
TENANT_ID = "5f1c9d2e-7a3b-4c8d-9e0f-1a2b3c4d5e6f"  # sandbox Entra tenant, also in the vault challenge
POLL_INTERVAL = 0.05  # seconds; bounds how long stop() waits for the serve loop


@dataclass(frozen=True)
class TokenRequest:
    """One token request as received (the header secret is not recorded)."""

    resource: str
    client_id: str | None
    status: int


@dataclass(frozen=True)
class _Issued:
    resource: str
    client_id: str | None
    expires_on: int


@dataclass(frozen=True)
class _Reply:
    status: int
    body: dict[str, Any]


class IdentityEndpoint:
    """Managed-identity token endpoint on ``http://127.0.0.1:<port>/msi/token``. Thread-safe."""

    def __init__(self, host: str = "127.0.0.1", token_lifetime: int = TOKEN_LIFETIME) -> None:
        self.header = secrets.token_urlsafe(24)
        self.client_id = str(uuid.uuid4())  # of the (system-assigned) identity
        self.principal_id = str(uuid.uuid4())
        self.token_lifetime = token_lifetime
        self._requests: list[TokenRequest] = []
        self._host = host
        self._issued: dict[str, _Issued] = {}
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Self:
        """Bind an ephemeral loopback port and serve in a daemon thread."""
        server = _Server((self._host, 0), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(POLL_INTERVAL,), name="identity-endpoint", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what tests read -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("IdentityEndpoint is not started")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://{self._host}:{self.port}{TOKEN_PATH}"

    def env(self) -> dict[str, str]:
        """The app settings App Service would inject for a system-assigned identity."""
        return {"IDENTITY_ENDPOINT": self.endpoint, "IDENTITY_HEADER": self.header}

    @property
    def requests(self) -> list[TokenRequest]:
        """Every token request so far (resource, client_id, status)."""
        with self._lock:
            return list(self._requests)

    @property
    def issued_tokens(self) -> set[str]:
        with self._lock:
            return set(self._issued)

    def valid(self, token: str, resource: str | None = None) -> bool:
        """True if ``token`` was issued here, has not expired and (if given) is for ``resource``."""
        with self._lock:
            issued = self._issued.get(token)
        if issued is None or issued.expires_on <= time.time():
            return False
        return resource is None or issued.resource.rstrip("/") == resource.rstrip("/")

    # -- knobs -----------------------------------------------------------------------------------
    def fail_next(self, times: int = 1, status: int = 500) -> None:
        """Make the next ``times`` token requests fail with ``status``."""
        with self._lock:
            self._failures.extend([status] * times)

    def revoke_all(self) -> None:
        """Forget every issued token (callers holding one will be refused by resource servers)."""
        with self._lock:
            self._issued.clear()

    # -- request handling (called by the handler thread) -----------------------------------------
    def answer(self, path: str, header: str | None) -> _Reply:
        """Compute the reply to ``GET path`` carrying ``X-IDENTITY-HEADER: header``."""
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        resource, client_id = query.get("resource", ""), query.get("client_id")
        reply = self._decide(url.path, query, header)
        with self._lock:
            self._requests.append(TokenRequest(resource, client_id, reply.status))
        return reply

    def _decide(self, path: str, query: dict[str, str], header: str | None) -> _Reply:
        if path != TOKEN_PATH:
            return _error(404, "Not found")
        if header is None:
            return _error(400, "X-IDENTITY-HEADER is missing")
        if not secrets.compare_digest(header, self.header):
            return _error(401, "X-IDENTITY-HEADER is invalid")
        if query.get("api-version") != API_VERSION:
            return _error(400, f"api-version must be {API_VERSION}")
        if not query.get("resource"):
            return _error(400, "resource is required")
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return _error(failure, "Injected failure")
        return self._issue(query["resource"], query.get("client_id"))

    def _issue(self, resource: str, client_id: str | None) -> _Reply:
        now = int(time.time())
        expires_on = now + self.token_lifetime
        token = _jwt_shaped(
            {
                "aud": resource,
                "iss": f"https://sts.windows.net/{TENANT_ID}/",
                "iat": now,
                "nbf": now,
                "exp": expires_on,
                "appid": client_id or self.client_id,
                "oid": self.principal_id,
                "sub": self.principal_id,
                "tid": TENANT_ID,
                "uti": secrets.token_urlsafe(16),
            }
        )
        with self._lock:
            self._issued[token] = _Issued(resource, client_id, expires_on)
        body: dict[str, Any] = {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id or self.client_id,
        }
        return _Reply(200, body)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt_shaped(claims: dict[str, Any]) -> str:
    """A token shaped like Entra's (header.claims.signature) so tools that peek at claims work.

    The signature is random bytes: nothing verifies it; resource servers ask :meth:`IdentityEndpoint.valid`.
    """
    header = {"typ": "JWT", "alg": "RS256", "kid": "sandbox"}
    parts = (json.dumps(header).encode(), json.dumps(claims).encode(), secrets.token_bytes(64))
    return ".".join(_b64url(part) for part in parts)


def _error(status: int, message: str) -> _Reply:
    return _Reply(status, {"statusCode": status, "message": message})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], identity: IdentityEndpoint) -> None:
        self.identity = identity
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        _drain(self)
        reply = self.server.identity.answer(self.path, self.headers.get("X-IDENTITY-HEADER"))
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _drain(handler: BaseHTTPRequestHandler) -> None:
    """Read any request body so the next keep-alive request starts clean."""
    length = int(handler.headers.get("Content-Length") or 0)
    if length:
        handler.rfile.read(length)
