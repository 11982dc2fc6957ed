"""The contract every vendor package fills: one ``Vendor`` value named ``VENDOR`` in
``shared/vendors/<name>/__init__.py``.

A package holds everything wearsync knows about one vendor and nothing else; the engines (token custody, the
connect flow, the pull, landing, notifications, backfill, the command line) read these parts through
``shared.vendors.registry`` and never name a vendor. Settings are derived from the package name: ``{NAME}_CLIENT_ID``,
``{NAME}_CLIENT_SECRET``, ``{NAME}_RATE_LIMITS``, one ``{NAME}_{KEY}`` per URL in ``urls``, and one
``{NAME}_{KEY}`` per entry of ``settings``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.curated.base import Mapper
from shared.notify.model import Notifications
from shared.notify.subscriptions_model import Subscriptions
from shared.pull.model import Fetcher
from shared.vendors.base import VendorSpec


@dataclass(frozen=True)
class VendorSetting:
    """A vendor-specific setting ``{NAME}_{key}``: its default and what it means (for the docs and infra)."""

    key: str
    default: str
    meaning: str
    secret: bool = False


@dataclass(frozen=True)
class Vendor:
    """One vendor's parts.

    - ``name``: the package name (lower case), used in routes, blob paths, registry rows and setting names.
    - ``title``: how pages and the command line name the vendor to a person.
    - ``oauth``: OAuth facts and error classification (``shared.vendors.base.VendorSpec``).
    - ``urls``: default endpoints (``AUTH_URL``, ``TOKEN_URL``, ``API_BASE_URL``, ``REVOKE_URL``...); each is a
      setting, so the same code runs against the vendor, the sandbox or any compatible server.
    - ``rate_limits``: the published data-API limits as ``requests/seconds`` pairs ("" when none is published);
      whom they count (the app or each user) is ``oauth.rate_limit_scope``.
    - ``data``: the data types and how a window of one is fetched (``shared.pull.model.Fetcher``).
    - ``curated``: data type -> the mapping of one raw record to its measurements; ``positional``: data type ->
      the names of the positions of a record the vendor sends as an array.
    - ``settings``: further settings of this vendor only.
    - ``notifications``: how the vendor's webhooks are verified and parsed, and what each one asks for
      (``shared.notify.model.Notifications``); None for a vendor that sends none.
    - ``notified_types``: the data types its notifications bring in (the pull planner reconciles them less often
      while a connection's notifications flow); the others are pulled within ``PULL_FRESHNESS_HOURS``.
    - ``app_rate_limits``: for a vendor whose limits count each user *and* the app (two layers): the app-wide
      layer's ``requests/seconds`` pairs ("" when the vendor publishes no number: nothing is paced, but a 429 the
      vendor says came from the app layer, ``oauth.rate_limit_layer``, pauses every connection); None: one layer.
    - ``succeeds``: the retired vendor whose connections this one takes over (matched through
      ``oauth.legacy_user_id``); None for most.
    - ``subscriptions``: webhook subscriptions the app creates and renews itself through the vendor's API
      (``shared.notify.subscriptions_model.Subscriptions``; kept by ``shared.subscriptions`` on a timer); None
      for a vendor whose webhooks are registered once by hand, or that sends none.
    - ``commands``: adds the package's own subcommands to the command line (``python -m shared <name> ...``): called
      with argparse's subparsers; each command sets ``handler(ctx, args) -> int`` (and ``needs_storage=False`` when
      it does not use the storage account).
    - ``user_cap_setting``: the key of the package's own setting holding how many users the vendor lets an
      unapproved app connect (0: no cap); a connect link for one user more is refused with a clear message.
    """

    name: str
    title: str
    oauth: VendorSpec
    urls: Mapping[str, str]
    rate_limits: str
    data: Fetcher
    curated: Mapping[str, Mapper]
    positional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    settings: tuple[VendorSetting, ...] = ()
    notifications: Notifications | None = None
    notified_types: frozenset[str] = frozenset()
    succeeds: str | None = None
    app_rate_limits: str | None = None
    subscriptions: Subscriptions | None = None
    commands: Callable[[Any], None] | None = None
    user_cap_setting: str | None = None

    @property
    def prefix(self) -> str:
        """The prefix of this vendor's settings."""
        return self.name.upper()
