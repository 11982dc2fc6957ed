"""One typed settings object, read from app settings (environment variables) and validated at start.

Every setting the app reads is declared in ``SETTINGS`` below; ``local.settings.sample.json`` and the
infrastructure must provide each of them (a test checks this). Errors name the setting at fault.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from shared.vendors.contract import Vendor
from shared.vendors.registry import names, vendors

VENDOR_NAMES = names()


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    meaning: str


@dataclass(frozen=True)
class RateLimit:
    requests: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds}"


def _vendor_settings(vendor: Vendor) -> list[Setting]:
    """The settings every vendor package gets, named from the package: client, limits, URLs, and its own."""
    prefix, title = vendor.prefix, vendor.title
    items = [
        Setting(f"{prefix}_CLIENT_ID", "", f"OAuth client id of the {title} app (empty: {title} disabled)."),
        Setting(f"{prefix}_CLIENT_SECRET", "", f"OAuth client secret of the {title} app."),
        Setting(
            f"{prefix}_RATE_LIMITS",
            vendor.rate_limits,
            f"{title} data-API limits as requests/seconds, comma-separated ('none': no limit); raise them only if "
            f"{title} granted the app more.",
        ),
    ]
    if vendor.app_rate_limits is not None:
        items.append(
            Setting(
                f"{prefix}_APP_RATE_LIMITS",
                vendor.app_rate_limits,
                f"{title}'s app-wide limit layer (all users together) as requests/seconds, comma-separated (empty: "
                f"{title} publishes no number; a 429 from that layer still pauses every {title} connection).",
            )
        )
    items += [
        Setting(f"{prefix}_{key}", url, f"{title} {key.lower().replace('_', ' ')}.") for key, url in vendor.urls.items()
    ]
    items += [Setting(f"{prefix}_{extra.key}", extra.default, extra.meaning) for extra in vendor.settings]
    return items


VENDOR_URL_DEFAULTS: dict[str, Mapping[str, str]] = {name: vendor.urls for name, vendor in vendors().items()}

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "AzureWebJobsStorage",
        None,
        "Storage account of the app: a connection string, or "
        "'UseDevelopmentStorage=true' for Azurite. In Azure, identity-based AzureWebJobsStorage__* instead.",
    ),
    Setting("KEY_VAULT_URL", "", "Key Vault holding the token pairs (https://<name>.vault.azure.net/)."),
    Setting(
        "LOCAL_SECRETS_DIR",
        "",
        "Development only: a folder for the local secret store, used when KEY_VAULT_URL is empty.",
    ),
    Setting("AZURE_CLIENT_ID", "", "Client id of the user-assigned managed identity (Azure only)."),
    Setting("ROTATE_SCHEDULE", "0 0 */6 * * *", "NCRONTAB schedule of the token rotation sweep (UTC)."),
    Setting("ROTATE_MIN_AGE_MINUTES", "300", "A pair younger than this is not rotated by the sweep."),
    Setting("REFRESH_MARGIN_SECONDS", "300", "Access tokens expiring within this margin are refreshed on demand."),
    Setting("LOCK_LEASE_SECONDS", "30", "Duration of the per-connection blob lease (15-60); renewed while held."),
    Setting("LOCK_WAIT_SECONDS", "60", "How long a worker waits for another worker's refresh to finish."),
    Setting("DEGRADE_AFTER_FAILURES", "3", "Consecutive transient refresh failures before a connection is degraded."),
    Setting("VAULT_WRITE_RETRY_SECONDS", "300", "How long a new token pair's vault write is retried."),
    Setting("HTTP_TIMEOUT_SECONDS", "20", "Timeout of each call to a vendor."),
    Setting(
        "PUBLIC_BASE_URL",
        "http://localhost:7071",
        "The app's public address; OAuth redirect URIs are "
        "{PUBLIC_BASE_URL}/api/callback/{vendor} and must be registered with each vendor.",
    ),
    Setting(
        "POST_CONNECT_REDIRECT_URL",
        "",
        "The product's page the callback sends the user to after consent, with ?connect_code=&vendor= when "
        "CONNECT_CONFIRMATION is on (empty: a small page shows the code, or says the account is connected).",
    ),
    Setting(
        "CONNECT_CONFIRMATION",
        "true",
        "A new connection becomes final only once the product confirms its one-time code with the user id of its "
        "own session (POST /api/connections/confirm); 'false' binds the account to the link's user id at once.",
    ),
    Setting(
        "CONNECT_CONFIRM_SECONDS",
        "600",
        "How long a pending connection waits for the product's confirmation before it is discarded and revoked.",
    ),
    Setting(
        "ALLOW_ACCOUNT_MOVE",
        "false",
        "'true' lets a vendor account connected to one user be connected to another (the first connection ends); "
        "'false' refuses it with a clear page.",
    ),
    Setting("ENABLED_VENDORS", "", "Comma-separated vendors to serve; empty: every vendor with a client id."),
    Setting("PULL_SCHEDULE", "0 5 * * * *", "NCRONTAB schedule of the incremental data pull (UTC; default hourly)."),
    Setting("PULL_INITIAL_DAYS", "30", "How many days back the first pull of a new connection goes (older: backfill)."),
    Setting(
        "PULL_LOOKBACK_DAYS",
        "3",
        "Each pull re-reads this many days before its watermark, for records the vendor scored or revised late.",
    ),
    Setting(
        "PULL_RUN_SECONDS",
        "420",
        "How long one queue message may pull before it hands the rest of its window to a new message.",
    ),
    Setting(
        "PULL_FRESHNESS_HOURS",
        "24",
        "A data type no notification covers is pulled again once its last pull is this old.",
    ),
    Setting(
        "PULL_SNAPSHOT_FRESHNESS_HOURS",
        "168",
        "A snapshot type (a profile, a body measurement) is pulled again once its last pull is this old (>= 24).",
    ),
    Setting(
        "PULL_NOTIFIED_FRESHNESS_HOURS",
        "168",
        "A type notifications cover, of a connection whose notifications flow, is reconciled once this old.",
    ),
    Setting(
        "PULL_BUDGET_RESERVE_PERCENT",
        "20",
        "Share of a vendor's largest rate-limit window kept for notifications: reconciliation waits for it.",
    ),
    Setting(
        "PULL_SPREAD_MINUTES",
        "50",
        "The hourly pull's messages become visible spread over this many minutes after the timer (0: at once).",
    ),
    Setting(
        "SWEEP_SHARDS",
        "64",
        "Shards per vendor of the rotation and pull sweeps: one queue message each, swept by its own worker; cut "
        "at the registry keys' quantiles, at most one per connection.",
    ),
    Setting(
        "RATE_LIMIT_MARGIN_SECONDS",
        "2",
        "Added to every rate-limit window, so requests in flight and clock skew never push a window over.",
    ),
    Setting(
        "RECONCILE_SCHEDULE",
        "0 30 */2 * * *",
        "NCRONTAB schedule of the reconciliation: connections whose notifications went quiet get a pull (UTC).",
    ),
    Setting(
        "SUBSCRIPTIONS_SCHEDULE",
        "0 45 */12 * * *",
        "NCRONTAB schedule of the upkeep of the vendors' webhook subscriptions: missing ones created, those near their "
        "expiry renewed (UTC; every 12 hours).",
    ),
    Setting(
        "CLEANUP_SCHEDULE",
        "0 15 * * * *",
        "NCRONTAB schedule of the clean-up of expired OAuth state and old notification dedup rows (UTC; hourly).",
    ),
    *(s for vendor in vendors().values() for s in _vendor_settings(vendor)),
)

SETTING_NAMES = frozenset(s.name for s in SETTINGS)
_DEFAULTS = {s.name: s.default for s in SETTINGS}


@dataclass(frozen=True)
class VendorSettings:
    name: str
    client_id: str
    client_secret: str = field(repr=False)
    urls: Mapping[str, str]
    rate_limits: tuple[RateLimit, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)  # the package's own settings, by key
    # a second, app-wide layer for a vendor that has two (None: one layer, ``rate_limits``)
    app_rate_limits: tuple[RateLimit, ...] | None = None

    def url(self, key: str) -> str:
        return self.urls[key]


@dataclass(frozen=True)
class StorageSettings:
    """Either a connection string, or identity-based service URIs (AzureWebJobsStorage__*)."""

    connection_string: str | None
    blob_url: str | None = None
    queue_url: str | None = None
    table_url: str | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings
    key_vault_url: str | None
    local_secrets_dir: Path | None
    vendors: Mapping[str, VendorSettings]
    rotate_schedule: str
    rotate_min_age_seconds: int
    refresh_margin_seconds: int
    lock_lease_seconds: int
    lock_wait_seconds: float
    degrade_after_failures: int
    vault_write_retry_seconds: float
    http_timeout_seconds: float
    public_base_url: str
    post_connect_redirect_url: str | None
    pull_schedule: str = "0 5 * * * *"
    reconcile_schedule: str = "0 30 */2 * * *"
    cleanup_schedule: str = "0 15 * * * *"
    subscriptions_schedule: str = "0 45 */12 * * *"
    pull_initial_days: int = 30
    pull_lookback_days: int = 3
    pull_run_seconds: float = 420.0
    pull_spread_seconds: int = 3000
    sweep_shards: int = 64
    pull_freshness_hours: int = 24
    pull_notified_freshness_hours: int = 168
    pull_snapshot_freshness_hours: int = 168
    pull_budget_reserve_percent: int = 20
    rate_limit_margin_seconds: float = 2.0
    connect_confirmation: bool = True
    connect_confirm_seconds: int = 600
    allow_account_move: bool = False

    def redirect_uri(self, vendor: str) -> str:
        return f"{self.public_base_url}/api/callback/{vendor}"

    def vendor(self, name: str) -> VendorSettings:
        try:
            return self.vendors[name]
        except KeyError:
            raise SettingsError(f"vendor {name!r} is not enabled (set {name.upper()}_CLIENT_ID)") from None


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str) -> str:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            value = _DEFAULTS.get(name)
        return (value or "").strip()

    def integer(self, name: str, low: int, high: int) -> int:
        raw = self.text(name)
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
        return value

    def boolean(self, name: str) -> bool:
        raw = self.text(name).lower()
        if raw not in ("true", "false"):
            raise SettingsError(f"{name} must be true or false, got {raw!r}")
        return raw == "true"

    def rate_limits(self, name: str) -> tuple[RateLimit, ...]:
        limits = []
        raw = self.text(name)
        for part in filter(None, (p.strip() for p in ("" if raw.lower() == "none" else raw).split(","))):
            match = re.fullmatch(r"(\d+)\s*/\s*(\d+)", part)
            if not match or int(match[1]) < 1 or int(match[2]) < 1:
                raise SettingsError(f"{name} must be requests/seconds pairs like '100/60,10000/86400', got {part!r}")
            limits.append(RateLimit(int(match[1]), int(match[2])))
        return tuple(sorted(limits, key=lambda limit: limit.seconds))

    def schedule(self, name: str) -> str:
        value = self.text(name)
        if len(value.split()) != 6:
            raise SettingsError(
                f"{name} must be a six-field NCRONTAB expression (seconds first, e.g. '0 0 */6 * * *'), got {value!r}"
            )
        return value

    def url(self, name: str, *, https_only: bool = False) -> str:
        raw = self.text(name)
        parsed = urlparse(raw)
        allowed = ("https",) if https_only else ("http", "https")
        if parsed.scheme not in allowed or not parsed.netloc:
            raise SettingsError(f"{name} must be an {' or '.join(allowed)} URL, got {raw!r}")
        return raw


def _storage(env: Mapping[str, str]) -> StorageSettings:
    conn = (env.get("AzureWebJobsStorage") or "").strip()
    if conn:
        if conn != "UseDevelopmentStorage=true" and "AccountName=" not in conn and "Endpoint=" not in conn:
            raise SettingsError(
                "AzureWebJobsStorage must be a storage connection string or 'UseDevelopmentStorage=true'"
            )
        return StorageSettings(connection_string=conn)
    prefix = "AzureWebJobsStorage__"
    account = (env.get(prefix + "accountName") or "").strip()
    urls = {kind: (env.get(f"{prefix}{kind}ServiceUri") or "").strip() for kind in ("blob", "queue", "table")}
    if account:
        urls = {kind: urls[kind] or f"https://{account}.{kind}.core.windows.net" for kind in urls}
    if not all(urls.values()):
        raise SettingsError(
            "AzureWebJobsStorage is not set: give a connection string, or "
            "AzureWebJobsStorage__accountName (or __blobServiceUri, __queueServiceUri and "
            "__tableServiceUri) for identity-based access"
        )
    return StorageSettings(
        None, urls["blob"], urls["queue"], urls["table"], client_id=(env.get(prefix + "clientId") or "").strip() or None
    )


def _vendors(reader: _Reader) -> dict[str, VendorSettings]:
    registered = vendors()
    enabled_raw = reader.text("ENABLED_VENDORS")
    if enabled_raw:
        enabled = [v.strip().lower() for v in enabled_raw.split(",") if v.strip()]
        unknown = sorted(set(enabled) - set(VENDOR_NAMES))
        if unknown:
            raise SettingsError(f"ENABLED_VENDORS names unknown vendors {unknown}; known: {list(VENDOR_NAMES)}")
    else:
        enabled = [v for v in VENDOR_NAMES if reader.text(f"{v.upper()}_CLIENT_ID")]
    enabled_vendors: dict[str, VendorSettings] = {}
    for name in enabled:
        prefix = name.upper()
        client_id = reader.text(f"{prefix}_CLIENT_ID")
        secret = reader.text(f"{prefix}_CLIENT_SECRET")
        if not client_id:
            raise SettingsError(f"{prefix}_CLIENT_ID is not set but {name} is enabled")
        if not secret:
            raise SettingsError(f"{prefix}_CLIENT_SECRET is not set but {name} is enabled")
        urls = {key: reader.url(f"{prefix}_{key}") for key in VENDOR_URL_DEFAULTS[name]}
        extra = {item.key: reader.text(f"{prefix}_{item.key}") for item in registered[name].settings}
        two_layers = registered[name].app_rate_limits is not None
        enabled_vendors[name] = VendorSettings(
            name,
            client_id,
            secret,
            urls,
            reader.rate_limits(f"{prefix}_RATE_LIMITS"),
            extra,
            reader.rate_limits(f"{prefix}_APP_RATE_LIMITS") if two_layers else None,
        )
    return enabled_vendors


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise SettingsError naming the first one at fault."""
    env = os.environ if env is None else env
    reader = _Reader(env)
    vault_url = reader.url("KEY_VAULT_URL", https_only=True) if reader.text("KEY_VAULT_URL") else None
    secrets_dir = reader.text("LOCAL_SECRETS_DIR")
    if not vault_url and not secrets_dir:
        raise SettingsError(
            "no token store configured: set KEY_VAULT_URL (Azure Key Vault) or, for local "
            "development only, LOCAL_SECRETS_DIR"
        )
    return Settings(
        storage=_storage(env),
        key_vault_url=vault_url,
        local_secrets_dir=Path(secrets_dir).expanduser() if secrets_dir and not vault_url else None,
        vendors=_vendors(reader),
        rotate_schedule=reader.schedule("ROTATE_SCHEDULE"),
        rotate_min_age_seconds=60 * reader.integer("ROTATE_MIN_AGE_MINUTES", 0, 60 * 24 * 30),
        refresh_margin_seconds=reader.integer("REFRESH_MARGIN_SECONDS", 0, 3000),
        lock_lease_seconds=reader.integer("LOCK_LEASE_SECONDS", 15, 60),
        lock_wait_seconds=float(reader.integer("LOCK_WAIT_SECONDS", 1, 3600)),
        degrade_after_failures=reader.integer("DEGRADE_AFTER_FAILURES", 1, 1000),
        vault_write_retry_seconds=float(reader.integer("VAULT_WRITE_RETRY_SECONDS", 1, 86400)),
        http_timeout_seconds=float(reader.integer("HTTP_TIMEOUT_SECONDS", 1, 300)),
        public_base_url=reader.url("PUBLIC_BASE_URL").rstrip("/"),
        post_connect_redirect_url=(
            reader.url("POST_CONNECT_REDIRECT_URL") if reader.text("POST_CONNECT_REDIRECT_URL") else None
        ),
        pull_schedule=reader.schedule("PULL_SCHEDULE"),
        reconcile_schedule=reader.schedule("RECONCILE_SCHEDULE"),
        cleanup_schedule=reader.schedule("CLEANUP_SCHEDULE"),
        subscriptions_schedule=reader.schedule("SUBSCRIPTIONS_SCHEDULE"),
        pull_initial_days=reader.integer("PULL_INITIAL_DAYS", 1, 3650),
        pull_lookback_days=reader.integer("PULL_LOOKBACK_DAYS", 0, 90),
        pull_run_seconds=float(reader.integer("PULL_RUN_SECONDS", 30, 3600)),
        pull_spread_seconds=60 * reader.integer("PULL_SPREAD_MINUTES", 0, 59),
        sweep_shards=reader.integer("SWEEP_SHARDS", 1, 256),
        pull_freshness_hours=reader.integer("PULL_FRESHNESS_HOURS", 1, 24 * 7),
        pull_notified_freshness_hours=reader.integer("PULL_NOTIFIED_FRESHNESS_HOURS", 1, 24 * 30),
        pull_snapshot_freshness_hours=reader.integer("PULL_SNAPSHOT_FRESHNESS_HOURS", 24, 24 * 90),
        pull_budget_reserve_percent=reader.integer("PULL_BUDGET_RESERVE_PERCENT", 0, 90),
        rate_limit_margin_seconds=float(reader.integer("RATE_LIMIT_MARGIN_SECONDS", 0, 60)),
        connect_confirmation=reader.boolean("CONNECT_CONFIRMATION"),
        connect_confirm_seconds=reader.integer("CONNECT_CONFIRM_SECONDS", 60, 86400),
        allow_account_move=reader.boolean("ALLOW_ACCOUNT_MOVE"),
    )
