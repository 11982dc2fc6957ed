"""HTTPS loopback fake of the Azure Key Vault *secrets* data plane, for the real ``SecretClient``.

Production code builds ``SecretClient(vault_url, DefaultAzureCredential())`` with default options. To
run it unchanged against this fake:

* The fake speaks HTTPS (the SDK refuses Bearer tokens over plain HTTP) with a throw-away certificate
  from :mod:`sandbox.tls`; ``REQUESTS_CA_BUNDLE=server.cafile`` makes ``requests`` trust it.
* A request without a valid Bearer token gets the usual 401 challenge, naming the resource
  ``https://0.0.1:<port>``. The SDK checks (``verify_challenge_resource=True``) that the request host
  ends with ``"." + <resource host>``, and ``"127.0.0.1:<port>"`` does end with ``".0.0.1:<port>"``.
* Tokens must come from :class:`sandbox.identity.IdentityEndpoint` for that resource; anything else
  is refused with 401, like a real vault refusing a foreign token.

Supported: set / get (latest or by version) / list (paged) / list versions (paged) / update properties /
delete (soft) / get, list, purge and recover deleted secrets, with the service's limits and error
bodies. Knobs (``latency``, ``write_limit``, ``empty_pages``, ``conflicts_after_recover``, ``inject``)
imitate throttling, outages, hangs and quirks. Any ``api-version`` is accepted.

The fake never logs or prints secret values; ``values()`` exposes them for tests that scan for leaks.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import math
import random
import re
import select
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self
from urllib.parse import parse_qs, urlsplit

from sandbox.identity import TENANT_ID, IdentityEndpoint
from sandbox.tls import ca_bundle_with, make_self_signed

NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_VALUE_BYTES = 25 * 1024
MAX_TAGS = 15
MAX_TAG_CHARS = 512
MAX_CONTENT_TYPE_CHARS = 255
MAX_PAGE_SIZE = 25
RETENTION_DAYS = 90
RECOVERY_LEVEL = "Recoverable+Purgeable"
POLL_INTERVAL = 0.05  # seconds; bounds how long stop() waits for the serve loop
DROPPED = 499  # logged status of a held request whose client went away (nothing was stored)

FaultKind = Literal["throttle", "unavailable", "hang", "forbidden", "unauthorized"]
OpName = Literal["set", "get", "list", "versions", "update", "delete", "get_deleted", "list_deleted"]
Op = Literal[OpName, "purge", "recover", "unknown"]
FaultOp = Literal[OpName, "purge", "recover", "any"]
JSON = dict[str, Any]
WriteLimit = tuple[int, float]  # (successful sets, per window seconds)
NOT_JSON = "The request body is not valid JSON."


class LoggedRequest(NamedTuple):
    """One request as seen by the fake (no query string, no body)."""

    method: str
    path: str
    status: int


@dataclass
class SecretVersion:
    """One stored version. ``value`` is hidden from ``repr`` so assertion messages never show it."""

    version: str
    value: str = field(repr=False)
    content_type: str | None
    tags: dict[str, str] | None
    enabled: bool
    not_before: int | None
    expires: int | None
    created: int
    updated: int


@dataclass
class _Secret:
    name: str
    versions: list[SecretVersion]
    deleted_on: int | None = None

    @property
    def latest(self) -> SecretVersion:
        return self.versions[-1]


@dataclass
class _Fault:
    kind: FaultKind
    op: FaultOp
    times: int
    name: str | None = None  # only requests for this secret (case-insensitive); None: any


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    parts: tuple[str, ...]
    query: dict[str, str]
    body: bytes
    authorization: str

    @property
    def op(self) -> Op:
        return _classify(self.method, self.parts)

    @property
    def name(self) -> str:
        """The secret the request is about ("" for lists)."""
        return self.parts[1].lower() if len(self.parts) > 1 else ""


@dataclass(frozen=True)
class _Reply:
    status: int
    body: JSON | None = None
    headers: tuple[tuple[str, str], ...] = ()


class _Hang:
    """Marker: hold the request until released or the client disconnects."""


HANG = _Hang()


# -- pure helpers ------------------------------------------------------------------------------------
def _classify(method: str, parts: tuple[str, ...]) -> Op:
    kind, rest = (parts[0], parts[1:]) if parts else ("", ())
    table: dict[tuple[str, str, int], Op] = {
        ("secrets", "GET", 0): "list",
        ("secrets", "PUT", 1): "set",
        ("secrets", "GET", 1): "get",
        ("secrets", "GET", 2): "versions" if rest[-1:] == ("versions",) else "get",
        ("secrets", "PATCH", 1): "update",
        ("secrets", "PATCH", 2): "update",
        ("secrets", "DELETE", 1): "delete",
        ("deletedsecrets", "GET", 0): "list_deleted",
        ("deletedsecrets", "GET", 1): "get_deleted",
        ("deletedsecrets", "DELETE", 1): "purge",
        ("deletedsecrets", "POST", 2): "recover" if rest[-1:] == ("recover",) else "unknown",
    }
    return table.get((kind, method, len(rest)), "unknown")


def _error(
    status: int, code: str, message: str, inner: str | None = None, headers: tuple[tuple[str, str], ...] = ()
) -> _Reply:
    err: JSON = {"code": code, "message": message}
    if inner:
        err["innererror"] = {"code": inner}
    return _Reply(status, {"error": err}, headers)


def _bad(message: str) -> _Reply:
    return _error(400, "BadParameter", message)


def _not_found(name: str, version: str | None = None) -> _Reply:
    ident = f"{name}/{version}" if version else name
    return _error(404, "SecretNotFound", f"A secret with (name/id) {ident} was not found in this key vault.")


def _encode_token(offset: int, empty_served: bool) -> str:
    raw = json.dumps({"o": offset, "e": empty_served}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str | None) -> tuple[int, bool] | None:
    if not token:
        return 0, False
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["o"]), bool(data["e"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def _page_size(query: dict[str, str]) -> int | None:
    raw = query.get("maxresults")
    if raw is None:
        return MAX_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        return None
    return size if 1 <= size <= MAX_PAGE_SIZE else None


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _check_properties(payload: JSON) -> _Reply | None:
    """Validate tags and contentType of a set/update body."""
    tags = payload.get("tags")
    if tags is not None:
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            return _bad("Tags must be an object of strings.")
        if len(tags) > MAX_TAGS:
            return _bad(f"A secret can have at most {MAX_TAGS} tags.")
        if any(len(k) > MAX_TAG_CHARS or len(v) > MAX_TAG_CHARS for k, v in tags.items()):
            return _bad(f"Tag names and values are limited to {MAX_TAG_CHARS} characters.")
    ctype = payload.get("contentType")
    if ctype is not None and (not isinstance(ctype, str) or len(ctype) > MAX_CONTENT_TYPE_CHARS):
        return _bad(f"contentType is limited to {MAX_CONTENT_TYPE_CHARS} characters.")
    return None


def _check_value(payload: JSON) -> _Reply | None:
    value = payload.get("value")
    if not isinstance(value, str):
        return _bad("The parameter 'value' is required and must be a string.")
    if len(value.encode()) > MAX_VALUE_BYTES:
        return _bad(f"Secret value exceeds the maximum size of {MAX_VALUE_BYTES} bytes.")
    return _check_properties(payload)


def _json(request: _Request) -> JSON | None:
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _attributes(version: SecretVersion) -> JSON:
    attributes: JSON = {
        "enabled": version.enabled,
        "created": version.created,
        "updated": version.updated,
        "recoveryLevel": RECOVERY_LEVEL,
        "recoverableDays": RETENTION_DAYS,
    }
    if version.not_before is not None:
        attributes["nbf"] = version.not_before
    if version.expires is not None:
        attributes["exp"] = version.expires
    return attributes


def _peer_closed(sock: socket.socket) -> bool:
    """True if the client closed its end (no request is outstanding, so readable means EOF/RST)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    if not readable:
        return False
    previous = sock.gettimeout()
    try:
        sock.settimeout(0.01)
        return not sock.recv(1)
    except (TimeoutError, ssl.SSLWantReadError):
        return False
    except OSError:
        return True
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(previous)


