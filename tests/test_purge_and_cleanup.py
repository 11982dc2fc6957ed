"""Purge deletes a user's landed data for real (every version), and the hourly clean-up deletes the rows that
would otherwise grow for ever: expired OAuth state and old notification dedup rows. Against Azurite."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline import PipelineRequest
from azure.data.tables import TableClient
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobServiceClient

from shared.app_context import AppContext
from shared.cleanup import CleanupFailed, CleanupStep, old_dedup_rows, run_cleanup, run_steps
from shared.layout import CURATED_CONTAINER, RAW_CONTAINER, curated_blob_name, record_blob_name
from shared.notify import NOTIFY_DEDUP_TABLE
from shared.oauth_state import PARTITION
from tests.host import functions, trigger

# -- purge ----------------------------------------------------------------------------------------------------------


def land(ctx: AppContext, vendor: str, user_id: str, data_type: str, record_id: str) -> None:
    blobs = ctx.storage.blobs
    date = "2025-03-01"
    blobs.get_blob_client(RAW_CONTAINER, record_blob_name(vendor, data_type, user_id, date, record_id)).upload_blob(
        b'{"id": 1}', overwrite=True
    )
    blobs.get_blob_client(
        CURATED_CONTAINER, curated_blob_name(vendor, data_type, user_id, date, record_id)
    ).upload_blob(b'{"value": 1}\n', overwrite=True)


def names(ctx: AppContext, container: str) -> set[str]:
    client = ctx.storage.blobs.get_container_client(container)
    return {b.name for b in client.list_blobs(include=["versions", "snapshots"])}


def test_purge_deletes_every_landed_blob_of_the_user_raw_and_curated_and_nothing_else(ctx: AppContext) -> None:
    for data_type, record in (("sleep", "s1"), ("sleep", "s2"), ("cycle", "c1")):
        land(ctx, "whoop", "alice", data_type, record)
    land(ctx, "whoop", "alice2", "sleep", "s1")  # a user id that starts with alice's
    land(ctx, "whoop", "bob", "sleep", "s1")
    land(ctx, "fitbit", "alice", "sleep", "s1")  # alice's other vendor

    assert ctx.connect.purge_data("whoop", "alice") == 6  # 3 raw + 3 curated

    for container in (RAW_CONTAINER, CURATED_CONTAINER):
        left = names(ctx, container)
        assert not [n for n in left if n.startswith("whoop/") and "/user=alice/" in n], left
        assert {n.split("/")[0] + "/" + n.split("/")[2] for n in left} == {
            "whoop/user=alice2",
            "whoop/user=bob",
            "fitbit/user=alice",
        }
    assert ctx.connect.purge_data("whoop", "alice") == 0  # again: nothing left, no error


class Recorder:
    """Notes each request the real client sends (method, query, headers): what purge asks the service to do.
    Installed with the storage SDK's documented ``raw_request_hook``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []

    def __call__(self, request: PipelineRequest[Any]) -> None:
        http = request.http_request
        self.requests.append((http.method, parse_qs(urlparse(http.url).query), dict(http.headers)))


def test_purge_lists_every_version_and_deletes_each_blob_with_its_snapshots(
    ctx: AppContext, app_env: dict[str, str]
) -> None:
    """Azurite keeps no versions, so this proves the requests: the listing asks for versions (in Azure each
    listed version is then deleted by id), and every delete by name takes the snapshots with it."""
    land(ctx, "whoop", "carol", "sleep", "s1")
    recorder = Recorder()
    ctx.connect.blobs = BlobServiceClient.from_connection_string(
        app_env["AzureWebJobsStorage"], raw_request_hook=recorder
    )
    assert ctx.connect.purge_data("whoop", "carol") == 2
    listings = [query for method, query, _ in recorder.requests if method == "GET" and "user=carol/" in str(query)]
    assert listings and all(query.get("include") == ["versions"] for query in listings), listings
    deletes = [headers for method, _, headers in recorder.requests if method == "DELETE"]
    assert len(deletes) == 2 and all(h.get("x-ms-delete-snapshots") == "include" for h in deletes)
    assert not names(ctx, RAW_CONTAINER) and not names(ctx, CURATED_CONTAINER)


# -- clean-up -------------------------------------------------------------------------------------------------------


def states_table(ctx: AppContext) -> TableClient:
    return ctx.states.table


def issue_state(ctx: AppContext, user_id: str, expired_seconds_ago: float | None = None) -> str:
    state = ctx.states.issue("whoop", user_id, "http://localhost:7071/api/callback/whoop", pkce=False).state
    if expired_seconds_ago is not None:
        states_table(ctx).update_entity(
            {"PartitionKey": PARTITION, "RowKey": state, "expires_at": time.time() - expired_seconds_ago}
        )
    return state


