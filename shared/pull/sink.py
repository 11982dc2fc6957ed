"""Where fetched records go: the raw record to ``raw/``, its measurements to ``curated/`` (JSON lines, one
blob per record beside the raw one).

The curated blob is written after the raw one and carries, in its metadata, the raw content's hash and the
mapping version it was made from. So a curated blob that never came (the process died, or storage failed,
between the two writes) or that is stale (another raw revision, another mapping version) is rewritten on the
next pass even when the raw record is unchanged. Checking costs no blob read: a batch lists the metadata of its
unchanged records' curated blobs, one listing per month of them (or one properties call per record when
that is fewer calls), and only missing or stale ones are rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from shared.curated.base import MAPPING_VERSION
from shared.curated.lines import curated_lines
from shared.landing import Landed, LandingWriter, Record, content_hash
from shared.layout import CURATED_CONTAINER, RAW_CONTAINER, curated_blob_name
from shared.pull.model import Fetched

RAW_HASH_KEY = "raw_sha256"
VERSION_KEY = "mapping_version"
CURATED_TYPE = "application/x-ndjson"


@dataclass(frozen=True)
class _Landing:
    """A record whose raw blob has been landed (``landed``), with the hash of its raw content."""

    record: Record
    raw_hash: str
    landed: Landed

    @property
    def curated_name(self) -> str:
        r = self.record
        return curated_blob_name(r.vendor, r.data_type, r.user_id, r.local_date, r.record_id)

    @property
    def month_prefix(self) -> str:
        """The curated names of the record's month start with this (``.../date=YYYY-MM``)."""
        name = self.curated_name
        return name[: name.index("/date=") + len("/date=YYYY-MM")]

    def stamp(self) -> dict[str, str]:
        return {RAW_HASH_KEY: self.raw_hash, VERSION_KEY: MAPPING_VERSION}

    def is_current(self, metadata: Mapping[str, str]) -> bool:
        return all(metadata.get(key) == value for key, value in self.stamp().items())


class RecordSink:
    def __init__(self, blobs: BlobServiceClient) -> None:
        self.raw = LandingWriter(blobs, RAW_CONTAINER)
        self.curated = LandingWriter(blobs, CURATED_CONTAINER)

    def ensure(self) -> None:
        self.raw.ensure()
        self.curated.ensure()

    def land(self, vendor: str, data_type: str, user_id: str, fetched: Fetched) -> Landed:
        """Land one record (a notification's): raw, then curated. An unchanged raw record costs one
        properties call on its curated blob, to find a missing or stale one."""
        landing = self._land(vendor, data_type, user_id, fetched)
        if landing.landed is Landed.UNCHANGED:
            self._refresh_curated([landing], self._metadata_one_by_one([landing]))
        return landing.landed

    def land_batch(
        self, vendor: str, data_type: str, user_id: str, batch: Sequence[Fetched], pool: Executor
    ) -> list[Landed]:
        """Land a batch of records of one type and user on ``pool``'s threads; the results in batch order.
        The curated blobs of the unchanged records are checked together, after the raw writes."""
        landings = list(pool.map(lambda fetched: self._land(vendor, data_type, user_id, fetched), batch))
        unchanged = [landing for landing in landings if landing.landed is Landed.UNCHANGED]
        if unchanged:
            months = {landing.month_prefix for landing in unchanged}
            if len(months) < len(unchanged):
                found = self._metadata_by_month(months)
            else:
                found = self._metadata_one_by_one(unchanged, pool)
            stale = [landing for landing in unchanged if not self._fresh(landing, found)]
            list(pool.map(lambda landing: self._write_curated(landing, landing.curated_name in found), stale))
        return [landing.landed for landing in landings]

    # -- one record ------------------------------------------------------------------------------------------------
    def _land(self, vendor: str, data_type: str, user_id: str, fetched: Fetched) -> _Landing:
        day = fetched.local_date.isoformat()
        record = Record(vendor, data_type, user_id, fetched.record_id, day, fetched.content, fetched.source)
        body = record.body()
        landed = self.raw.put(record.blob_name, body, record.source)
        landing = _Landing(record, content_hash(body), landed)
        if landed is not Landed.UNCHANGED:
            self._write_curated(landing, exists=True)
        return landing

    def _write_curated(self, landing: _Landing, exists: bool) -> None:
        """Write the record's curated lines, stamped with the raw hash and mapping version; with no lines,
        remove the curated blob (``exists``: there may be one), e.g. a score withdrawn: no stale measurements."""
        r = landing.record
        raw_blob = f"{RAW_CONTAINER}/{r.blob_name}"
        lines = curated_lines(r.vendor, r.data_type, r.user_id, r.local_date, r.record_id, raw_blob, r.content)
        if lines:
            self.curated.put(landing.curated_name, lines, r.blob_name, CURATED_TYPE, extra=landing.stamp())
        elif exists:
            self.curated.remove(landing.curated_name)

    # -- checking curated blobs ---------------------------------------------------------------------------------
    @staticmethod
    def _fresh(landing: _Landing, found: Mapping[str, Mapping[str, str]]) -> bool:
        metadata = found.get(landing.curated_name)
        if metadata is None:  # no curated blob: right only if the record has no measurements
            r = landing.record
            return not curated_lines(r.vendor, r.data_type, r.user_id, r.local_date, r.record_id, "", r.content)
        return landing.is_current(metadata)

    def _refresh_curated(self, landings: Iterable[_Landing], found: Mapping[str, Mapping[str, str]]) -> None:
        for landing in landings:
            if not self._fresh(landing, found):
                self._write_curated(landing, landing.curated_name in found)

    def _metadata_by_month(self, prefixes: Iterable[str]) -> dict[str, Mapping[str, str]]:
        """Curated blob name -> metadata, for every curated blob under the prefixes (one listing each)."""
        found: dict[str, Mapping[str, str]] = {}
        for prefix in sorted(prefixes):
            for blob in self.curated.container.list_blobs(name_starts_with=prefix, include=["metadata"]):
                found[blob.name] = blob.metadata or {}
        return found

    def _metadata_one_by_one(
        self, landings: Sequence[_Landing], pool: Executor | None = None
    ) -> dict[str, Mapping[str, str]]:
        """Curated blob name -> metadata of the landings' curated blobs that exist (a properties call each)."""

        def metadata(landing: _Landing) -> Mapping[str, str] | None:
            try:
                return self.curated.container.get_blob_client(landing.curated_name).get_blob_properties().metadata
            except ResourceNotFoundError:
                return None

        answers = pool.map(metadata, landings) if pool else map(metadata, landings)
        return {
            landing.curated_name: found for landing, found in zip(landings, answers, strict=True) if found is not None
        }
