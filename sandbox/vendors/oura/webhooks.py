"""Oura webhook subscriptions as the twin keeps them (spec paths ``/v2/webhook/subscription``, ``/{id}``,
``/renew/{id}``; schemas ``WebhookSubscriptionModel``, ``CreateWebhookSubscriptionRequest``,
``UpdateWebhookSubscriptionRequest``, ``HTTPValidationError``).

Every call carries the app's ``x-client-id`` and ``x-client-secret`` (else 401). An unknown id is 403 ("Webhook with
specified id does not exist", the spec's answer); a malformed body 422. A subscription lives ``LIFETIME`` (Oura
documents an ``expiration_time``, not its length: 30 days is the twin's choice) and a renewal moves it to
``LIFETIME`` from now. Oura verifies a new subscription's callback with ``GET ?verification_token=&challenge=``
and expects the challenge echoed: the twin does it through ``verifier`` (a test gives one that calls the app's
``notify`` function; None: no check) and refuses the subscription (400) when the echo does not come. Tests reach
the store with ``store_of(box)``.
"""

from __future__ import annotations

import hmac
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sandbox.context import DataContext
from sandbox.server import Reply, Request, Route, json_reply

if TYPE_CHECKING:
    from sandbox.core import Sandbox

LIFETIME = timedelta(days=30)
PATH = "/v2/webhook/subscription"
EVENT_TYPES = frozenset({"create", "update", "delete"})
DATA_TYPES = frozenset(
    {
        "tag",
        "enhanced_tag",
        "workout",
        "session",
        "sleep",
        "daily_sleep",
        "daily_readiness",
        "daily_activity",
        "daily_spo2",
        "sleep_time",
        "rest_mode_period",
        "ring_configuration",
        "daily_stress",
        "daily_cardiovascular_age",
        "daily_resilience",
        "vo2_max",
        "meal",
    }
)


@dataclass(frozen=True)
class Kept:
    id: str
    callback_url: str
    verification_token: str
    event_type: str
    data_type: str
    expiration_time: datetime

    def body(self) -> dict[str, object]:
        return {
            "id": self.id,
            "callback_url": self.callback_url,
            "event_type": self.event_type,
            "data_type": self.data_type,
            "expiration_time": self.expiration_time.isoformat(),
        }