def _apply_update(version: SecretVersion, payload: JSON) -> None:
    if "contentType" in payload:
        version.content_type = payload["contentType"]
    if "tags" in payload:
        version.tags = dict(payload["tags"]) if payload["tags"] else None
    attributes = payload.get("attributes") or {}
    if "enabled" in attributes and attributes["enabled"] is not None:
        version.enabled = bool(attributes["enabled"])
    if "nbf" in attributes:
        version.not_before = _int_or_none(attributes["nbf"])
    if "exp" in attributes:
        version.expires = _int_or_none(attributes["exp"])
    version.updated = int(time.time())


# -- the store: secrets and the service's rules ------------------------------------------------------
class _Store:
    """Live and soft-deleted secrets plus the service's rules. Not locked itself: callers hold a lock."""

    def __init__(self, write_limit: WriteLimit | None, empty_pages: bool, recover_conflicts: int) -> None:
        self.base = ""  # "https://127.0.0.1:<port>", set when the server binds
        self.write_limit = write_limit
        self.empty_pages = empty_pages
        self.conflicts_after_recover = recover_conflicts
        self.secrets: dict[str, _Secret] = {}
        self.deleted: dict[str, _Secret] = {}
        self.all_values: list[str] = []
        self.set_count = 0
        self.writes: deque[float] = deque()
        self._recovering: dict[str, int] = {}

    def dispatch(self, request: _Request) -> _Reply:
        op = request.op
        if op in ("list", "list_deleted"):
            deleted = op == "list_deleted"
            source = self.deleted if deleted else self.secrets
            return self._page(request, [self._item(s, deleted=deleted) for _, s in sorted(source.items())])
        if op == "unknown":
            return _bad(f"Unsupported operation {request.method} {request.path}")
        name = request.parts[1]
        if not NAME_RE.match(name):
            return _bad(f"The request URI contains an invalid name: {name}")
        handlers: dict[Op, Callable[[_Request, str], _Reply]] = {
            "set": self._set,
            "get": self._get,
            "versions": self._versions,
            "update": self._update,
            "delete": self._delete,
            "get_deleted": self._get_deleted,
            "purge": self._purge,
            "recover": self._recover,
        }
        return handlers[op](request, name)

    # -- operations ------------------------------------------------------------------------------
    def _set(self, request: _Request, name: str) -> _Reply:
        payload = _json(request)
        if payload is None:
            return _bad(NOT_JSON)
        # Checked in this order; the write limit is last because passing it records a write.
        problem = _check_value(payload) or self._set_conflict(name) or self._check_write_limit()
        return problem or _Reply(200, self._store(name, payload))

    def _set_conflict(self, name: str) -> _Reply | None:
        key = name.lower()
        if key in self.deleted:
            message = (
                f"Secret {name} is currently in a deleted but recoverable state, "
                "and its name cannot be reused; in this state, the secret can only be recovered or purged."
            )
            return _error(409, "Conflict", message, "ObjectIsDeletedButRecoverable")
        if self._recovering.get(key, 0) > 0:
            self._recovering[key] -= 1
            message = f"Secret {name} is currently being recovered; retry later."
            return _error(409, "Conflict", message, "ObjectIsBeingRecovered")
        return None

    def _check_write_limit(self) -> _Reply | None:
        """Sliding-window cap on successful sets; throttled requests do not count."""
        if self.write_limit is None:
            return None
        limit, window = self.write_limit
        now = time.monotonic()
        while self.writes and self.writes[0] <= now - window:
            self.writes.popleft()
        if len(self.writes) < limit:
            self.writes.append(now)
            return None
        wait = max(1, math.ceil(self.writes[0] + window - now))
        message = (
            "Request was not processed because too many requests were received. "
            f"Reason: VaultRequestTypeLimitReached. Retry after {wait} seconds."
        )
        return _error(429, "Throttled", message, headers=(("Retry-After", str(wait)),))

    def _store(self, name: str, payload: JSON) -> JSON:
        attributes = payload.get("attributes") or {}
        now = int(time.time())
        version = SecretVersion(
            version=uuid.uuid4().hex,
            value=payload["value"],
            content_type=payload.get("contentType"),
            tags=dict(payload["tags"]) if payload.get("tags") else None,
            enabled=bool(attributes.get("enabled", True)),
            not_before=_int_or_none(attributes.get("nbf")),
            expires=_int_or_none(attributes.get("exp")),
            created=now,
            updated=now,
        )
        secret = self.secrets.setdefault(name.lower(), _Secret(name, []))
        secret.versions.append(version)
        self.all_values.append(version.value)
        self.set_count += 1
        return self._bundle(secret, version, with_value=True)

    def _find(self, request: _Request, name: str) -> tuple[_Secret, SecretVersion] | _Reply:
        version_id = request.parts[2] if len(request.parts) > 2 else None
        secret = self.secrets.get(name.lower())
        if secret is None:
            return _not_found(name)
        if not version_id:
            return secret, secret.latest
        found = next((v for v in secret.versions if v.version == version_id.lower()), None)
        return (secret, found) if found else _not_found(name, version_id)

    def _get(self, request: _Request, name: str) -> _Reply:
        found = self._find(request, name)
        if isinstance(found, _Reply):
            return found
        secret, version = found
        if not version.enabled:
            message = "Operation get is not allowed on a disabled secret."
            return _error(403, "Forbidden", message, "SecretDisabled")
        return _Reply(200, self._bundle(secret, version, with_value=True))

    def _versions(self, request: _Request, name: str) -> _Reply:
        secret = self.secrets.get(name.lower())
        if secret is None:
            return _not_found(name)
        return self._page(request, [self._bundle(secret, v, with_value=False) for v in secret.versions])

    def _update(self, request: _Request, name: str) -> _Reply:
        payload = _json(request)
        if payload is None:
            return _bad(NOT_JSON)
        invalid = _check_properties(payload)
        if invalid:
            return invalid
        found = self._find(request, name)
        if isinstance(found, _Reply):
            return found
        secret, version = found
        _apply_update(version, payload)
        return _Reply(200, self._bundle(secret, version, with_value=False))

    def _delete(self, request: _Request, name: str) -> _Reply:
        key = name.lower()
        secret = self.secrets.pop(key, None)
        if secret is None:
            return _not_found(name)
        secret.deleted_on = int(time.time())
        self.deleted[key] = secret
        self._recovering.pop(key, None)
        return _Reply(200, self._deleted_bundle(secret))

    def _get_deleted(self, request: _Request, name: str) -> _Reply:
        secret = self.deleted.get(name.lower())
        return _Reply(200, self._deleted_bundle(secret)) if secret else _not_found(name)

    def _purge(self, request: _Request, name: str) -> _Reply:
        return _Reply(204) if self.deleted.pop(name.lower(), None) else _not_found(name)

    def _recover(self, request: _Request, name: str) -> _Reply:
        key = name.lower()
        secret = self.deleted.pop(key, None)
        if secret is None:
            return _not_found(name)
        secret.deleted_on = None
        self.secrets[key] = secret
        if self.conflicts_after_recover > 0:
            self._recovering[key] = self.conflicts_after_recover
        return _Reply(200, self._bundle(secret, secret.latest, with_value=False))

    # -- JSON shapes -----------------------------------------------------------------------------
    def _id(self, collection: str, name: str, version: str | None = None) -> str:
        url = f"{self.base}/{collection}/{name}"
        return f"{url}/{version}" if version else url

    def _bundle(self, secret: _Secret, version: SecretVersion, *, with_value: bool) -> JSON:
        secret_id = self._id("secrets", secret.name, version.version)
        bundle: JSON = {"id": secret_id, "attributes": _attributes(version)}
        if version.content_type is not None:
            bundle["contentType"] = version.content_type
        if version.tags:
            bundle["tags"] = dict(version.tags)
        if with_value:
            bundle["value"] = version.value
        return bundle

    def _item(self, secret: _Secret, *, deleted: bool) -> JSON:
        latest = secret.latest
        item = self._deleted_bundle(secret) if deleted else self._bundle(secret, latest, with_value=False)
        item["id"] = self._id("secrets", secret.name)
        return item

    def _deleted_bundle(self, secret: _Secret) -> JSON:
        deleted_on = secret.deleted_on or int(time.time())
        bundle = self._bundle(secret, secret.latest, with_value=False)
        bundle["recoveryId"] = self._id("deletedsecrets", secret.name)
        bundle["deletedDate"] = deleted_on
        bundle["scheduledPurgeDate"] = deleted_on + RETENTION_DAYS * 86400
        return bundle

    def _page(self, request: _Request, items: list[JSON]) -> _Reply:
        """One page of ``items``; with ``empty_pages`` each real page is preceded by an empty one."""
        size, position = _page_size(request.query), _decode_token(request.query.get("$skiptoken"))
        if size is None:
            return _bad(f"maxresults must be between 1 and {MAX_PAGE_SIZE}.")
        if position is None:
            return _bad("Invalid $skiptoken.")
        offset, empty_served = position
        if self.empty_pages and not empty_served:
            return _Reply(200, {"value": [], "nextLink": self._next_link(request, offset, True, size)})
        end = offset + size
        next_link = self._next_link(request, end, False, size) if end < len(items) else None
        return _Reply(200, {"value": items[offset:end], "nextLink": next_link})

    def _next_link(self, request: _Request, offset: int, empty_served: bool, size: int) -> str:
        api = request.query.get("api-version", "7.6")
        token = _encode_token(offset, empty_served)
        return f"{self.base}{request.path}?api-version={api}&$skiptoken={token}&maxresults={size}"


