"""The storage clients keep their connections when many threads call at once (a sweep's send threads, the host's
queue batches): a call beyond urllib3's default pool of 10 used to open a connection of its own and throw it
away afterwards, a TCP and TLS handshake per call in Azure."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest

from sandbox.azurite import Azurite
from shared.settings import StorageSettings
from shared.storage import QuickFailure, Storage

THREADS, ROUNDS = 24, 4


@pytest.mark.parametrize("quick", [None, QuickFailure()], ids=["app", "command line"])
def test_more_than_ten_threads_at_once_reuse_their_connections_round_after_round(
    azurite: str, caplog: pytest.LogCaptureFixture, quick: QuickFailure | None
) -> None:
    storage = Storage(StorageSettings(connection_string=azurite), quick)
    name = f"pool{uuid.uuid4().hex[:12]}"
    queue = storage.queue(name)
    queue.create_queue()
    container = storage.blobs.create_container(name)
    table = storage.tables.create_table(name)
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for round_ in range(ROUNDS):
                start.wait(timeout=30)  # every thread calls at once, each round
                queue.send_message(f"{n}-{round_}")
                container.upload_blob(f"{n}/{round_}.json", b"{}", overwrite=True)
                table.upsert_entity({"PartitionKey": str(n), "RowKey": str(round_)})
        except BaseException as error:  # reported by the test below
            errors.append(error)

    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert queue.get_queue_properties().approximate_message_count == THREADS * ROUNDS
    assert len(list(container.list_blobs())) == THREADS * ROUNDS
    assert len(list(table.list_entities())) == THREADS * ROUNDS

    texts = [record.getMessage() for record in caplog.records if record.name == "urllib3.connectionpool"]
    assert not [text for text in texts if "pool is full" in text]
    opened = [text for text in texts if text.startswith("Starting new HTTP")]
    # at most one connection per thread and service (three services, one host and port each), kept for the
    # rounds after the first; a pool of 10 opens 14 more per service and round
    assert len(opened) <= THREADS * 3


def test_an_emulator_started_without_garbage_collection_serves_queues_and_blobs() -> None:
    """``bench.reach`` holds one emulator for an hour with Azurite's mark and sweep off (it stalls the emulator for
    minutes at 1,000 users); starting fails if the hook no longer finds Azurite's collectors."""
    with Azurite(collect_garbage=False) as emulator:
        storage = Storage(StorageSettings(connection_string=emulator.connection_string))
        queue = storage.queue("no-gc")
        queue.create_queue()
        queue.send_message("kept")
        container = storage.blobs.create_container("no-gc")
        container.upload_blob("a.json", b"{}")
        container.upload_blob("a.json", b"[]", overwrite=True)
        assert [m.content for m in queue.receive_messages()] == [b"kept"]
        assert container.download_blob("a.json").readall() == b"[]"
