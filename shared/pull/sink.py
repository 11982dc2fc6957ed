"""Where fetched records go: the raw record to ``raw/``, its measurements to ``curated/`` (JSON lines, one
blob per record beside the raw one). The curated blob is rewritten only when the raw record changed."""

from __future__ import annotations

from azure.storage.blob import BlobServiceClient

from shared.curated import curated_lines
from shared.landing import Landed, LandingWriter, Record
from shared.layout import CURATED_CONTAINER, RAW_CONTAINER, curated_blob_name
from shared.pull.model import Fetched


class RecordSink:
    def __init__(self, blobs: BlobServiceClient) -> None:
        self.raw = LandingWriter(blobs, RAW_CONTAINER)
        self.curated = LandingWriter(blobs, CURATED_CONTAINER)

    def ensure(self) -> None:
        self.raw.ensure()
        self.curated.ensure()

    def land(self, vendor: str, data_type: str, user_id: str, fetched: Fetched) -> Landed:
        day = fetched.local_date.isoformat()
        record = Record(vendor, data_type, user_id, fetched.record_id, day, fetched.content, fetched.source)
        landed = self.raw.land(record)
        if landed is not Landed.UNCHANGED:
            name = curated_blob_name(vendor, data_type, user_id, day, fetched.record_id)
            lines = curated_lines(
                vendor,
                data_type,
                user_id,
                day,
                fetched.record_id,
                f"{RAW_CONTAINER}/{record.blob_name}",
                fetched.content,
            )
            if lines:
                self.curated.put(name, lines, record.blob_name, content_type="application/x-ndjson")
            else:
                self.curated.remove(name)  # e.g. a score withdrawn: no stale measurements
        return landed
