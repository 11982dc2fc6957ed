"""What a vendor's notifications are, as the engine sees them: the ``notifications`` part of a vendor package
(``Notifications``, on ``shared.vendors.contract.Vendor``) and the records that pass between the intake, the
queue and the worker.

A lower layer: it imports nothing of the engine, so the engine (``intake``, ``worker``, ``bounds``) and the
vendor packages (``shared/vendors/<name>/notify.py``) both import it.

Intake side (``shared.notify.intake`` runs it on the webhook's deadline, so every part is quick and local):

- ``verify``: checks the vendor's proof on the raw body (never on re-serialised JSON), in constant time, and
  raises ``SignatureRejected`` with a reason safe to log; ``refused`` is the status a refusal gets. A package
  without ``verify`` is unsigned: it must give ``unsigned`` (``SourceLimits``), the generic per-source gate of
  ``shared.notify.bounds.SourceGate``, applied before anything is queued.
- ``handshake``: a verification request the vendor sends to prove the subscriber (``Handshake``: a method and a
  query parameter compared with a setting); ``challenge`` for one that needs more (a JSON body, an echoed
  challenge): it sees every request first (``ChallengeRequest``) and answers it (``ChallengeAnswer``) or not.
- ``parse``: the raw body -> ``Notification`` records, or ``MalformedNotification``, nothing else.
- ``dedup_key``: a key that is the same for every delivery of one notification (a delivery id), so that a
  vendor's retries are queued once; None when the vendor sends none.
- ``answers_count``: the vendor reads ``200 {"queued": n}``, not ``204``.

Worker side (``shared.notify.worker``): ``work(notification, context)`` says, as data, what one notification
asks for: ``Fetch`` (records the package fetches by id with the connection's ``VendorApi``, each landed under
its data type; a lookup first is the package's business), ``Pull`` (some days of some data types, run as one-day
pull jobs that do not move the watermark), ``Delete`` (a landed record, raw and curated, on whatever date it
landed) or ``Ignore``. A notification whose ``action`` is ``REVOKED`` asks to revoke the connection (it becomes
``reauth_required``; no data is deleted): the engine does that without asking ``work``. ``work_limits``
(``WorkLimits``) bound the work per connected user (``WorkContext.claim``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from functools import cached_property
from typing import Any, Protocol

from shared.pull.model import Fetched, VendorApi

MESSAGE_VERSION = 1
UPDATED, DELETED, REVOKED = "updated", "deleted", "revoked"
_REQUIRED = frozenset({"vendor", "vendor_user_id", "kind", "collection", "action"})


class MalformedNotification(ValueError):
    """The body is not a notification of this vendor's shape. The message is safe to log (no body text)."""


class SignatureRejected(Exception):
    """The request does not carry the vendor's proof. ``reason`` is safe to log (never a signature, the body
    or a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Notification:
    """One vendor notification: "something changed for this vendor user"; the worker fetches the data.

    ``kind`` is the vendor's own word for it; ``collection`` and ``action`` split it uniformly (``action`` is
    ``UPDATED``, ``DELETED`` or ``REVOKED``). The other fields are filled where a vendor sends them, as sent:
    ``record_id`` (the record the notification names), ``date`` (the day it names, YYYY-MM-DD), ``trace_id``
    (the delivery's id), ``subscription_id``, ``start_time`` / ``end_time`` (the span it covers).
    ``received_at`` (ISO-8601 UTC) is set by the intake. The queue message is ``to_json()``: its fields are the
    message format (``MESSAGE_VERSION``), so messages already queued keep working.
    """

    vendor: str
    vendor_user_id: str
    kind: str
    collection: str
    action: str
    record_id: str | None = None
    date: str | None = None
    trace_id: str | None = None
    subscription_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    received_at: str = ""

    def to_message(self) -> dict[str, Any]:
        return {"v": MESSAGE_VERSION, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_message(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_message(cls, body: str | bytes) -> Notification:
        """A queue message back into a Notification (for the worker); MalformedNotification if it is not one."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise MalformedNotification("notification message is not JSON") from None
        if not isinstance(data, dict) or data.get("v") != MESSAGE_VERSION:
            raise MalformedNotification(f"notification message must be a JSON object with v={MESSAGE_VERSION}")
        values: dict[str, str] = {}
        for item in fields(cls):
            value = data.get(item.name)
            if value is None and item.name not in _REQUIRED:
                continue
            if not isinstance(value, str) or (item.name in _REQUIRED and not value):
                raise MalformedNotification(f"notification message field {item.name} is missing or malformed")
            values[item.name] = value
        return cls(**values)


# -- intake side -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """What a verifier sees: the vendor's client secret, the headers (names lower-cased), the raw body, the
    time (epoch seconds) and the vendor's own settings (``VendorSettings.extra``: a public key, a subscriber
    secret)."""

    secret: str
    headers: Mapping[str, str]
    body: bytes
    now: float
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChallengeRequest:
    """A request to the notification endpoint as a ``challenge`` sees it: the method (upper case), the headers
    (names lower-cased), the query, the raw body, the vendor's client secret and its own settings."""

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    secret: str
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChallengeAnswer:
    """The answer to a vendor's subscriber verification: ``status`` and a JSON ``body`` (None: no body);
    ``reason`` is logged (never a code, a secret or the body)."""

    status: int
    body: dict[str, Any] | None = None
    reason: str = ""