# -- the server: TLS, auth, faults, knobs, introspection ---------------------------------------------
class KeyVaultServer:
    """In-memory Key Vault secrets endpoint on ``https://127.0.0.1:<port>/``. Thread-safe.

    Knobs (safe to change while serving): ``latency`` seconds added to every request;
    ``write_limit = (n, window_seconds)`` caps successful sets per sliding window (429 with Retry-After
    beyond; off by default); ``empty_pages`` precedes every list page with an empty page that still
    carries a ``nextLink``; ``conflicts_after_recover`` is how many sets of a just-recovered name answer
    409 ``ObjectIsBeingRecovered``; :meth:`inject` queues one-off faults.
    """

    def __init__(
        self,
        identity: IdentityEndpoint,
        certdir: Path | None = None,
        *,
        latency: float = 0.0,
        write_limit: WriteLimit | None = None,
        empty_pages: bool = False,
        conflicts_after_recover: int = 0,
    ) -> None:
        self.identity = identity
        self.latency = latency
        self.hung = threading.Event()
        self._store = _Store(write_limit, empty_pages, conflicts_after_recover)
        self._certdir = certdir
        self._own_certdir: Path | None = None
        self._cafile: Path | None = None
        self._lock = threading.RLock()
        self._released = threading.Condition(self._lock)
        self._release_gen = 0
        self._holding = 0
        self._stopping = False
        self._faults: list[_Fault] = []
        self._chaos: tuple[float, tuple[FaultKind, ...], FaultOp, random.Random] | None = None
        self._log: list[LoggedRequest] = []
        self._server: _TLSServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Self:
        """Create TLS material, bind an ephemeral loopback port and serve in daemon threads."""
        certdir = self._certdir
        if certdir is None:
            certdir = self._own_certdir = Path(tempfile.mkdtemp(prefix="fake-kv-"))
        certfile, keyfile = make_self_signed(certdir)
        self._cafile = ca_bundle_with(certfile, certdir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        self._stopping = False
        server = self._server = _TLSServer(("127.0.0.1", 0), self, context)
        self._store.base = f"https://127.0.0.1:{self.port}"
        serve = threading.Thread(target=server.serve_forever, args=(POLL_INTERVAL,), daemon=True)
        serve.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop held requests (storing nothing) and close client connections."""
        server, self._server = self._server, None
        with self._lock:
            self._stopping = True
            self._released.notify_all()
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._own_certdir is not None:
            shutil.rmtree(self._own_certdir, ignore_errors=True)
            self._own_certdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("KeyVaultServer is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The vault URL to give ``SecretClient`` (with a trailing slash, as the portal shows it)."""
        return f"https://127.0.0.1:{self.port}/"

    @property
    def cafile(self) -> Path:
        """CA bundle (public CAs + this server's certificate) for ``REQUESTS_CA_BUNDLE``."""
        if self._cafile is None:
            raise RuntimeError("KeyVaultServer is not started")
        return self._cafile

    @property
    def resource(self) -> str:
        """The challenge resource; tokens must be issued for it (see the module docstring)."""
        return f"https://0.0.1:{self.port}"

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value of a 401."""
        authority = f"https://login.microsoftonline.com/{TENANT_ID}"
        return f'Bearer authorization="{authority}", resource="{self.resource}"'

    # -- knobs -----------------------------------------------------------------------------------
    @property
    def write_limit(self) -> WriteLimit | None:
        return self._store.write_limit

    @write_limit.setter
    def write_limit(self, limit: WriteLimit | None) -> None:
        with self._lock:
            self._store.write_limit = limit
            self._store.writes.clear()

    @property
    def empty_pages(self) -> bool:
        return self._store.empty_pages

    @empty_pages.setter
    def empty_pages(self, on: bool) -> None:
        with self._lock:
            self._store.empty_pages = on

    @property
    def conflicts_after_recover(self) -> int:
        return self._store.conflicts_after_recover

    @conflicts_after_recover.setter
    def conflicts_after_recover(self, count: int) -> None:
        with self._lock:
            self._store.conflicts_after_recover = count

    def reset_knobs(self) -> None:
        """Back to defaults: no latency, no write limit, no quirks, no queued faults, nothing held."""
        with self._lock:
            self.latency = 0.0
            self._store.write_limit = None
            self._store.writes.clear()
            self._store.empty_pages = False
            self._store.conflicts_after_recover = 0
            self._faults.clear()
        self.release_hung()

    def inject(self, kind: FaultKind, times: int = 1, op: FaultOp = "set", name: str | None = None) -> None:
        """Queue ``times`` faults of ``kind`` for authenticated requests of ``op`` (and, with ``name``, only for
        that secret); consumed in order.

        ``throttle``: 429 + ``Retry-After: 1``; ``unavailable``: 503 + ``Retry-After: 1``; ``forbidden``: 403
        ``Forbidden``/``ForbiddenByRbac`` (a role assignment not yet propagated); ``unauthorized``: 401 with the
        usual challenge (the SDK re-authenticates once, then gives up); ``hang``: hold the request, storing
        nothing, until :meth:`release_hung` (then it proceeds normally) or until the client disconnects or the
        server stops (then it is dropped). ``hung`` is set while a request is held.
        """
        with self._lock:
            self._faults.append(_Fault(kind, op, times, name.lower() if name else None))

    def chaos(self, rate: float, kinds: Iterable[FaultKind], op: FaultOp = "set", seed: int | None = None) -> None:
        """From now on, each authenticated request of ``op`` fails with probability ``rate`` (0 turns it off)
        with one of ``kinds`` ("throttle", "unavailable") chosen at random; queued faults still come first."""
        choices = tuple(kinds)
        with self._lock:
            self._chaos = (rate, choices, op, random.Random(seed)) if rate > 0 and choices else None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._chaos = None

    def release_hung(self) -> None:
        """Let every currently held request proceed (it is then processed normally)."""
        with self._lock:
            self._release_gen += 1
            self._released.notify_all()

    # -- introspection ---------------------------------------------------------------------------
    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request so far as (method, path, status); a dropped held request has status 499."""
        with self._lock:
            return list(self._log)

    @property
    def set_count(self) -> int:
        """Number of sets that stored a version."""
        with self._lock:
            return self._store.set_count

    def values(self) -> list[str]:
        """Every value ever stored, oldest first (including deleted and purged secrets)."""
        with self._lock:
            return list(self._store.all_values)

    def current(self, name: str) -> str | None:
        """Latest value of a live (not deleted) secret, else None."""
        with self._lock:
            secret = self._store.secrets.get(name.lower())
            return secret.latest.value if secret else None

    def versions(self, name: str) -> list[SecretVersion]:
        """Copies of all versions of a live or soft-deleted secret, oldest first."""
        with self._lock:
            key = name.lower()
            secret = self._store.secrets.get(key) or self._store.deleted.get(key)
            return (
                [dataclasses.replace(v, tags=dict(v.tags) if v.tags else None) for v in secret.versions]
                if secret
                else []
            )

    def is_deleted(self, name: str) -> bool:
        with self._lock:
            return name.lower() in self._store.deleted

    # -- request pipeline (handler threads) ------------------------------------------------------
    def process(self, request: _Request, connection: socket.socket) -> _Reply | None:
        """Answer one request; None means the client went away while held (nothing stored)."""
        if self.latency > 0:
            time.sleep(self.latency)
        with self._lock:
            early = self._admit(request)
        if isinstance(early, _Reply):
            return self._logged(request, early)
        if early is HANG and not self._hold(connection):
            self._logged(request, _Reply(DROPPED))
            return None
        with self._lock:
            return self._logged(request, self._store.dispatch(request))

    def _logged(self, request: _Request, reply: _Reply) -> _Reply:
        with self._lock:
            self._log.append(LoggedRequest(request.method, request.path, reply.status))
        return reply

    def _admit(self, request: _Request) -> _Reply | _Hang | None:
        """Authentication first (so the SDK's challenge probe never eats a fault), then faults."""
        scheme, _, token = request.authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
        if not self.identity.valid(token.strip(), self.resource):
            return self._unauthorized("AKV10032: Invalid issuer or audience in the token.")
        return self._take_fault(request.op, request.name)

    def _unauthorized(self, message: str) -> _Reply:
        return _error(401, "Unauthorized", message, headers=(("WWW-Authenticate", self.challenge),))

    def _take_fault(self, op: Op, name: str = "") -> _Reply | _Hang | None:
        fault = next((f for f in self._faults if f.op in ("any", op) and f.name in (None, name)), None)
        kind: FaultKind
        if fault is not None:
            kind = fault.kind
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
        elif self._chaos is not None and self._chaos[2] in ("any", op) and self._chaos[3].random() < self._chaos[0]:
            kind = self._chaos[3].choice(self._chaos[1])
        else:
            return None
        if kind == "hang":
            return HANG
        if kind == "throttle":
            message = "Request was not processed because too many requests were received."
            return _error(429, "Throttled", message, headers=(("Retry-After", "1"),))
        if kind == "forbidden":
            message = (
                "Caller is not authorized to perform action on resource. If role assignments, deny assignments "
                "or role definitions were changed recently, please observe propagation time."
            )
            return _error(403, "Forbidden", message, "ForbiddenByRbac")
        if kind == "unauthorized":
            return self._unauthorized("AKV10022: Invalid audience. The token was refused.")
        message = "The service is temporarily unavailable."
        return _error(503, "ServiceUnavailable", message, headers=(("Retry-After", "1"),))

    def _released_since(self, generation: int) -> bool:
        return self._release_gen != generation or self._stopping

    def _hold(self, connection: socket.socket) -> bool:
        """Block until :meth:`release_hung` (True) or the client disconnects / the server stops (False)."""
        with self._lock:
            generation = self._release_gen
            self._holding += 1
            self.hung.set()
        try:
            while True:
                with self._lock:
                    if self._released.wait_for(lambda: self._released_since(generation), 0.05):
                        return not self._stopping
                if _peer_closed(connection):
                    return False
        finally:
            with self._lock:
                self._holding -= 1
                if self._holding == 0:
                    self.hung.clear()


# -- HTTP plumbing ---------------------------------------------------------------------------------
class _TLSServer(ThreadingHTTPServer):
    """Threading HTTPS server that does the TLS handshake in the worker thread, not the accept loop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], vault: KeyVaultServer, context: ssl.SSLContext) -> None:
        self.vault = vault
        self.context = context
        self._connections: set[ssl.SSLSocket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(10)
            tls = self.context.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except OSError:
            return
        with self._conn_lock:
            self._connections.add(tls)
        try:
            _Handler(tls, client_address, self)
        finally:
            with self._conn_lock:
                self._connections.discard(tls)
            tls.close()

    def close_connections(self) -> None:
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client resets and failed handshakes are normal for a test fake: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid delayed-ACK stalls
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: paths are harmless but tests should not be noisy."""

    def _serve(self) -> None:
        request = self._read_request()
        reply = self.server.vault.process(request, self.connection)
        if reply is None:
            self.close_connection = True
            return
        self._write(reply)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _serve

    def _read_request(self) -> _Request:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""  # always drain: keep-alive safety
        url = urlsplit(self.path)
        return _Request(
            method=self.command,
            path=url.path,
            parts=tuple(p for p in url.path.split("/") if p),
            query={k: v[0] for k, v in parse_qs(url.query).items()},
            body=body,
            authorization=self.headers.get("Authorization", ""),
        )

    def _write(self, reply: _Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for key, value in _headers(reply, data):
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)


def _headers(reply: _Reply, data: bytes) -> Iterable[tuple[str, str]]:
    yield from reply.headers
    if reply.body is not None:
        yield "Content-Type", "application/json; charset=utf-8"
    yield "Content-Length", str(len(data))
    yield "x-ms-keyvault-service-version", "1.9.0.0"
    yield "x-ms-request-id", str(uuid.uuid4())