def state_rows(ctx: AppContext) -> set[str]:
    return {
        row["RowKey"] for row in states_table(ctx).query_entities("PartitionKey eq @p", parameters={"p": PARTITION})
    }


def dedup_table(ctx: AppContext) -> TableClient:
    return ctx.storage.tables.get_table_client(NOTIFY_DEDUP_TABLE)


def add_dedup_rows(ctx: AppContext, count: int) -> None:
    for i in range(count):
        dedup_table(ctx).create_entity(
            {"PartitionKey": f"trace-{i}", "RowKey": "whoop", "received_at": time.time(), "kind": "sleep.updated"}
        )


def test_cleanup_deletes_oauth_state_expired_for_more_than_an_hour_and_keeps_the_rest(ctx: AppContext) -> None:
    long_expired = issue_state(ctx, "a", expired_seconds_ago=2 * 3600)
    just_expired = issue_state(ctx, "b", expired_seconds_ago=30 * 60)  # a late callback still hears "expired"
    live = issue_state(ctx, "c")

    report = run_cleanup(ctx)

    assert report.deleted["oauthstate"] == 1
    assert state_rows(ctx) == {just_expired, live}
    assert long_expired not in state_rows(ctx)


def test_cleanup_deletes_notification_dedup_rows_a_day_after_they_were_written(ctx: AppContext) -> None:
    add_dedup_rows(ctx, 3)
    now = datetime.now(UTC)
    assert run_cleanup(ctx, now=now + timedelta(hours=2)).deleted["notifydedup"] == 0  # WHOOP may still retry
    assert run_cleanup(ctx, now=now + timedelta(hours=25)).deleted["notifydedup"] == 3
    assert not list(dedup_table(ctx).list_entities())


def test_a_failing_cleanup_step_does_not_stop_the_others_and_fails_the_run(ctx: AppContext) -> None:
    add_dedup_rows(ctx, 2)

    def broken(now: datetime, deadline: float) -> int:
        raise ServiceRequestError("connection refused")

    steps = [
        CleanupStep("broken", broken),
        CleanupStep("notifydedup", lambda now, deadline: old_dedup_rows(dedup_table(ctx), now, deadline)),
    ]
    with pytest.raises(CleanupFailed, match="broken") as failure:
        run_steps(steps, now=datetime.now(UTC) + timedelta(days=2))
    assert "notifydedup 2" in str(failure.value)
    assert not list(dedup_table(ctx).list_entities())


def test_the_cleanup_timer_runs_on_its_setting_and_deletes_expired_state(ctx: AppContext) -> None:
    binding = trigger("cleanup")
    assert binding["type"] == "timerTrigger" and binding["schedule"] == "%CLEANUP_SCHEDULE%"
    stale = issue_state(ctx, "d", expired_seconds_ago=3 * 3600)
    functions()["cleanup"].get_user_function()(TimerRequest(past_due=False))
    assert stale not in state_rows(ctx)


def test_the_cleanup_timer_discards_unconfirmed_connections_and_forgets_quiet_unknown_users(
    app_env: dict[str, str], ctx: AppContext, sandbox: Any
) -> None:
    from shared.app_context import get_context
    from shared.cleanup import UNKNOWN_KEEP
    from shared.notify.worker import NOTIFY_UNKNOWN_TABLE
    from tests.host import callback, confirm_code, connect_link, consent

    assert confirm_code(callback("whoop", consent(connect_link("whoop", "late"), "late"))) is not None
    (row,) = get_context().pending.table.list_entities()
    get_context().pending.table.update_entity(
        {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], "expires_at": 1.0}
    )
    unknown = ctx.storage.tables.get_table_client(NOTIFY_UNKNOWN_TABLE)
    unknown.upsert_entity({"PartitionKey": "codoon", "RowKey": "stranger", "count": 1})

    functions()["cleanup"].get_user_function()(TimerRequest(past_due=False))
    assert list(get_context().pending.table.list_entities()) == [], "the unconfirmed connection is discarded"
    assert sandbox.revoked("whoop", "late"), "and its grant revoked"
    assert [r["RowKey"] for r in unknown.list_entities() if r["PartitionKey"] == "codoon"] == ["stranger"]

    report = run_cleanup(ctx, now=datetime.now(UTC) + UNKNOWN_KEEP + timedelta(days=1))
    assert report.deleted["notifyunknown"] == 1
    assert [r for r in unknown.list_entities() if r["PartitionKey"] == "codoon"] == []
