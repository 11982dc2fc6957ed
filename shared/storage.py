"""Clients for the app's storage account (blob, queue, table): a connection string locally (Azurite),
managed identity in Azure. Queue messages are base64, as the Functions queue trigger expects.

Each SDK is imported when its first client is built, not with this module: the function app imports the queue
names here at start, and a cold start should not pay for SDKs before a function needs them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.settings import StorageSettings

if TYPE_CHECKING:
    import requests
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueClient, QueueServiceClient

ROTATE_QUEUE = "rotate-jobs"
LOCKS_CONTAINER = "locks"
CONNECTIONS_TABLE = "connections"
SWEEP_QUEUE = "sweep-shards"  # one message per shard of a registry sweep (shared/sweep.py)
SWEEP_TABLE = "sweepprogress"  # a sweep's progress per (sweep, period, shard)
POOL_SIZE = 64
"""Connections kept open per storage host. Left to itself each SDK client keeps urllib3's default of 10: every
call beyond 10 at once (a sweep's 16 send threads, the host's queue batches side by side) opened a connection of
its own (in Azure a TCP and TLS handshake) and threw it away after one request ("Connection pool is full,
discarding connection"). Not a limit on calls in flight: beyond it a connection is still opened, only not kept."""


@dataclass(frozen=True)
class QuickFailure:
    """Few, short retries and short timeouts, for a caller someone is waiting on (the command line): the SDK's
    defaults (blob and queue back off 15 s and more between retries) make a dead endpoint take minutes."""

    retries: int = 2  # throttling and 5xx
    network_retries: int = 1  # no connection, or no answer within the timeout
    backoff_seconds: float = 0.5
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 10.0

    def _timeouts(self) -> dict[str, Any]:
        return {"connection_timeout": self.connect_timeout_seconds, "read_timeout": self.read_timeout_seconds}

    def blob(self) -> dict[str, Any]:
        from azure.storage.blob import LinearRetry as BlobLinearRetry

        retry = BlobLinearRetry(
            backoff=self.backoff_seconds,  # type: ignore[arg-type]  # annotated int, used as seconds
            retry_total=self.retries,
            random_jitter_range=0,
            retry_connect=self.network_retries,
            retry_read=self.network_retries,
        )
        return {"retry_policy": retry, **self._timeouts()}

    def queue(self) -> dict[str, Any]:
        from azure.storage.queue import LinearRetry as QueueLinearRetry

        retry = QueueLinearRetry(
            backoff=self.backoff_seconds,  # type: ignore[arg-type]
            retry_total=self.retries,
            random_jitter_range=0,
            retry_connect=self.network_retries,
            retry_read=self.network_retries,
        )
        return {"retry_policy": retry, **self._timeouts()}

    def table(self) -> dict[str, Any]:
        return {
            "retry_total": self.retries,
            "retry_connect": self.network_retries,
            "retry_read": self.network_retries,
            "retry_backoff_factor": self.backoff_seconds,
            **self._timeouts(),
        }


class Storage:
    """Lazily built, shared service clients. The SDK clients are thread-safe."""

    def __init__(self, settings: StorageSettings, quick: QuickFailure | None = None) -> None:
        self.settings = settings
        self.quick = quick

    @cached_property
    def _credential(self) -> TokenCredential:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if self.settings.client_id:
            return ManagedIdentityCredential(client_id=self.settings.client_id)
        return DefaultAzureCredential()

    @cached_property
    def _session(self) -> requests.Session:
        """One HTTP session for the three service clients (``session_owner=False``: closing a client leaves it
        open for the others), configured as the SDK configures its own (``RequestsTransport._init_session``:
        urllib3 neither retries nor follows redirects, the SDK's retry policy does) but keeping ``POOL_SIZE``
        connections per host."""
        import requests
        from urllib3.util.retry import Retry

        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=4,
            pool_maxsize=POOL_SIZE,
            max_retries=Retry(total=False, redirect=False, raise_on_status=False),
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def _transport(self) -> dict[str, Any]:
        return {"session": self._session, "session_owner": False}

    @cached_property
    def blobs(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        options = {**self._transport(), **(self.quick.blob() if self.quick else {})}
        if self.settings.connection_string:
            return BlobServiceClient.from_connection_string(self.settings.connection_string, **options)
        assert self.settings.blob_url
        return BlobServiceClient(self.settings.blob_url, credential=self._credential, **options)

    @cached_property
    def queues(self) -> QueueServiceClient:
        from azure.storage.queue import QueueServiceClient

        options = {**self._transport(), **(self.quick.queue() if self.quick else {})}
        if self.settings.connection_string:
            return QueueServiceClient.from_connection_string(self.settings.connection_string, **options)
        assert self.settings.queue_url
        return QueueServiceClient(self.settings.queue_url, credential=self._credential, **options)

    @cached_property
    def tables(self) -> TableServiceClient:
        from azure.data.tables import TableServiceClient

        options = {**self._transport(), **(self.quick.table() if self.quick else {})}
        if self.settings.connection_string:
            return TableServiceClient.from_connection_string(self.settings.connection_string, **options)
        assert self.settings.table_url
        return TableServiceClient(self.settings.table_url, credential=self._credential, **options)

    def queue(self, name: str) -> QueueClient:
        from azure.storage.queue import BinaryBase64DecodePolicy, TextBase64EncodePolicy

        return self.queues.get_queue_client(
            name, message_encode_policy=TextBase64EncodePolicy(), message_decode_policy=BinaryBase64DecodePolicy()
        )
