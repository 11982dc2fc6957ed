"""Landing vendor records in Blob Storage, idempotently.

One blob per vendor record at ``raw/{vendor}/{data_type}/user={user_id}/date={YYYY-MM-DD}/{record_id}.json``.
The content is the record as the vendor sent it (compact JSON, the vendor's key order); the metadata has
the fetched time, the source and a SHA-256 of the content. Landing an unchanged record changes nothing
(same blob, same ETag); a revised record overwrites it; a vendor delete removes it. Concurrent writers
are safe: creation is ``If-None-Match: *`` and an overwrite is ``If-Match`` on the ETag that was compared.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.layout import RAW_CONTAINER, record_blob_name, user_segment
from shared.registry import now_iso

log = logging.getLogger(__name__)
HASH_KEY = "content_sha256"
MAX_ATTEMPTS = 5


class Landed(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Record:
    """One vendor record, ready to land. ``local_date`` is the record's date in the user's own time zone."""

    vendor: str
    data_type: str
    user_id: str
    record_id: str
    local_date: str
    content: Any
    source: str

    @property
    def blob_name(self) -> str:
        return record_blob_name(self.vendor, self.data_type, self.user_id, self.local_date, self.record_id)

    def body(self) -> bytes:
        return json.dumps(self.content, ensure_ascii=False, separators=(",", ":")).encode()


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class LandingWriter:
    def __init__(self, blobs: BlobServiceClient, container: str = RAW_CONTAINER) -> None:
        self.container = blobs.get_container_client(container)

    def ensure(self) -> None:
        with suppress(ResourceExistsError):
            self.container.create_container()

    def land(self, record: Record) -> Landed:
        return self.put(record.blob_name, record.body(), record.source)

    def put(
        self,
        name: str,
        body: bytes,
        source: str,
        content_type: str = "application/json",
        *,
        extra: Mapping[str, str] | None = None,
    ) -> Landed:
        """Write ``body`` to blob ``name`` unless it already holds exactly that (compared by content hash, and
        by the ``extra`` metadata: a blob whose content is the same but whose ``extra`` differs is rewritten)."""
        digest = content_hash(body)
        metadata = {
            HASH_KEY: digest,
            "source": source[:1024],
            "fetched_at": now_iso(),
            **(extra or {}),
        }
        compared = {HASH_KEY: digest, **(extra or {})}
        blob = self.container.get_blob_client(name)
        settings = ContentSettings(content_type=content_type)
        for _ in range(MAX_ATTEMPTS):
            try:
                blob.upload_blob(body, overwrite=False, metadata=metadata, content_settings=settings)
                return Landed.CREATED
            except ResourceExistsError:
                pass
            try:
                properties = blob.get_blob_properties()
            except ResourceNotFoundError:
                continue  # deleted between the two calls: create it again
            if all(properties.metadata.get(key) == value for key, value in compared.items()):
                return Landed.UNCHANGED
            try:
                blob.upload_blob(
                    body,
                    overwrite=True,
                    metadata=metadata,
                    content_settings=settings,
                    etag=properties.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                return Landed.UPDATED
            except (ResourceModifiedError, ResourceNotFoundError):
                continue  # another writer got there first: compare again
        raise RuntimeError(f"could not land {name} after {MAX_ATTEMPTS} attempts")

    def remove(self, name: str) -> bool:
        try:
            self.container.delete_blob(name)
            return True
        except ResourceNotFoundError:
            return False

    def delete(self, vendor: str, data_type: str, user_id: str, record_id: str) -> int:
        """Remove a record the vendor deleted, on whatever date it landed (a delete names only the id).
        Returns how many blobs were removed (0 when it was never landed)."""
        prefix = f"{vendor}/{data_type}/{user_segment(user_id)}/"
        removed = 0
        for blob in self.container.list_blobs(name_starts_with=prefix):
            if blob.name.endswith(f"/{record_id}.json"):
                with suppress(ResourceNotFoundError):
                    self.container.delete_blob(blob.name)
                    removed += 1
        return removed
