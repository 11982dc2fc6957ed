"""OAuth 2.0 grant state of the sandbox: authorization codes, grants, access and single-use refresh tokens.

Vendor-neutral; the few rules a twin sets (access token lifetime, an identical-request replay window, a scope
without which no refresh token is issued, the vendor's user ids) come in as `GrantRules` per twin. A refresh
that names a scope follows RFC 6749 §6: it must be within the grant (else `invalid_scope`) and the new access
token carries exactly that scope; the new refresh token keeps the whole grant. Every public method takes the
one shared lock, so the store can be used from the server threads and from tests at the same time. Errors are raised as
`OAuthError`; rendering them into HTTP is the endpoints' job.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

GrantStatus = Literal["active", "revoked", "killed", "superseded"]
"""active; revoked by the user or via a revoke endpoint; killed after refresh-token reuse; superseded by a
newer grant of the same user (a vendor keeps one grant per user and app)."""

BearerProblem = Literal["missing", "invalid", "expired"]

CODE_TTL_SECONDS = 600.0

ErrorKind = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_token",
    "expired_token",
    "insufficient_scope",
    "rate_limited",
    "server_error",
    "unavailable",
]
"""Vendor-neutral error kinds; each twin renders them in its vendor's own body shape."""

Subject = Literal["refresh_token", "authorization_code", "access_token"]

_STATUS: dict[ErrorKind, int] = {
    "invalid_client": 401,
    "invalid_token": 401,
    "expired_token": 401,
    "insufficient_scope": 403,
    "rate_limited": 429,
    "server_error": 500,
    "unavailable": 503,
}


class OAuthError(Exception):
    """A refused OAuth request. `presented` is the offending token; it never appears in str(self)."""

    def __init__(
        self, kind: ErrorKind, reason: str, *, subject: Subject | None = None, presented: str | None = None
    ) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind: ErrorKind = kind
        self.reason = reason
        self.subject = subject
        self.presented = presented

    @property
    def status(self) -> int:
        """The HTTP status every imitated vendor uses for this kind of error."""
        return _STATUS.get(self.kind, 400)


@dataclass(frozen=True)
class TokenIssue:
    """One issued token pair, as a token endpoint reports it (rendered per twin by `Vendor.token_body`)."""

    vendor: str
    user: str
    vendor_user_id: str
    access_token: str
    refresh_token: str | None
    scope: tuple[str, ...]
    expires_in: int


class GrantRules(Protocol):
    """What the store needs to know of one vendor (a twin's `sandbox.vendors.Vendor` has it)."""

    @property
    def replay_window(self) -> float | None:
        """Seconds in which a spent refresh token, presented again unchanged, gets the same pair back."""

    @property
    def rotates_refresh_token(self) -> bool:
        """False: a refresh keeps the refresh token (Google); True: each refresh spends it for a new one."""

    def issues_refresh_token(self, scope: tuple[str, ...]) -> bool: ...

    def user_id(self, user: str) -> str: ...


@dataclass(eq=False)
class _Grant:
    vendor: str
    user: str
    scope: tuple[str, ...]
    status: GrantStatus = "active"


@dataclass(eq=False)
class _AccessToken:
    grant: _Grant
    expires_at: float
    scope: tuple[str, ...]  # the grant's, or what the refresh that issued it asked for (RFC 6749 §6)
    used: bool = False


@dataclass(eq=False)
class _RefreshToken:
    grant: _Grant
    used: bool = False
    spent_at: float | None = None
    successor: TokenIssue | None = None


@dataclass(eq=False)
class _AuthCode:
    vendor: str
    user: str
    scope: tuple[str, ...]
    redirect_uri: str
    code_challenge: str | None
    expires_at: float
    used: bool = False


@dataclass(frozen=True)
class RefreshOutcome:
    """A successful refresh: the pair to answer with, and whether it was an identical-request replay."""

    issue: TokenIssue
    replayed: bool


