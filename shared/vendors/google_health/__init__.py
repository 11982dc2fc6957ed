"""Google Health API v4 (Fitbit's successor; Fitbit and Pixel Watch wearers): OAuth (``oauth``), data types
(``data``), curated mapping (``curated``), notifications (``notify``). Facts and sources: ``reference/vendors-next.md``
§1; paths, parameters, scopes and schemas: ``reference/specs/google-health-v4-discovery.json``.
It takes over the connections of the retired Fitbit Web API (``succeeds``): ``users/me/identity`` gives the Fitbit
user id of the same person (``legacyUserId``). The operator's steps: ``docs/google-health.md``."""

from shared.vendors.contract import Vendor, VendorSetting
from shared.vendors.google_health.curated import MAPPERS
from shared.vendors.google_health.data import GOOGLE_HEALTH
from shared.vendors.google_health.notify import KEY_SETTING, NOTIFICATIONS, NOTIFIED_TYPES, SECRET_SETTING
from shared.vendors.google_health.oauth import SPEC
from shared.vendors.google_health.subscriber import add_commands

VENDOR = Vendor(
    name="google_health",
    title="Google Health",
    oauth=SPEC,
    urls={
        "AUTH_URL": "https://accounts.google.com/o/oauth2/v2/auth",
        "TOKEN_URL": "https://oauth2.googleapis.com/token",
        "REVOKE_URL": "https://oauth2.googleapis.com/revoke",
        "API_BASE_URL": "https://health.googleapis.com",
    },
    rate_limits="300/60",  # per user
    data=GOOGLE_HEALTH,
    curated=MAPPERS,
    notifications=NOTIFICATIONS,
    notified_types=NOTIFIED_TYPES,
    succeeds="fitbit",
    commands=add_commands,  # python -m shared google-health subscriber create|list|delete
    user_cap_setting="MAX_USERS",
    settings=(
        VendorSetting(
            "MAX_USERS",
            "100",
            "Google lets an app whose restricted scopes it has not verified serve at most 100 users (test users): "
            "a connect link for one more is refused (403, saying so). 0 once Google verified the app.",
        ),
        VendorSetting(
            "SCOPES",
            "",
            "The googlehealth.*.readonly scopes the consent asks for, as enabled on the Google Cloud consent screen "
            "(full URLs or e.g. 'sleep.readonly', space-separated); empty: activity_and_fitness, "
            "health_metrics_and_measurements, sleep, profile and settings.",
        ),
        VendorSetting(
            SECRET_SETTING,
            "",
            "The Authorization header value configured on the Google Health subscriber (e.g. 'Bearer <random>'): "
            "Google's verification and every notification carry it.",
            secret=True,
        ),
        VendorSetting(
            KEY_SETTING,
            "",
            "Google Health API's public key (EC P-256, PEM) that signs every notification "
            "(GOOGLE-HEALTH-API-SIGNATURE).",
        ),
    ),
)
