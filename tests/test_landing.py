"""Landing records in Blob Storage (Azurite): once, unchanged writes change nothing, revisions overwrite."""

from __future__ import annotations

import threading
from collections import Counter

from shared.app_context import AppContext
from shared.landing import HASH_KEY, Landed, LandingWriter, Record, content_hash


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