class SubscriptionStore:
    """The app's subscriptions at the twin; ``now`` is the data clock."""

    def __init__(self, ctx: DataContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self.kept: dict[str, Kept] = {}
        self.renewals = 0
        self.verifier: Callable[[str, str, str], bool] | None = None
        """(callback URL, verification token, challenge) -> whether the callback echoed the challenge."""
        self.verified = 0

    def now(self) -> datetime:
        return self.ctx.state.now().astimezone(UTC)

    def clear(self) -> None:
        with self._lock:
            self.kept.clear()
            self.renewals = self.verified = 0
            self.verifier = None

    def expire_in(self, subscription_id: str, left: timedelta) -> None:
        """Test control: the subscription now expires ``left`` from now."""
        with self._lock:
            self.kept[subscription_id] = replace(self.kept[subscription_id], expiration_time=self.now() + left)

    # -- routes --------------------------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        client_id, secret = self.ctx.endpoints.clients["oura"]
        given_id, given_secret = request.header("x-client-id") or "", request.header("x-client-secret") or ""
        return hmac.compare_digest(given_id.encode(), client_id.encode()) & hmac.compare_digest(
            given_secret.encode(), secret.encode()
        )

    def serve(self, handler: str) -> Route:
        method, pattern = {
            "list": ("GET", PATH),
            "create": ("POST", PATH),
            "get": ("GET", PATH + "/{id}"),
            "update": ("PUT", PATH + "/{id}"),
            "delete": ("DELETE", PATH + "/{id}"),
            "renew": ("PUT", PATH + "/renew/{id}"),
        }[handler]

        def answer(request: Request) -> Reply:
            if not self._authorized(request):
                return json_reply(401, {"detail": "Invalid client credentials."})
            reply: Reply = getattr(self, f"_{handler}")(request)
            return reply

        return Route(method, pattern, f"webhook_{handler}", answer)

    def _list(self, request: Request) -> Reply:
        with self._lock:
            return json_reply(200, [kept.body() for kept in self.kept.values()])

    def _create(self, request: Request) -> Reply:
        body = _json(request)
        problems = _problems(body, required=("callback_url", "verification_token", "event_type", "data_type"))
        if problems:
            return json_reply(422, {"detail": problems})
        assert body is not None
        if self.verifier is not None:
            challenge = uuid.uuid4().hex
            if not self.verifier(str(body["callback_url"]), str(body["verification_token"]), challenge):
                return json_reply(400, {"detail": "The callback did not answer the verification challenge."})
            self.verified += 1
        kept = Kept(
            str(uuid.uuid4()),
            str(body["callback_url"]),
            str(body["verification_token"]),
            str(body["event_type"]),
            str(body["data_type"]),
            self.now() + LIFETIME,
        )
        with self._lock:
            self.kept[kept.id] = kept
        return json_reply(201, kept.body())

    def _get(self, request: Request) -> Reply:
        with self._lock:
            kept = self.kept.get(request.params["id"])
        return _missing() if kept is None else json_reply(200, kept.body())

    def _update(self, request: Request) -> Reply:
        body = _json(request)
        problems = _problems(body, required=("verification_token",))
        if problems:
            return json_reply(422, {"detail": problems})
        assert body is not None
        with self._lock:
            kept = self.kept.get(request.params["id"])
            if kept is None:
                return _missing()
            kept = replace(
                kept,
                verification_token=str(body["verification_token"]),
                callback_url=str(body.get("callback_url") or kept.callback_url),
                event_type=str(body.get("event_type") or kept.event_type),
                data_type=str(body.get("data_type") or kept.data_type),
            )
            self.kept[kept.id] = kept
        return json_reply(200, kept.body())

    def _delete(self, request: Request) -> Reply:
        with self._lock:
            if self.kept.pop(request.params["id"], None) is None:
                return _missing()
        return Reply(204)

    def _renew(self, request: Request) -> Reply:
        with self._lock:
            kept = self.kept.get(request.params["id"])
            if kept is None:
                return _missing()
            kept = replace(kept, expiration_time=self.now() + LIFETIME)
            self.kept[kept.id] = kept
            self.renewals += 1
        return json_reply(200, kept.body())


def _missing() -> Reply:
    return json_reply(403, {"detail": "Webhook with specified id does not exist."})


def _json(request: Request) -> dict[str, object] | None:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _problems(body: dict[str, object] | None, required: tuple[str, ...]) -> list[dict[str, object]]:
    if body is None:
        return [{"loc": ["body"], "msg": "a JSON object is required", "type": "type_error"}]
    problems: list[dict[str, object]] = [
        {"loc": ["body", key], "msg": "field required", "type": "value_error.missing"}
        for key in required
        if not isinstance(body.get(key), str) or not body.get(key)
    ]
    if body.get("event_type") is not None and body.get("event_type") not in EVENT_TYPES:
        problems.append({"loc": ["body", "event_type"], "msg": "not a WebhookOperation", "type": "enum"})
    if body.get("data_type") is not None and body.get("data_type") not in DATA_TYPES:
        problems.append({"loc": ["body", "data_type"], "msg": "not an ExtApiV2DataType", "type": "enum"})
    return problems


_STORES: dict[int, SubscriptionStore] = {}


def webhook_routes(ctx: DataContext) -> list[Route]:
    store = SubscriptionStore(ctx)
    _STORES[id(ctx.endpoints.store)] = store
    return [store.serve(name) for name in ("list", "create", "get", "update", "delete", "renew")]


def store_of(box: Sandbox) -> SubscriptionStore:
    """The twin's subscription store of this sandbox."""
    return _STORES[id(box.context.store)]
