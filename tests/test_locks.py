"""The per-connection lock: a blob lease renewed while held (so a long refresh keeps it) and released on
every path, including an exception."""

from __future__ import annotations

import threading
import time

import pytest

from shared.app_context import AppContext
from shared.locks import ConnectionLocks, LockTimeout


def other_worker(ctx: AppContext, wait: float) -> ConnectionLocks:
    """Another worker's view of the same locks."""
    return ConnectionLocks(ctx.storage.blobs, lease_seconds=15, wait_seconds=wait)


def test_the_lease_is_renewed_while_held_beyond_its_term(ctx: AppContext) -> None:
    locks = ConnectionLocks(ctx.storage.blobs, lease_seconds=15, wait_seconds=5)
    outcome: list[str] = []

    def competitor() -> None:
        try:
            with other_worker(ctx, wait=3).hold("fitbit", "long-holder"):
                outcome.append("acquired")
        except LockTimeout:
            outcome.append("timed out")

    with locks.hold("fitbit", "long-holder") as held:
        assert held is not None
        time.sleep(18)  # longer than the 15 s lease: only renewal keeps it ours
        assert not held.lost.is_set()
        blob_names = [b.name for b in ctx.storage.blobs.get_container_client("locks").list_blobs()]
        assert len(blob_names) == 1
        props = ctx.storage.blobs.get_blob_client("locks", blob_names[0]).get_blob_properties()
        assert props.lease.state == "leased"
        # another process (its own client, not queued behind this process's in-process lock) cannot take it
        assert other_worker(ctx, wait=1)._try_acquire(blob_names[0]) is None
    thread = threading.Thread(target=competitor)
    thread.start()
    thread.join()
    assert outcome == ["acquired"], "released at the end of the block"


def test_the_lock_is_released_when_the_holder_raises(ctx: AppContext) -> None:
    locks = ConnectionLocks(ctx.storage.blobs, lease_seconds=15, wait_seconds=2)
    with pytest.raises(RuntimeError), locks.hold("whoop", "unlucky"):
        raise RuntimeError("the vendor call blew up")
    started = time.monotonic()
    with locks.hold("whoop", "unlucky") as held:
        assert held is not None
    assert time.monotonic() - started < 1.0, "no waiting for a lease left behind"


def test_a_waiter_gives_up_with_lock_timeout_and_can_stop_waiting_early(ctx: AppContext) -> None:
    locks = ConnectionLocks(ctx.storage.blobs, lease_seconds=15, wait_seconds=1.5)
    with locks.hold("codoon", "busy"):
        blob = next(iter(ctx.storage.blobs.get_container_client("locks").list_blobs())).name
        competing = other_worker(ctx, wait=1.5)
        with pytest.raises(LockTimeout):
            competing._acquire_lease(blob, time.monotonic() + 1.5, None, "codoon/busy")
        assert competing._acquire_lease(blob, time.monotonic() + 5, lambda: True, "codoon/busy") is None
