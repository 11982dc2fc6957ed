"""Landing records in Blob Storage (Azurite): once, unchanged writes change nothing, revisions overwrite, and a
curated blob that never came or went stale is written again on the next pass."""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from urllib.parse import unquote, urlsplit

from azure.core.pipeline import PipelineRequest
from azure.storage.blob import BlobServiceClient

from shared.app_context import AppContext
from shared.curated.base import MAPPING_VERSION
from shared.landing import HASH_KEY, Landed, LandingWriter, Record, content_hash
from shared.pull.model import Fetched
from shared.pull.sink import RecordSink


def sleep_record(score: int | None, record_id: str = "9d1e0c1a-0000-4000-8000-000000000001") -> Record:
    content: dict[str, object] = {
        "id": record_id,
        "start": "2026-11-20T22:40:00.000Z",
        "timezone_offset": "-05:00",
        "score_state": "SCORED" if score is not None else "PENDING_SCORE",
    }
    if score is not None:
        content["score"] = {"sleep_performance_percentage": score}
    return Record("whoop", "sleep", "alice", record_id, "2026-11-21", content, "/v2/activity/sleep")


def test_a_record_lands_once_with_its_metadata_and_an_unchanged_one_is_not_rewritten(ctx: AppContext) -> None:
    writer = LandingWriter(ctx.storage.blobs)
    writer.ensure()
    record = sleep_record(None)
    assert writer.land(record) is Landed.CREATED
    blob = writer.container.get_blob_client(record.blob_name)
    assert record.blob_name == "whoop/sleep/user=alice/date=2026-11-21/9d1e0c1a-0000-4000-8000-000000000001.json"
    first = blob.get_blob_properties()
    assert first.metadata[HASH_KEY] == content_hash(record.body())
    assert first.metadata["source"] == "/v2/activity/sleep" and first.metadata["fetched_at"].endswith("Z")
    assert first.content_settings.content_type == "application/json"
    assert blob.download_blob().readall() == record.body()
    assert writer.land(sleep_record(None)) is Landed.UNCHANGED
    assert blob.get_blob_properties().etag == first.etag


def test_a_revised_record_overwrites_and_a_delete_removes_it(ctx: AppContext) -> None:
    writer = LandingWriter(ctx.storage.blobs)
    writer.ensure()
    writer.land(sleep_record(None))
    revised = sleep_record(91)
    assert writer.land(revised) is Landed.UPDATED
    assert writer.container.get_blob_client(revised.blob_name).download_blob().readall() == revised.body()
    assert writer.delete("whoop", "sleep", "alice", revised.record_id) == 1
    assert writer.delete("whoop", "sleep", "alice", revised.record_id) == 0
    assert list(writer.container.list_blobs()) == []