@dataclass(frozen=True)
class Handshake:
    """A verification request the vendor sends to prove the subscriber: ``method`` with query parameter
    ``parameter``, answered 204 when it equals the package's setting ``setting`` (compared in constant time),
    else ``refused``; with no code configured, nothing matches."""

    method: str
    parameter: str
    setting: str
    refused: int = 404


@dataclass(frozen=True)
class SourceLimits:
    """For unsigned notifications: at most ``per_source`` queued per source (vendor user id) and ``per_process``
    in all, per ``seconds`` and per process; ``sources`` sources remembered (least recently seen forgotten)."""

    per_source: int
    per_process: int
    seconds: float
    sources: int = 10_000


@dataclass(frozen=True)
class WorkLimits:
    """Per connected user: at most ``fetches`` notification-triggered fetches per ``seconds``, and work on a key
    claimed in the last ``seconds`` is a duplicate; both decided before any vendor call."""

    fetches: int
    seconds: float


# -- worker side -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fetch:
    """Records fetched by the package itself: ``run(api)`` makes the vendor calls (a lookup first included) and
    returns ``(data type, record)`` pairs; the engine lands them once ``run`` returned, so a failed call lands
    nothing. ``NotFound`` (gone at the vendor) -> ignored; ``ValueError`` (an answer of unknown shape) -> ignored
    and logged; a transient failure propagates (the message is retried)."""

    run: Callable[[VendorApi], Iterable[tuple[str, Fetched]]]


@dataclass(frozen=True)
class Pull:
    """The pull of ``data_types`` for the local days ``first`` to ``last`` (jobs that do not move the watermark);
    ``note`` is added to the result's detail."""

    data_types: tuple[str, ...]
    first: date
    last: date
    note: str = ""


@dataclass(frozen=True)
class Delete:
    """Remove a landed record's raw and curated blobs, on whatever date it landed (ids compared
    case-insensitively). ``record_id`` None: the record was not found (``missing`` says why)."""

    data_type: str
    record_id: str | None
    missing: str = ""


@dataclass(frozen=True)
class Ignore:
    """Nothing to do; ``detail`` says why. ``bounded``: dropped by ``WorkLimits`` (counted apart)."""

    detail: str
    bounded: bool = False


Step = Fetch | Pull | Delete | Ignore


class LandedRecords(Protocol):
    """The raw records landed for the notification's connection, read-only."""

    def copies(self, data_type: str, record_id: str) -> Iterator[Any]:
        """The content of every landed copy of a record (on any date); unreadable ones are skipped."""
        ...

    def newest(self, data_type: str, limit: int) -> Iterator[tuple[str, Any]]:
        """``(record id, content)`` of at most ``limit`` landed records, the latest local dates first."""
        ...


class WorkContext(Protocol):
    """What ``work`` may use besides the notification."""

    @property
    def now(self) -> float:
        """Epoch seconds."""
        ...

    @property
    def landed(self) -> LandedRecords: ...

    def claim(self, keys: Iterable[str]) -> tuple[list[str], str]:
        """Claim work on ``keys`` under the package's ``WorkLimits``: (the keys to do now, why the others were
        dropped). Claimed keys are released when the step fails, so the retried message is not a duplicate."""
        ...


@dataclass(frozen=True)
class Notifications:
    """One vendor's notifications (see the module docstring)."""

    parse: Callable[[bytes, str], list[Notification]]
    work: Callable[[Notification, WorkContext], Step]
    verify: Callable[[SignedRequest], None] | None = None
    refused: int = 401
    handshake: Handshake | None = None
    dedup_key: Callable[[Notification], str | None] | None = None
    unsigned: SourceLimits | None = None
    work_limits: WorkLimits | None = None
    answers_count: bool = False
    # a subscriber verification that a query parameter cannot express (a POST with a JSON body, a challenge to
    # echo): called for every request before ``verify``; an answer is returned as it is, None goes on
    challenge: Callable[[ChallengeRequest], ChallengeAnswer | None] | None = None
    challenge_methods: frozenset[str] = frozenset()
    # a vendor whose notifications are subscribed per user, with the user's token, once a connection is final:
    # ``subscribe_user(api, callback_url)`` raises on failure (``shared.notify.user_subscriptions`` notes and retries)
    subscribe_user: Callable[[VendorApi, str], None] | None = None

    def __post_init__(self) -> None:
        if self.verify is None and self.unsigned is None:
            raise ValueError("unsigned notifications must be bounded: give unsigned=SourceLimits(...)")

    @cached_property
    def methods(self) -> frozenset[str]:
        """The HTTP methods the vendor uses (HEAD is answered for every vendor)."""
        handshake = {self.handshake.method.upper()} if self.handshake else set()
        return frozenset({"POST"} | handshake | {method.upper() for method in self.challenge_methods})


def id_of(record: Any, key: str) -> str:
    """``record[key]`` as text (a non-empty string or an integer); ValueError when the record has none."""
    value = record.get(key) if isinstance(record, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise ValueError(f"the vendor's record has no {key!r}")
    return str(value)
