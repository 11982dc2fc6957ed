"""Clients for the app's storage account (blob, queue, table): a connection string locally (Azurite),
managed identity in Azure. Queue messages are base64, as the Functions queue trigger expects."""

from __future__ import annotations

from functools import cached_property

from azure.core.credentials import TokenCredential
from azure.data.tables import TableServiceClient
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient, QueueServiceClient, TextBase64EncodePolicy

from shared.settings import StorageSettings

ROTATE_QUEUE = "rotate-jobs"
LOCKS_CONTAINER = "locks"
CONNECTIONS_TABLE = "connections"


class Storage:
    """Lazily built, shared service clients. The SDK clients are thread-safe."""

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings

    @cached_property
    def _credential(self) -> TokenCredential:
        if self.settings.client_id:
            return ManagedIdentityCredential(client_id=self.settings.client_id)
        return DefaultAzureCredential()

    @cached_property
    def blobs(self) -> BlobServiceClient:
        if self.settings.connection_string:
            return BlobServiceClient.from_connection_string(self.settings.connection_string)
        assert self.settings.blob_url
        return BlobServiceClient(self.settings.blob_url, credential=self._credential)

    @cached_property
    def queues(self) -> QueueServiceClient:
        if self.settings.connection_string:
            return QueueServiceClient.from_connection_string(self.settings.connection_string)
        assert self.settings.queue_url
        return QueueServiceClient(self.settings.queue_url, credential=self._credential)

    @cached_property
    def tables(self) -> TableServiceClient:
        if self.settings.connection_string:
            return TableServiceClient.from_connection_string(self.settings.connection_string)
        assert self.settings.table_url
        return TableServiceClient(self.settings.table_url, credential=self._credential)

    def queue(self, name: str) -> QueueClient:
        return self.queues.get_queue_client(
            name, message_encode_policy=TextBase64EncodePolicy(), message_decode_policy=BinaryBase64DecodePolicy()
        )