def test_concurrent_writers_of_the_same_record_land_it_exactly_once(ctx: AppContext) -> None:
    writer = LandingWriter(ctx.storage.blobs)
    writer.ensure()
    results: list[Landed] = []
    barrier = threading.Barrier(10)

    def land(score: int) -> None:
        barrier.wait()
        results.append(writer.land(sleep_record(score)))

    threads = [threading.Thread(target=land, args=(80 if i < 5 else 81,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter(results)
    assert counts[Landed.CREATED] == 1
    assert len(list(writer.container.list_blobs())) == 1
    landed = writer.container.get_blob_client(sleep_record(80).blob_name).download_blob().readall()
    assert landed in (sleep_record(80).body(), sleep_record(81).body())


# -- curated blobs follow their raw record, even when the raw record is unchanged --------------------------------
def recovery(cycle_id: int, score: int) -> Fetched:
    day = date(2026, 1, 10) + timedelta(days=cycle_id)  # 40 records over two months (January, February)
    content = {"cycle_id": cycle_id, "score_state": "SCORED", "score": {"recovery_score": score, "hrv_rmssd_milli": 41}}
    return Fetched(str(cycle_id), day, content, "/v2/recovery")


class CountingCalls:
    """Every storage request a client sends, as (method, path, query)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self._guard = threading.Lock()

    def __call__(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        url = urlsplit(request.http_request.url)
        with self._guard:
            self.calls.append((request.http_request.method, unquote(url.path), url.query))


def test_a_record_whose_curated_blob_is_missing_or_stale_gets_its_lines_again_without_a_blob_read(
    ctx: AppContext, app_env: dict[str, str]
) -> None:
    sink = RecordSink(ctx.storage.blobs)
    sink.ensure()
    batch = [recovery(n, 50 + n) for n in range(40)]
    with ThreadPoolExecutor(4) as pool:
        assert set(sink.land_batch("whoop", "recovery", "alice", batch, pool)) == {Landed.CREATED}
    curated = sink.curated.container
    names = [f"whoop/recovery/user=alice/date={f.local_date}/{f.record_id}.jsonl" for f in batch]
    etags = {name: curated.get_blob_client(name).get_blob_properties().etag for name in names}
    # the process died (or storage failed) between the raw and the curated write ...
    for name in names[:3]:
        curated.delete_blob(name)
    # ... an older revision's lines are left, or lines from an older mapping version
    stale = curated.get_blob_client(names[3])
    stale.set_blob_metadata({**stale.get_blob_properties().metadata, "raw_sha256": "0" * 64})
    old = curated.get_blob_client(names[35])
    old.set_blob_metadata({**old.get_blob_properties().metadata, "mapping_version": "0"})
    touched = set(names[:4]) | {names[35]}

    calls = CountingCalls()
    counted = RecordSink(
        BlobServiceClient.from_connection_string(app_env["AzureWebJobsStorage"], raw_request_hook=calls)
    )
    with ThreadPoolExecutor(4) as pool:
        assert set(counted.land_batch("whoop", "recovery", "alice", batch, pool)) == {Landed.UNCHANGED}

    for name, fetched in zip(names, batch, strict=True):
        properties = curated.get_blob_client(name).get_blob_properties()
        raw = Record("whoop", "recovery", "alice", fetched.record_id, str(fetched.local_date), fetched.content, "")
        assert properties.metadata["raw_sha256"] == content_hash(raw.body())
        assert properties.metadata["mapping_version"] == MAPPING_VERSION
        if name not in touched:
            assert properties.etag == etags[name]  # current ones are not rewritten
        lines = [json.loads(line) for line in curated.download_blob(name).readall().splitlines()]
        assert {line["indicator"]: line["value"] for line in lines}["recovery_score"] == fetched.content["score"][
            "recovery_score"
        ]
    curated_calls = [c for c in calls.calls if c[1].split("/")[2:3] == ["curated"]]
    reads = [c for c in curated_calls if c[0] == "GET" and "comp=list" not in c[2]]
    listings = [c for c in curated_calls if c[0] == "GET" and "comp=list" in c[2]]
    writes = [c for c in curated_calls if c[0] == "PUT"]
    assert reads == [] and len(listings) == 2  # one listing per month of the batch, no blob read
    assert len(writes) >= len(touched) and {c[1].split("/curated/")[1] for c in writes} == touched


def test_a_single_unchanged_record_with_no_curated_blob_gets_one_by_a_properties_call(ctx: AppContext) -> None:
    sink = RecordSink(ctx.storage.blobs)
    sink.ensure()
    fetched = recovery(1, 70)
    assert sink.land("whoop", "recovery", "bob", fetched) is Landed.CREATED
    name = f"whoop/recovery/user=bob/date={fetched.local_date}/1.jsonl"
    sink.curated.container.delete_blob(name)
    assert sink.land("whoop", "recovery", "bob", fetched) is Landed.UNCHANGED
    assert sink.curated.container.get_blob_client(name).get_blob_properties().metadata["raw_sha256"]
    # a record with no measurements has no curated blob, and that is current: nothing is written for it
    pending = Fetched("2", fetched.local_date, {"cycle_id": 2, "score_state": "PENDING_SCORE"}, "/v2/recovery")
    sink.land("whoop", "recovery", "bob", pending)
    assert sink.land("whoop", "recovery", "bob", pending) is Landed.UNCHANGED
    assert [b.name for b in sink.curated.container.list_blobs()] == [name]
