"""Oura webhook subscriptions (spec paths ``/v2/webhook/subscription[/{id}]`` and ``/renew/{id}``; schemas
``WebhookSubscriptionModel``, ``CreateWebhookSubscriptionRequest``): authenticated with the app's ``x-client-id``
and ``x-client-secret`` headers, one subscription per (data type, event type), each with an ``expiration_time``
after which Oura stops delivering unless it is renewed with ``PUT /v2/webhook/subscription/renew/{id}``.

A create makes Oura call the callback with the verification challenge (``notify.challenge``), so the callback must
answer before subscriptions are created. Errors: 403 is Oura's answer for an unknown id, 422 a validation error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from shared.notify.subscriptions_model import (
    AppCredentials,
    AppHttp,
    Subscription,
    SubscriptionError,
    Subscriptions,
    Wanted,
)
from shared.vendors.oura.notify import VERIFICATION_TOKEN, WEBHOOK_TYPES

PATH = "/v2/webhook/subscription"
EVENTS = ("create", "update", "delete")
WANTED = tuple(Wanted(data_type, event) for data_type in WEBHOOK_TYPES for event in EVENTS)


def _headers(app: AppCredentials) -> dict[str, str]:
    return {"x-client-id": app.client_id, "x-client-secret": app.client_secret}


def _expiry(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _subscription(body: Any) -> Subscription:
    if not isinstance(body, Mapping) or not all(isinstance(body.get(k), str) for k in ("id", "data_type")):
        raise SubscriptionError("Oura answered a subscription of unknown shape", 200)
    return Subscription(
        id=str(body["id"]),
        data_type=str(body["data_type"]),
        event_type=str(body.get("event_type", "")),
        callback_url=str(body.get("callback_url", "")),
        expires_at=_expiry(body.get("expiration_time")),
    )


def _checked(status: int, body: Any, what: str, ok: tuple[int, ...] = (200, 201)) -> Any:
    if status not in ok:
        reason = "unknown subscription" if status == 403 else "refused"
        raise SubscriptionError(f"Oura {what}: {reason}", status)
    return body


def list_subscriptions(http: AppHttp, app: AppCredentials) -> list[Subscription]:
    status, body = http("GET", PATH, headers=_headers(app))
    found = _checked(status, body, "list subscriptions")
    if not isinstance(found, list):
        raise SubscriptionError("Oura listed subscriptions not as a list", status)
    return [_subscription(item) for item in found]


def create(http: AppHttp, app: AppCredentials, wanted: Wanted) -> Subscription:
    token = app.settings.get(VERIFICATION_TOKEN, "")
    if not token:
        raise SubscriptionError("OURA_VERIFICATION_TOKEN is not set: Oura's challenge could not be answered")
    body = {
        "callback_url": app.callback_url,
        "verification_token": token,
        "event_type": wanted.event_type,
        "data_type": wanted.data_type,
    }
    status, answer = http("POST", PATH, headers=_headers(app), body=body)
    return _subscription(_checked(status, answer, f"create {wanted}"))


def renew(http: AppHttp, app: AppCredentials, subscription: Subscription) -> Subscription:
    status, answer = http("PUT", f"{PATH}/renew/{quote(subscription.id, safe='')}", headers=_headers(app))
    return _subscription(_checked(status, answer, "renew subscription"))


def delete(http: AppHttp, app: AppCredentials, subscription: Subscription) -> None:
    status, body = http("DELETE", f"{PATH}/{quote(subscription.id, safe='')}", headers=_headers(app))
    _checked(status, body, "delete subscription", ok=(200, 204))


SUBSCRIPTIONS = Subscriptions(
    wanted=WANTED,
    list=list_subscriptions,
    create=create,
    renew=renew,
    delete=delete,
    renew_within=timedelta(days=3),
)
