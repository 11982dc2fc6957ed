"""Oura API v2: OAuth (``oauth``), data types (``data``), curated mapping (``curated``), notifications
(``notify``) and webhook subscriptions (``subscriptions``). Facts and sources: ``reference/vendors-next.md`` §2;
shapes: ``reference/specs/oura-openapi-v2.yml``.

An unapproved Oura app serves at most 10 users (spec ``info.description``, "Data Access"). Oura documents no
answer for the eleventh, so the app counts for itself: with ``OURA_MAX_USERS`` (default 10; 0 once approved) a
connect link for one user more is refused with a 403 that says why and what to do, before anyone consents.

Rate limits: two layers, per access token and per application, numbers unpublished. The per-token layer is the
budget per user (``OURA_RATE_LIMITS``, the community's 5000 per 5 minutes); the per-app layer is
``OURA_APP_RATE_LIMITS`` (empty: Oura publishes no number, nothing is paced against it). A 429 carries
``Retry-After`` and ``X-RateLimit-Tier``: one from the app layer pauses every Oura connection (the app's budget key)
for its Retry-After, one from the token layer only the connection that met it."""

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
    app_rate_limits="",  # the app layer: no published number (OURA_APP_RATE_LIMITS sets one Oura grants)
    data=OURA,
    curated=MAPPERS,
    notifications=NOTIFICATIONS,
    notified_types=NOTIFIED_TYPES,
    subscriptions=SUBSCRIPTIONS,
    user_cap_setting="MAX_USERS",
    settings=(
        VendorSetting(
            "MAX_USERS",
            "10",
            "Oura lets an app it has not approved serve at most 10 users: a connect link for one more is refused "
            "(403, saying so). 0 once Oura approved the app.",
        ),
        VendorSetting(
            "VERIFICATION_TOKEN",
            "",
            "The verification_token sent with each Oura webhook subscription; Oura's GET challenge to "
            "/api/notify/oura is answered only when it carries this token (empty: subscriptions cannot be created).",
            secret=True,
        ),
    ),
)
