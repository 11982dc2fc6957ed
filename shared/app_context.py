"""Builds the services from settings, once per process (the Functions worker, the command line).

Each service's module (and the SDK it uses) is imported when the service is first built, not with this module:
a function that needs the notification intake does not load the pull, and importing this costs next to nothing.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from shared.pull.jobs import BACKFILL_QUEUE, LIVE_QUEUE
from shared.settings import Settings, load_settings
from shared.storage import ROTATE_QUEUE, SWEEP_QUEUE, Storage

if TYPE_CHECKING:
    import requests
    from azure.data.tables import TableClient
    from azure.storage.queue import QueueClient

    from shared.connect_flow import ConnectFlow
    from shared.locks import ConnectionLocks
    from shared.notify.intake import NotificationIntake
    from shared.notify.user_subscriptions import UserSubscriptions
    from shared.notify.worker import NotificationWorker
    from shared.oauth_state import OAuthStateStore
    from shared.pending import PendingStore
    from shared.pull.backfill import BackfillJobs
    from shared.pull.pull_state import PullStateStore
    from shared.pull.puller import Puller
    from shared.pull.rate_budget import RateBudget
    from shared.pull.service import PullService
    from shared.pull.sink import RecordSink
    from shared.registry import ConnectionRegistry
    from shared.subscriptions import SubscriptionKeeper
    from shared.sweeps import Sweeps
    from shared.token_service import TokenService
    from shared.vault import TokenVault


@dataclass
class AppContext:
    settings: Settings

    @cached_property
    def storage(self) -> Storage:
        return Storage(self.settings.storage)

    @cached_property
    def registry(self) -> ConnectionRegistry:
        from shared.registry import ConnectionRegistry

        return ConnectionRegistry(self.storage.tables)

    @cached_property
    def locks(self) -> ConnectionLocks:
        from shared.locks import ConnectionLocks

        return ConnectionLocks(
            self.storage.blobs,
            lease_seconds=self.settings.lock_lease_seconds,
            wait_seconds=self.settings.lock_wait_seconds,
        )

    @cached_property
    def vault(self) -> TokenVault:
        from shared.vault import TokenVault, secret_store_from

        return TokenVault(secret_store_from(self.settings), self.settings.vault_write_retry_seconds)

    @cached_property
    def http(self) -> requests.Session:
        import requests

        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=64, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    @cached_property
    def tokens(self) -> TokenService:
        from shared.token_service import TokenService

        return TokenService(self.settings, self.vault, self.registry, self.locks, self.http)

    @cached_property
    def states(self) -> OAuthStateStore:
        from shared.oauth_state import OAuthStateStore

        return OAuthStateStore(self.storage.tables)

    @cached_property
    def pending(self) -> PendingStore:
        from shared.pending import PendingStore

        return PendingStore(self.storage.tables, self.vault)

    @cached_property
    def connect(self) -> ConnectFlow:
        from shared.connect_flow import ConnectFlow

        return ConnectFlow(
            self.settings,
            self.states,
            self.vault,
            self.registry,
            self.tokens,
            self.locks,
            self.storage.blobs,
            self.http,
            self.pending,
            self.pull_state,
            self.user_subscriptions,
        )

    @cached_property
    def user_subscriptions(self) -> UserSubscriptions:
        import time

        from shared.notify.user_subscriptions import UserSubscriptions
        from shared.pull.model import Priority
        from shared.pull.vendor_api import ConnectionApi

        def api_for(vendor: str, user_id: str) -> ConnectionApi:
            # on a request's path (the confirmation): short back-offs, a failure is retried at the next rotation
            return ConnectionApi(
                self.settings,
                self.tokens,
                self.budget,
                self.http,
                vendor,
                user_id,
                priority=Priority.LIVE,
                sleep=lambda seconds: time.sleep(min(seconds, 0.5)),
            )

        return UserSubscriptions(self.settings, self.registry, api_for)

    @cached_property
    def budget(self) -> RateBudget:
        from shared.pull.rate_budget import RateBudget

        return RateBudget(
            self.storage.tables,
            self.settings.rate_limit_margin_seconds,
            reserve_percent=self.settings.pull_budget_reserve_percent,
        )

    @cached_property
    def pull_state(self) -> PullStateStore:
        from shared.pull.pull_state import PullStateStore

        return PullStateStore(self.storage.tables)

    @cached_property
    def sink(self) -> RecordSink:
        from shared.pull.sink import RecordSink

        return RecordSink(self.storage.blobs)

    @cached_property
    def backfills(self) -> BackfillJobs:
        from shared.pull.backfill import BackfillJobs

        return BackfillJobs(self.storage.tables)

    @cached_property
    def puller(self) -> Puller:
        from shared.pull.puller import Puller

        return Puller(self.settings, self.registry, self.tokens, self.budget, self.pull_state, self.sink, self.http)

    @cached_property
    def pull(self) -> PullService:
        from shared.pull.service import PullService

        return PullService(
            self.settings, self.registry, self.pull_state, self.puller, self.backfills, self.storage.queue
        )

    @cached_property
    def notify(self) -> NotificationIntake:
        from shared.notify import NOTIFY_DEDUP_TABLE, NOTIFY_QUEUE
        from shared.notify.intake import NotificationIntake

        return NotificationIntake(
            self.settings,
            self.storage.queue(NOTIFY_QUEUE),
            self.storage.tables.get_table_client(NOTIFY_DEDUP_TABLE),
        )

    @cached_property
    def notify_worker(self) -> NotificationWorker:
        from shared.notify.bounds import NOTIFY_WORK_TABLE
        from shared.notify.worker import NOTIFY_UNKNOWN_TABLE, NotificationWorker

        return NotificationWorker(
            self.settings,
            self.registry,
            self.tokens,
            self.budget,
            self.sink,
            self.puller,
            self.http,
            self.storage.tables.get_table_client(NOTIFY_UNKNOWN_TABLE),
            activity_table=self.notify_activity,
            pull_queue=self.storage.queue(LIVE_QUEUE),
            work_table=self.storage.tables.get_table_client(NOTIFY_WORK_TABLE),
        )

    @property
    def notify_activity(self) -> TableClient:
        from shared.notify.worker import NOTIFY_ACTIVITY_TABLE

        return self.storage.tables.get_table_client(NOTIFY_ACTIVITY_TABLE)

    @cached_property
    def sweeps(self) -> Sweeps:
        from shared.storage import CONNECTIONS_TABLE, SWEEP_TABLE
        from shared.sweep_once import SweepOnce
        from shared.sweeps import Sweeps

        tables = self.storage.tables
        return Sweeps(
            self.settings,
            tables.get_table_client(CONNECTIONS_TABLE),
            tables.get_table_client(SWEEP_TABLE),
            self.pull_state,
            self.storage.queue,
            SweepOnce(tables),
        )

    @cached_property
    def subscriptions(self) -> SubscriptionKeeper:
        from shared.subscriptions import SubscriptionKeeper

        return SubscriptionKeeper(self.settings, self.http)

    def rotate_queue(self) -> QueueClient:
        return self.storage.queue(ROTATE_QUEUE)

    def ensure_resources(self) -> None:
        """Create the tables, containers and queues the app uses (idempotent; Azure's infra makes them too)."""
        from azure.core.exceptions import ResourceExistsError

        self.registry.ensure()
        self.locks.ensure()
        self.states.ensure()
        self.pending.ensure()
        self.budget.ensure()
        self.pull_state.ensure()
        self.backfills.ensure()
        self.sink.ensure()
        self.notify.ensure()
        self.notify_worker.ensure()
        self.sweeps.ensure()
        for name in (ROTATE_QUEUE, LIVE_QUEUE, BACKFILL_QUEUE, SWEEP_QUEUE):
            with contextlib.suppress(ResourceExistsError):
                self.storage.queue(name).create_queue()


_lock = threading.Lock()
_context: AppContext | None = None


def get_context() -> AppContext:
    """The process-wide context; settings are validated on first use (the app's start)."""
    global _context
    with _lock:
        if _context is None:
            _context = AppContext(load_settings())
            _context.ensure_resources()
        return _context


def reset_context() -> None:
    """Forget the process-wide context (settings changed, e.g. between test cases)."""
    global _context
    with _lock:
        _context = None
