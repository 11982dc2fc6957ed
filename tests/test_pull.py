"""The pull, end to end against the sandbox vendors and Azurite: backfills land every record exactly once,
reruns change nothing, revisions overwrite, interrupted backfills resume, the rate limit holds across workers."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
import requests
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline import PipelineRequest
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from sandbox import Sandbox
from sandbox.function_host import http as call
from sandbox.function_host import invoke
from shared.app_context import AppContext, get_context
from shared.layout import CURATED_CONTAINER, RAW_CONTAINER
from shared.pull.backfill import BackfillRequest
from shared.pull.jobs import BACKFILL_QUEUE, LIVE_QUEUE, PullJob
from shared.pull.puller import PullOutcome, PullStatus
from shared.registry import Status
from shared.settings import load_settings
from tests.conftest import ROOT
from tests.sweeping import run_shards

END = date.today() - timedelta(days=3)
START = END - timedelta(days=364)


def landed(ctx: AppContext, vendor: str, data_type: str, user: str) -> dict[str, tuple[str, str]]:
    """record id -> (local date, ETag) of every raw blob of the type; fails on a record landed twice."""
    container = ctx.storage.blobs.get_container_client(RAW_CONTAINER)
    found: dict[str, tuple[str, str]] = {}
    for blob in container.list_blobs(name_starts_with=f"{vendor}/{data_type}/user={user}/"):
        day = blob.name.split("/date=")[1].split("/")[0]
        record_id = blob.name.rsplit("/", 1)[1].removesuffix(".json")
        assert record_id not in found, f"{record_id} landed on {found[record_id][0]} and on {day}"
        found[record_id] = (day, str(blob.etag))
    return found


def expected(sandbox: Sandbox, vendor: str, data_type: str, user: str, start: date, end: date) -> dict[str, str]:
    return {str(rid): day.isoformat() for rid, day in sandbox.expected_records(vendor, data_type, user, start, end)}


def in_range(found: dict[str, tuple[str, str]], start: date, end: date) -> dict[str, str]:
    return {rid: day for rid, (day, _) in found.items() if start.isoformat() <= day <= end.isoformat()}


def run_backfill(ctx: AppContext, body: dict[str, Any]) -> str:
    request = BackfillRequest.parse(body, ctx.settings, ctx.registry)
    job_id, chunks = ctx.backfills.create(request, runner="test")
    for chunk in chunks:
        outcome = ctx.pull.run_chunk(chunk, requeue=False, deadline=math.inf)
        assert outcome.status is PullStatus.DONE, outcome.line()
    return job_id


WHOOP_TYPES = ("cycle", "sleep", "recovery", "workout")


def test_one_year_whoop_backfill_lands_every_record_once_and_a_rerun_changes_nothing(
    ctx: AppContext, seed: Any, sandbox: Sandbox
) -> None:
    seed("whoop", "u-year")
    body = {"vendor": "whoop", "user_id": "u-year", "start": START.isoformat(), "end": END.isoformat()}
    job_id = run_backfill(ctx, body)
    first = {t: landed(ctx, "whoop", t, "u-year") for t in WHOOP_TYPES}
    for data_type in WHOOP_TYPES:
        want = expected(sandbox, "whoop", data_type, "u-year", START, END)
        assert len(want) > 250
        assert in_range(first[data_type], START, END) == want, data_type
    progress = ctx.backfills.progress(job_id)
    assert progress is not None and progress["status"] == "done"
    assert progress["chunks_done"] == progress["chunks_total"] == 4 * 5
    assert progress["records_landed"] == sum(len(v) for v in first.values())

    requests_before = len(sandbox.requests("whoop"))
    again = run_backfill(ctx, body)
    assert {t: landed(ctx, "whoop", t, "u-year") for t in WHOOP_TYPES} == first  # same blobs, same ETags
    second = ctx.backfills.progress(again)
    assert second is not None and second["records_landed"] == 0 and second["records_seen"] == progress["records_seen"]
    assert len(sandbox.requests("whoop")) > requests_before


def drain(ctx: AppContext, queue: str) -> list[func.QueueMessage]:
    """Take every visible message off a queue, as the Functions host would deliver them."""
    client = ctx.storage.queue(queue)
    messages = []
    for message in client.receive_messages(messages_per_page=32, visibility_timeout=60):
        messages.append(func.QueueMessage(id=message.id, body=message.content, pop_receipt=message.pop_receipt))
        client.delete_message(message)
    return messages


def live_pull(ctx: AppContext, vendor: str, user: str) -> list[PullOutcome]:
    return [ctx.puller.run(job) for job in ctx.pull.live_jobs(vendor, user)]


def age(ctx: AppContext, vendor: str, user: str, data_type: str, hours: float) -> None:
    """Make the last successful pull of one type ``hours`` old (the planner's freshness reads it)."""
    at = (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="seconds").replace("+00:00", "Z")
    ctx.pull_state.table.upsert_entity({"PartitionKey": f"{vendor}|{user}", "RowKey": data_type, "last_pull_at": at})


def blob_json(ctx: AppContext, container: str, name: str) -> Any:
    return json.loads(ctx.storage.blobs.get_blob_client(container, name).download_blob().readall())


def test_the_hourly_timer_queues_one_job_per_type_and_the_worker_moves_the_watermark(
    ctx: AppContext, seed: Any, sandbox: Sandbox
) -> None:
    seed("whoop", "u-live")
    invoke("pull_data", _Timer())
    run_shards(ctx)
    jobs = drain(ctx, LIVE_QUEUE)
    assert sorted(PullJob.parse(m.get_body()).data_type for m in jobs) == sorted((*WHOOP_TYPES, "body", "profile"))
    for message in jobs:
        invoke("pull_worker", message)
    today = date.today()
    sleep_state = ctx.pull_state.get("whoop", "u-live", "sleep")
    assert sleep_state is not None and sleep_state.watermark == today + timedelta(days=1)
    first = today - timedelta(days=ctx.settings.pull_initial_days)
    want = expected(sandbox, "whoop", "sleep", "u-live", first, today)
    assert in_range(landed(ctx, "whoop", "sleep", "u-live"), first, today) == want
    # an hour on, nothing is due; once a type's last pull is a day old (here: sleep's, aged by hand) the next run
    # queues it alone, from the watermark less the lookback, not from the beginning
    age(ctx, "whoop", "u-live", "sleep", hours=25)
    ctx.sweeps.start("pull", now=time.time() + 3600)  # the next hour's sweep
    run_shards(ctx)
    again = {PullJob.parse(m.get_body()).data_type: PullJob.parse(m.get_body()) for m in drain(ctx, LIVE_QUEUE)}
    lookback = timedelta(days=ctx.settings.pull_lookback_days)
    assert set(again) == {"sleep"}
    assert again["sleep"].first == sleep_state.watermark - lookback
    connection = ctx.registry.get("whoop", "u-live")
    assert connection is not None and connection.last_pull_at


def test_a_revised_record_is_overwritten_and_its_curated_lines_follow(
    ctx: AppContext, seed: Any, sandbox: Sandbox
) -> None:
    seed("whoop", "u-rev")
    live_pull(ctx, "whoop", "u-rev")
    before = landed(ctx, "whoop", "recovery", "u-rev")
    day = (date.today() - timedelta(days=2)).isoformat()
    target = next(rid for rid, (d, _) in before.items() if d == day)
    sandbox.revise("whoop", "recovery", "u-rev", date.fromisoformat(day))
    outcomes = {o.job.data_type: o for o in live_pull(ctx, "whoop", "u-rev")}
    assert outcomes["recovery"].updated == 1
    after = landed(ctx, "whoop", "recovery", "u-rev")
    assert after[target][1] != before[target][1]
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in before.items() if k != target}
    raw_name = f"whoop/recovery/user=u-rev/date={day}/{target}.json"
    record = blob_json(ctx, RAW_CONTAINER, raw_name)
    served = json.loads(
        requests.get(
            f"{sandbox.base_url}/whoop/developer/v2/cycle/{target}/recovery",
            headers={"Authorization": f"Bearer {sandbox.grant('whoop', 'u-rev')['access_token']}"},
            timeout=5,
        ).content
    )
    assert record == served  # the record exactly as the vendor now sends it
    lines = ctx.storage.blobs.get_blob_client(CURATED_CONTAINER, raw_name + "l").download_blob().readall()
    hrv = [json.loads(line) for line in lines.splitlines() if json.loads(line)["indicator"] == "hrv_rmssd"]
    assert hrv and hrv[0]["value"] == record["score"]["hrv_rmssd_milli"] and hrv[0]["unit"] == "ms"
    assert hrv[0]["source_record"] == f"{RAW_CONTAINER}/{raw_name}"


