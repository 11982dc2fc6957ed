"""Oura v2 webhooks (``reference/vendors-next.md`` §2; the spec's "Working with Webhooks" sample): the GET
verification challenge, the signature, the body, and what each event asks for.

- Challenge: when a subscription is created, Oura calls the callback with ``GET ?verification_token=&challenge=``;
  the answer is ``200 {"challenge": <challenge>}`` when the token equals ``OURA_VERIFICATION_TOKEN`` (compared in
  constant time), else 401 (the spec's sample). With no token configured every challenge is refused.
- Proof: ``x-oura-signature`` = uppercase hex HMAC-SHA256(key = client secret, ``x-oura-timestamp`` + raw body)
  (open-wearables' code; the spec's sample re-serialises the parsed JSON, which only equals the raw body when Oura
  sends compact JSON in the same key order: the raw body is what is signed). Compared in constant time, and a
  lower-case hex signature is refused like any other mismatch. The docs give no replay window, so no timestamp
  tolerance is enforced (a replay only makes the worker read the named document again); the timestamp must
  still be present, short and signed.
- Body: ``{"event_type": "create"|"update"|"delete", "data_type": "<ExtApiV2DataType>", "object_id", "event_time",
  "user_id"}``; ``user_id`` is the ``id`` of the user's personal info. No delivery id: the dedup key is the event
  itself (type, action, object, time).
- Work: create/update fetch ``/v2/usercollection/<type>/{object_id}`` and land it on its ``day``; delete removes the
  landed document. Types this app does not pull (tags, rest mode, ring configuration, meals...) are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from functools import partial
from urllib.parse import quote

from shared.notify.model import (
    DELETED,
    UPDATED,
    ChallengeAnswer,
    ChallengeRequest,
    Delete,
    Fetch,
    Ignore,
    MalformedNotification,
    Notification,
    Notifications,
    SignatureRejected,
    SignedRequest,
    Step,
    WorkContext,
    id_of,
)
from shared.notify.parse import WORD, json_body, text, vendor_id
from shared.notify.verify import header, same
from shared.pull.model import Fetched, VendorApi, date_field
from shared.vendors.oura.data import DOCUMENTS

SIGNATURE, TIMESTAMP = "x-oura-signature", "x-oura-timestamp"
MAX_TIMESTAMP_CHARS = 40
VERIFICATION_TOKEN = "VERIFICATION_TOKEN"  # noqa: S105 (a setting's name) the package's setting OURA_VERIFICATION_TOKEN
ACTIONS: Mapping[str, str] = {"create": UPDATED, "update": UPDATED, "delete": DELETED}
WEBHOOK_TYPES: Mapping[str, str] = {
    "daily_activity": "daily_activity",
    "daily_sleep": "daily_sleep",
    "sleep": "sleep",
    "daily_readiness": "daily_readiness",
    "daily_spo2": "daily_spo2",
    "daily_stress": "daily_stress",
    "daily_resilience": "daily_resilience",
    "workout": "workout",
    "session": "session",
    "vo2_max": "vo2_max",
}
"""Webhook ``data_type`` -> the data type it lands as (the webhook says ``vo2_max``, the route ``vO2_max``)."""
NOTIFIED_TYPES = frozenset(WEBHOOK_TYPES.values())


# -- challenge ---------------------------------------------------------------------------------------------------


def challenge(request: ChallengeRequest) -> ChallengeAnswer | None:
    if request.method != "GET":
        return None
    expected = request.settings.get(VERIFICATION_TOKEN, "")
    presented = request.query.get("verification_token")
    echo = request.query.get("challenge")
    if not echo or len(echo) > 512:
        return ChallengeAnswer(400, {"detail": "challenge missing"}, "Oura verification without a challenge")
    if not expected:
        return ChallengeAnswer(401, None, "Oura verification refused: OURA_VERIFICATION_TOKEN is not set")
    if presented is None or not same(expected, presented):
        return ChallengeAnswer(401, None, "Oura verification refused: wrong verification_token")
    return ChallengeAnswer(200, {"challenge": echo}, "Oura verification answered")


# -- proof -------------------------------------------------------------------------------------------------------


def signature(client_secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode("utf-8") + body
    return hmac.new(client_secret.encode("utf-8"), message, hashlib.sha256).hexdigest().upper()


def verify(request: SignedRequest) -> None:
    mac = header(request.headers.get(SIGNATURE), SIGNATURE)
    timestamp = header(request.headers.get(TIMESTAMP), TIMESTAMP)
    if len(timestamp) > MAX_TIMESTAMP_CHARS:
        raise SignatureRejected(f"{TIMESTAMP} too long")
    if not same(signature(request.secret, timestamp, request.body), mac):
        raise SignatureRejected(f"{SIGNATURE} does not match")


# -- body --------------------------------------------------------------------------------------------------------


def parse(body: bytes, received_at: str = "") -> list[Notification]:
    data = json_body(body)
    if not isinstance(data, dict):
        raise MalformedNotification("Oura notification must be a JSON object")
    event = text(data.get("event_type"), "event_type", WORD)
    if event not in ACTIONS:
        raise MalformedNotification("event_type is not create, update or delete")
    data_type = text(data.get("data_type"), "data_type", WORD)
    user = data.get("user_id")
    if isinstance(user, int) and not isinstance(user, bool):
        user = str(user)
    event_time = data.get("event_time")
    return [
        Notification(
            vendor="oura",
            vendor_user_id=vendor_id(user, "user_id"),
            kind=f"{data_type}.{event}",
            collection=data_type,
            action=ACTIONS[event],
            record_id=vendor_id(data.get("object_id"), "object_id"),
            start_time=vendor_id(event_time, "event_time") if event_time is not None else None,
            received_at=received_at,
        )
    ]


def dedup_key(n: Notification) -> str | None:
    return f"{n.kind}:{n.record_id}:{n.start_time or ''}"


# -- work --------------------------------------------------------------------------------------------------------


def work(n: Notification, context: WorkContext) -> Step:
    data_type = WEBHOOK_TYPES.get(n.collection)
    if data_type is None or n.action not in (UPDATED, DELETED):
        return Ignore(f"Oura {n.collection} events are not pulled by this app")
    if not n.record_id:
        raise MalformedNotification("Oura notification message has no object id")
    if n.action == DELETED:
        return Delete(data_type, n.record_id)
    return Fetch(partial(_document, data_type, n.record_id))


def _document(data_type: str, object_id: str, api: VendorApi) -> list[tuple[str, Fetched]]:
    path = f"{DOCUMENTS[data_type]}/{quote(object_id, safe='')}"
    document = api.get(path)
    if not isinstance(document, dict):
        raise ValueError(f"Oura {data_type} is not a JSON object")
    day = date_field("Oura", data_type, document, "day")
    return [(data_type, Fetched(id_of(document, "id"), day, document, path))]


NOTIFICATIONS = Notifications(
    parse=parse,
    work=work,
    verify=verify,
    refused=401,
    dedup_key=dedup_key,
    challenge=challenge,
    challenge_methods=frozenset({"GET"}),
)