@dataclass(frozen=True)
class BearerCheck:
    """Result of checking an Authorization header: the user, or why not (and the token, for error texts that
    echo it)."""

    user: str | None
    problem: BearerProblem | None
    token: str | None


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of `verifier`: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class OAuthStore:
    """Codes, grants and tokens of all vendors, guarded by `lock`."""

    def __init__(
        self,
        rules: Mapping[str, GrantRules],
        access_ttl: Mapping[str, int],
        lock: threading.RLock,
        clock: Callable[[], float],
    ) -> None:
        self._rules = rules
        self._access_ttl = access_ttl
        self._lock = lock
        self._clock = clock
        self._codes: dict[str, _AuthCode] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._grants: dict[tuple[str, str], _Grant] = {}
        self._issued: set[str] = set()
        self._refreshes: Counter[tuple[str, str]] = Counter()
        self._replays: Counter[tuple[str, str]] = Counter()

    def reset(self) -> None:
        """Forget every code, grant, token and counter; issued secrets stay known (for log scans)."""
        with self._lock:
            for table in (self._codes, self._access, self._refresh, self._grants):
                table.clear()
            self._refreshes.clear()
            self._replays.clear()

    # -- authorization codes -------------------------------------------------------------------------------

    def issue_code(
        self, vendor: str, user: str, scope: tuple[str, ...], redirect_uri: str, code_challenge: str | None
    ) -> str:
        with self._lock:
            code = self._new_secret()
            expires_at = self._clock() + CODE_TTL_SECONDS
            self._codes[code] = _AuthCode(vendor, user, scope, redirect_uri, code_challenge, expires_at)
            return code

    def exchange_code(self, vendor: str, code: str, redirect_uri: str, code_verifier: str | None) -> TokenIssue:
        """authorization_code grant: a single-use 10-minute code becomes a new grant and its first pair."""
        with self._lock:
            record = self._codes.get(code)
            if record is None or record.vendor != vendor or record.used or self._clock() >= record.expires_at:
                raise _bad_code(code, "The authorization code is unknown, used or expired.")
            if redirect_uri != record.redirect_uri:
                raise _bad_code(code, "The redirect_uri does not match the authorization request.")
            self._check_pkce(record, code, code_verifier)
            record.used = True
            return self._issue(self._new_grant(vendor, record.user, record.scope))

    @staticmethod
    def _check_pkce(record: _AuthCode, code: str, verifier: str | None) -> None:
        if record.code_challenge is None:
            return
        if not verifier:
            raise OAuthError("invalid_request", "Missing parameters: code_verifier.")
        if not hmac.compare_digest(pkce_challenge(verifier), record.code_challenge):
            raise _bad_code(code, "The code_verifier does not match the code_challenge.")

    # -- refresh -------------------------------------------------------------------------------------------

    def refresh(self, vendor: str, refresh_token: str, scope: tuple[str, ...] = ()) -> RefreshOutcome:
        """refresh_token grant: rotate the pair (a vendor that does not rotate: a new access token only); a spent
        token kills the grant unless it is an identical replay within the vendor's window. ``scope``
        (RFC 6749 §6): empty means the whole grant; else a subset of it, which the new access token gets."""
        with self._lock:
            record = self._refresh.get(refresh_token)
            if record is None or record.grant.vendor != vendor:
                raise _bad_refresh(refresh_token, "The refresh token is unknown.")
            if record.grant.status != "active":
                raise _bad_refresh(refresh_token, f"The grant is {record.grant.status}.")
            outside = [name for name in scope if name not in record.grant.scope]
            if outside:
                raise OAuthError("invalid_scope", f"Scope not granted: {' '.join(outside)[:80]}.")
            if not self._rules[vendor].rotates_refresh_token:
                self._refreshes[(vendor, record.grant.user)] += 1
                return RefreshOutcome(self._issue(record.grant, scope, with_refresh=False), replayed=False)
            if record.successor is None:
                return RefreshOutcome(self._rotate(record, scope), replayed=False)
            if self._is_identical_replay(record):
                self._replays[(vendor, record.grant.user)] += 1
                return RefreshOutcome(record.successor, replayed=True)
            record.grant.status = "killed"
            raise _bad_refresh(refresh_token, "The refresh token was already used; the grant is revoked.")

    def _rotate(self, record: _RefreshToken, scope: tuple[str, ...] = ()) -> TokenIssue:
        record.used = True
        record.spent_at = self._clock()
        record.successor = self._issue(record.grant, scope)
        self._refreshes[(record.grant.vendor, record.grant.user)] += 1
        return record.successor

    def _is_identical_replay(self, record: _RefreshToken) -> bool:
        window = self._rules[record.grant.vendor].replay_window
        successor = record.successor
        if window is None or successor is None or record.spent_at is None:
            return False
        if self._clock() - record.spent_at > window:
            return False
        if self._access[successor.access_token].used:
            return False
        return successor.refresh_token is None or not self._refresh[successor.refresh_token].used

    # -- grants --------------------------------------------------------------------------------------------

    def seed_grant(self, vendor: str, user: str, scope: tuple[str, ...]) -> TokenIssue:
        """A grant as if the user had just consented, with its first pair."""
        with self._lock:
            return self._issue(self._new_grant(vendor, user, scope))

    def revoke_user(self, vendor: str, user: str) -> bool:
        with self._lock:
            grant = self._grants.get((vendor, user))
            if grant is None or grant.status != "active":
                return False
            grant.status = "revoked"
            return True

    def revoke_token(self, vendor: str, token: str) -> bool:
        """RFC 7009 style: revoking any access or refresh token of a grant revokes the whole grant."""
        with self._lock:
            record = self._access.get(token) or self._refresh.get(token)
            if record is None or record.grant.vendor != vendor:
                return False
            if record.grant.status == "active":
                record.grant.status = "revoked"
            return True

    def grant_status(self, vendor: str, user: str) -> GrantStatus | None:
        with self._lock:
            grant = self._grants.get((vendor, user))
            return None if grant is None else grant.status

    def _new_grant(self, vendor: str, user: str, scope: tuple[str, ...]) -> _Grant:
        previous = self._grants.get((vendor, user))
        if previous is not None and previous.status == "active":
            previous.status = "superseded"
        grant = _Grant(vendor, user, scope)
        self._grants[(vendor, user)] = grant
        return grant

    def _issue(self, grant: _Grant, scope: tuple[str, ...] = (), with_refresh: bool = True) -> TokenIssue:
        vendor = self._rules[grant.vendor]
        ttl = self._access_ttl[grant.vendor]
        access = self._new_secret()
        access_scope = tuple(dict.fromkeys(scope)) or grant.scope
        self._access[access] = _AccessToken(grant, self._clock() + ttl, access_scope)
        refresh: str | None = None
        if with_refresh and vendor.issues_refresh_token(grant.scope):
            refresh = self._new_secret()
            self._refresh[refresh] = _RefreshToken(grant)
        vendor_user_id = vendor.user_id(grant.user)
        return TokenIssue(grant.vendor, grant.user, vendor_user_id, access, refresh, access_scope, ttl)

    def _new_secret(self) -> str:
        while True:
            value = secrets.token_urlsafe(32)
            if value not in self._issued:
                self._issued.add(value)
                return value

    # -- access tokens -------------------------------------------------------------------------------------

    def check_bearer(self, vendor: str, authorization: str | None) -> BearerCheck:
        """Validate a Bearer header; a valid token is marked used (ends a replay window)."""
        token = bearer_token(authorization)
        if token is None:
            return BearerCheck(None, "missing", None)
        with self._lock:
            record = self._access.get(token)
            if record is None or record.grant.vendor != vendor or record.grant.status != "active":
                return BearerCheck(None, "invalid", token)
            if self._clock() >= record.expires_at:
                return BearerCheck(None, "expired", token)
            record.used = True
            return BearerCheck(record.grant.user, None, token)

    def granted_scope(self, vendor: str, authorization: str | None) -> tuple[str, ...]:
        """The scope of a Bearer access token (the data endpoints answer 403 outside it)."""
        token = bearer_token(authorization)
        with self._lock:
            record = self._access.get(token) if token is not None else None
            if record is None or record.grant.vendor != vendor:
                return ()
            return record.scope

    def expire_access_tokens(self, vendor: str, user: str | None) -> int:
        with self._lock:
            now = self._clock()
            expired = 0
            for record in self._access.values():
                if record.grant.vendor == vendor and user in (None, record.grant.user):
                    record.expires_at = min(record.expires_at, now)
                    expired += 1
            return expired

    # -- observation ---------------------------------------------------------------------------------------

    def refresh_count(self, vendor: str | None, user: str | None) -> int:
        with self._lock:
            return _count(self._refreshes, vendor, user)

    def replay_count(self, vendor: str | None, user: str | None) -> int:
        with self._lock:
            return _count(self._replays, vendor, user)

    def issued_secrets(self) -> set[str]:
        with self._lock:
            return set(self._issued)


def _count(counter: Counter[tuple[str, str]], vendor: str | None, user: str | None) -> int:
    return sum(n for (v, u), n in counter.items() if vendor in (None, v) and user in (None, u))


def _bad_code(code: str, reason: str) -> OAuthError:
    return OAuthError("invalid_grant", reason, subject="authorization_code", presented=code)


def _bad_refresh(token: str, reason: str) -> OAuthError:
    return OAuthError("invalid_grant", reason, subject="refresh_token", presented=token)