def test_curated_lines_that_never_came_are_written_by_the_next_pull_though_the_raw_records_are_unchanged(
    app_env: dict[str, str], seed: Any
) -> None:
    # a lookback of 5 days holds two scored recoveries at any hour (just after UTC midnight the newest are not)
    ctx = AppContext(load_settings({**app_env, "PULL_LOOKBACK_DAYS": "5"}))
    ctx.ensure_resources()
    seed("whoop", "u-cur")
    live_pull(ctx, "whoop", "u-cur")
    raw = landed(ctx, "whoop", "recovery", "u-cur")
    curated = ctx.storage.blobs.get_container_client(CURATED_CONTAINER)
    # the next pull re-reads the lookback days (from the watermark, tomorrow, less the lookback)
    since = (date.today() + timedelta(days=1 - ctx.settings.pull_lookback_days)).isoformat()
    recent = [
        b.name
        for b in curated.list_blobs(name_starts_with="whoop/recovery/user=u-cur/date=")
        if b.name.split("date=")[1] >= since
    ]
    assert len(recent) >= 2
    for name in recent:  # the process died between the raw write and the curated write
        curated.delete_blob(name)
    outcomes = {o.job.data_type: o for o in live_pull(ctx, "whoop", "u-cur")}
    assert outcomes["recovery"].landed == 0 and landed(ctx, "whoop", "recovery", "u-cur") == raw
    for name in recent:
        lines = curated.get_blob_client(name).download_blob().readall().splitlines()
        assert any(json.loads(line)["indicator"] == "recovery_score" for line in lines), name


