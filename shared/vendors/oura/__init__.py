"""Oura API v2: OAuth (``oauth``), data types (``data``), curated mapping (``curated``), notifications
(``notify``) and webhook subscriptions (``subscriptions``). Facts and sources: ``reference/vendors-next.md`` §2;
shapes: ``reference/specs/oura-openapi-v2.yml``.

An unapproved Oura app serves at most 10 users (spec ``info.description``, "Data Access"); Oura documents no
answer for the 11th, so a refused consent or code exchange is shown as the vendor's refusal, and the README says
to ask Oura for approval before the tenth user."""

from shared.vendors.contract import Vendor, VendorSetting
from shared.vendors.oura.curated import MAPPERS
from shared.vendors.oura.data import OURA
from shared.vendors.oura.notify import NOTIFICATIONS, NOTIFIED_TYPES
from shared.vendors.oura.oauth import SPEC
from shared.vendors.oura.subscriptions import SUBSCRIPTIONS

VENDOR = Vendor(
    name="oura",
    title="Oura",
    oauth=SPEC,
    urls={
        "AUTH_URL": "https://cloud.ouraring.com/oauth/authorize",
        "TOKEN_URL": "https://api.ouraring.com/oauth/token",
        "REVOKE_URL": "https://api.ouraring.com/oauth/revoke",
        "API_BASE_URL": "https://api.ouraring.com",
    },
    # two layers, per token and per app, numbers unpublished; the community reports 5000 per 5 minutes per token.
    # A 429 (either layer) pauses the budget for its Retry-After.
    rate_limits="5000/300",
    data=OURA,
    curated=MAPPERS,
    notifications=NOTIFICATIONS,
    notified_types=NOTIFIED_TYPES,
    subscriptions=SUBSCRIPTIONS,
    settings=(
        VendorSetting(
            "VERIFICATION_TOKEN",
            "",
            "The verification_token sent with each Oura webhook subscription; Oura's GET challenge to "
            "/api/notify/oura is answered only when it carries this token (empty: subscriptions cannot be created).",
            secret=True,
        ),
    ),
)
