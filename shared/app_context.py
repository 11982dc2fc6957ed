"""Builds the services from settings, once per process (the Functions worker, the command line)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import requests
from azure.storage.queue import QueueClient

from shared.connect_flow import ConnectFlow
from shared.locks import ConnectionLocks
from shared.oauth_state import OAuthStateStore
from shared.registry import ConnectionRegistry
from shared.settings import Settings, load_settings
from shared.storage import ROTATE_QUEUE, Storage
from shared.token_service import TokenService
from shared.vault import TokenVault, secret_store_from


@dataclass
class AppContext:
    settings: Settings

    @cached_property
    def storage(self) -> Storage:
        return Storage(self.settings.storage)

    @cached_property
    def registry(self) -> ConnectionRegistry:
        return ConnectionRegistry(self.storage.tables)

    @cached_property
    def locks(self) -> ConnectionLocks:
        return ConnectionLocks(
            self.storage.blobs,
            lease_seconds=self.settings.lock_lease_seconds,
            wait_seconds=self.settings.lock_wait_seconds,
        )

    @cached_property
    def vault(self) -> TokenVault:
        return TokenVault(secret_store_from(self.settings), self.settings.vault_write_retry_seconds)

    @cached_property
    def http(self) -> requests.Session:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=64, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    @cached_property
    def tokens(self) -> TokenService:
        return TokenService(self.settings, self.vault, self.registry, self.locks, self.http)

    @cached_property
    def states(self) -> OAuthStateStore:
        return OAuthStateStore(self.storage.tables)

    @cached_property
    def connect(self) -> ConnectFlow:
        return ConnectFlow(
            self.settings,
            self.states,
            self.vault,
            self.registry,
            self.tokens,
            self.locks,
            self.storage.blobs,
            self.http,
        )

    def rotate_queue(self) -> QueueClient:
        return self.storage.queue(ROTATE_QUEUE)

    def ensure_resources(self) -> None:
        """Create the tables, containers and queues the app uses (idempotent; Azure's infra makes them too)."""
        self.registry.ensure()
        self.locks.ensure()
        self.states.ensure()


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