def test_a_sleep_that_crosses_midnight_lands_on_the_morning_it_ends(ctx: AppContext, seed: Any) -> None:
    seed("whoop", "u-night")
    live_pull(ctx, "whoop", "u-night")
    found = landed(ctx, "whoop", "sleep", "u-night")
    checked = 0
    for record_id, (day, _) in found.items():
        record = blob_json(ctx, RAW_CONTAINER, f"whoop/sleep/user=u-night/date={day}/{record_id}.json")
        zone = datetime.strptime(record["timezone_offset"].replace(":", ""), "%z").tzinfo
        start = datetime.fromisoformat(record["start"]).astimezone(zone).date()
        end = datetime.fromisoformat(record["end"]).astimezone(zone).date()
        if start != end:
            checked += 1
            assert day == end.isoformat() != start.isoformat()
    assert checked >= 20


def test_empty_pages_with_a_next_token_do_not_end_the_paging(ctx: AppContext, seed: Any, sandbox: Sandbox) -> None:
    seed("whoop", "u-pages")
    sandbox.data_quirks["whoop"]["empty_page_every"] = 2
    start, end = date.today() - timedelta(days=80), date.today() - timedelta(days=1)
    run_backfill(
        ctx, {"vendor": "whoop", "user_id": "u-pages", "start": str(start), "end": str(end), "data_types": ["sleep"]}
    )
    assert in_range(landed(ctx, "whoop", "sleep", "u-pages"), start, end) == expected(
        sandbox, "whoop", "sleep", "u-pages", start, end
    )
    pages = sandbox.requests("whoop", "sleep")
    assert all(r.query["limit"] == "25" for r in pages)
    assert sum(1 for r in pages if "nextToken" in r.query) >= 4  # empty pages were followed, up to the last one


class _Timer:
    past_due = False


def cli(*args: str) -> subprocess.Popen[str]:
    """``python -m shared ...`` in a child process, with the test's app settings (os.environ)."""
    return subprocess.Popen(
        [sys.executable, "-m", "shared", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_backfill_resumes_with_no_gap_and_no_duplicate(ctx: AppContext, seed: Any, sandbox: Sandbox) -> None:
    seed("whoop", "u-crash")
    sandbox.set_latency("whoop", 0.25)
    start, end = date.today() - timedelta(days=400), date.today() - timedelta(days=2)
    args = ["backfill", "--vendor", "whoop", "--user", "u-crash", "--start", str(start), "--end", str(end)]
    child = cli(*args, "--types", "sleep,workout", "--concurrency", "1")
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and done < 3:
        time.sleep(0.2)
        jobs = list(ctx.backfills.table.query_entities("RowKey ne 'job' and status eq 'done'"))
        done = len(jobs)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert 3 <= done < 10, "the child was not killed in the middle of the backfill"
    sandbox.set_latency("whoop", 0.0)

    resumed = cli(*args, "--types", "sleep,workout")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "resuming backfill" in out and f"{done} of 10 chunks already done" in out
    assert "10/10 chunks" in err  # the progress bar
    for data_type in ("sleep", "workout"):
        found = landed(ctx, "whoop", data_type, "u-crash")  # fails on any record landed twice
        assert in_range(found, start, end) == expected(sandbox, "whoop", data_type, "u-crash", start, end)


def test_two_workers_pulling_at_once_never_exceed_the_vendors_rate_limit(
    ctx: AppContext, seed: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.rate_windows["whoop"] = (4, 86_400)  # WHOOP's minute, shortened to 4 s so the test is quick
    sandbox.rate_limits["whoop"] = (5, 10_000)
    monkeypatch.setenv("WHOOP_RATE_LIMITS", "5/4,10000/86400")
    monkeypatch.setenv("RATE_LIMIT_MARGIN_SECONDS", "1")
    start, end = date.today() - timedelta(days=70), date.today() - timedelta(days=2)
    children = []
    for user in ("u-a", "u-b"):
        seed("whoop", user)
        args = ["backfill", "--vendor", "whoop", "--user", user, "--start", str(start), "--end", str(end)]
        children.append(cli(*args, "--types", "sleep,cycle", "--concurrency", "3", "--quiet"))
    for child in children:
        _, err = child.communicate(timeout=180)
        assert child.returncode == 0, err
    assert sandbox.limit_exceeded("whoop") == 0
    assert sandbox.max_window_usage("whoop", 4) == 5  # the limit was reached: the workers had to pace
    assert len(sandbox.requests("whoop", "sleep")) + len(sandbox.requests("whoop", "cycle")) >= 12
    for user in ("u-a", "u-b"):
        for data_type in ("sleep", "cycle"):
            found = in_range(landed(ctx, "whoop", data_type, user), start, end)
            assert found == expected(sandbox, "whoop", data_type, user, start, end)


def test_backfill_over_http_is_queued_in_chunks_and_reports_its_progress(
    ctx: AppContext, seed: Any, sandbox: Sandbox
) -> None:
    seed("whoop", "u-http")
    start, end = date.today() - timedelta(days=200), date.today() - timedelta(days=1)
    body = {"vendor": "whoop", "user_id": "u-http", "start": str(start), "end": str(end), "data_types": ["sleep"]}
    response = call("backfill", "POST", "backfill", body=body)
    assert response.status_code == 202, response.get_body()
    job_id = json.loads(response.get_body())["job_id"]
    assert json.loads(response.get_body())["status_url"] == f"/api/backfill/{job_id}"

    def progress() -> dict[str, Any]:
        answer = call("backfill_status", "GET", f"backfill/{job_id}", route={"job_id": job_id})
        assert answer.status_code == 200
        result: dict[str, Any] = json.loads(answer.get_body())
        return result

    queued = progress()
    assert (queued["status"], queued["chunks_total"], queued["chunks_done"]) == ("queued", 3, 0)
    messages = drain(ctx, BACKFILL_QUEUE)
    assert len(messages) == 3
    invoke("backfill_worker", messages[0])
    running = progress()
    assert running["status"] == "running" and running["chunks_done"] == 1
    assert running["records_landed"] > 0 and running["estimated_seconds_left"] is not None
    for message in messages[1:] + messages[:1]:  # a redelivered message is a no-op
        invoke("backfill_worker", message)
    finished = progress()
    assert finished["status"] == "done" and finished["chunks_done"] == 3 and finished["estimated_seconds_left"] == 0
    want = expected(sandbox, "whoop", "sleep", "u-http", start, end)
    assert finished["records_landed"] == len(want)
    assert in_range(landed(ctx, "whoop", "sleep", "u-http"), start, end) == want


class QueueOutage:
    """Storage that stops taking messages after ``works_for`` of them: a real QueueClient whose requests fail,
    from then on, the way a connection to storage fails (the fault is injected in the SDK's own pipeline)."""

    def __init__(self, connection_string: str, works_for: int) -> None:
        self.connection_string, self.works_for, self.sent, self.down = connection_string, works_for, 0, True

    def hook(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        if request.http_request.method != "POST" or not request.http_request.url.split("?")[0].endswith("/messages"):
            return
        if self.down and self.sent >= self.works_for:
            raise ServiceRequestError("injected: storage unreachable")
        self.sent += 1

    def queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(
            self.connection_string,
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            retry_total=0,
            raw_request_hook=self.hook,
        )


def partly_queued_backfill(
    ctx: AppContext, app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, body: dict[str, Any]
) -> tuple[dict[str, Any], QueueOutage]:
    """POST /api/backfill while storage stops after 2 of the chunk messages."""
    outage = QueueOutage(app_env["AzureWebJobsStorage"], works_for=2)
    monkeypatch.setattr(get_context().pull, "queue", outage.queue)
    response = call("backfill", "POST", "backfill", body=body)
    assert response.status_code == 503, response.get_body()
    answer: dict[str, Any] = json.loads(response.get_body())
    return answer, outage


def test_a_backfill_queued_only_in_part_says_what_was_queued_and_the_same_request_again_queues_the_rest(
    ctx: AppContext, app_env: dict[str, str], seed: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed("whoop", "u-part")
    start, end = date.today() - timedelta(days=200), date.today() - timedelta(days=1)
    body = {
        "vendor": "whoop",
        "user_id": "u-part",
        "start": str(start),
        "end": str(end),
        "data_types": ["sleep", "cycle"],
    }
    answer, outage = partly_queued_backfill(ctx, app_env, monkeypatch, body)
    job_id = answer["job_id"]
    assert (answer["chunks_queued"], answer["chunks_total"]) == (2, 6)
    assert answer["status_url"] == f"/api/backfill/{job_id}" and "same request again" in answer["error"]
    progress = ctx.backfills.progress(job_id)
    assert progress is not None and (progress["status"], progress["chunks_unqueued"]) == ("partly_queued", 4)

    outage.down = False  # storage is back: the same request finishes the job instead of starting another
    again = call("backfill", "POST", "backfill", body=body)
    assert again.status_code == 202, again.get_body()
    resumed = json.loads(again.get_body())
    assert (resumed["job_id"], resumed["chunks"], resumed["resumed"]) == (job_id, 6, True)
    messages = drain(ctx, BACKFILL_QUEUE)
    chunks = sorted(PullJob.parse(m.get_body()).chunk for m in messages)
    assert chunks == [f"c{n:05d}" for n in range(6)]  # every chunk has exactly one message
    queued = ctx.backfills.progress(job_id)
    assert queued is not None and (queued["status"], queued["chunks_unqueued"]) == ("queued", 0)
    for message in messages:
        invoke("backfill_worker", message)
    finished = ctx.backfills.progress(job_id)
    assert finished is not None and finished["status"] == "done" and finished["chunks_done"] == 6
    for data_type in ("sleep", "cycle"):
        want = expected(sandbox, "whoop", data_type, "u-part", start, end)
        assert in_range(landed(ctx, "whoop", data_type, "u-part"), start, end) == want
    fresh = call("backfill", "POST", "backfill", body=body)  # a finished job is not resumed: a new one starts
    assert fresh.status_code == 202 and json.loads(fresh.get_body())["job_id"] != job_id


def test_the_command_line_finishes_a_backfill_whose_queueing_stopped_half_way(
    ctx: AppContext, app_env: dict[str, str], seed: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed("whoop", "u-part-cli")
    start, end = date.today() - timedelta(days=200), date.today() - timedelta(days=1)
    body = {"vendor": "whoop", "user_id": "u-part-cli", "start": str(start), "end": str(end), "data_types": ["sleep"]}
    answer, _ = partly_queued_backfill(ctx, app_env, monkeypatch, body)
    args = ["backfill", "--vendor", "whoop", "--user", "u-part-cli", "--start", str(start), "--end", str(end)]
    resumed = cli(*args, "--types", "sleep", "--quiet")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert f"resuming backfill {answer['job_id']}: 0 of 3 chunks already done (1 never queued)" in out
    assert "done, 3/3 chunks" in out
    progress = ctx.backfills.progress(answer["job_id"])
    assert progress is not None and progress["status"] == "done" and progress["chunks_unqueued"] == 0
    want = expected(sandbox, "whoop", "sleep", "u-part-cli", start, end)
    assert in_range(landed(ctx, "whoop", "sleep", "u-part-cli"), start, end) == want
    messages = drain(ctx, BACKFILL_QUEUE)
    assert len(messages) == 2
    sent = len(sandbox.requests("whoop"))
    for message in messages:  # the two messages that were queued find their chunks done: nothing is pulled again
        invoke("backfill_worker", message)
    assert len(sandbox.requests("whoop")) == sent


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"vendor": "whoop", "user_id": "u-bad", "start": "2026-01-01"}, 400, "missing end"),
        ({"vendor": "whoop", "user_id": "u-bad", "start": "2026-13-01", "end": "2026-02-01"}, 400, "YYYY-MM-DD"),
        ({"vendor": "whoop", "user_id": "u-bad", "start": "2026-02-01", "end": "2026-01-01"}, 400, "end is before"),
        ({"vendor": "whoop", "user_id": "u-bad", "start": "2016-01-01", "end": "2026-11-01"}, 400, "longer than"),
        ({"vendor": "garmin", "user_id": "u-bad", "start": "2026-01-01", "end": "2026-01-02"}, 404, "unknown vendor"),
        ({"vendor": "whoop", "user_id": "nobody", "start": "2026-01-01", "end": "2026-01-02"}, 404, "no whoop"),
        (
            {"vendor": "whoop", "user_id": "u-bad", "start": "2026-01-01", "end": "2026-01-02", "data_types": ["x"]},
            400,
            "unknown data types",
        ),
        ({"vendor": "whoop", "user_id": "../x", "start": "2026-01-01", "end": "2026-01-02"}, 400, "user_id"),
    ],
)
def test_a_bad_backfill_request_gets_a_clear_error_and_queues_nothing(
    ctx: AppContext, seed: Any, body: dict[str, Any], status: int, message: str
) -> None:
    seed("whoop", "u-bad")
    response = call("backfill", "POST", "backfill", body=body)
    assert response.status_code == status
    assert message in json.loads(response.get_body())["error"]
    assert drain(ctx, BACKFILL_QUEUE) == []


def test_no_backfill_for_a_connection_that_needs_reauthorisation(ctx: AppContext, seed: Any) -> None:
    seed("whoop", "u-gone")
    ctx.registry.update("whoop", "u-gone", status=Status.REAUTH_REQUIRED)
    body = {"vendor": "whoop", "user_id": "u-gone", "start": "2026-01-01", "end": "2026-01-02"}
    response = call("backfill", "POST", "backfill", body=body)
    assert response.status_code == 409 and "reconnect" in json.loads(response.get_body())["error"]
    unknown = call("backfill_status", "GET", "backfill/0123", route={"job_id": "0123"})
    assert unknown.status_code == 404


def test_the_app_creates_exactly_the_queues_and_tables_the_infrastructure_declares(ctx: AppContext) -> None:
    from shared import resources

    tables = {t.name for t in ctx.storage.tables.list_tables()}
    queues = {q.name for q in ctx.storage.queues.list_queues()}
    assert tables == set(resources.TABLES)
    assert queues == set(resources.WORK_QUEUES)  # poison queues are made by the host (and by the infra)
