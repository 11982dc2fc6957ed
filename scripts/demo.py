"""``make demo``: the main job end to end on embedded defaults, all on this machine.

Starts Azurite (the real Azure Storage emulator) and the sandbox vendors, then, through the app's own
function handlers as the Functions host would call them: connects a demo user to WHOOP, Fitbit, Codoon, Oura and
Withings
(connect link -> our start route -> vendor consent -> callback -> the product confirms), lands two weeks of the
user's Fitbit history as it stood before Google turned the Fitbit API off, runs the six-hourly rotation (timer ->
queue -> worker), refreshes an expired access token on demand, turns the Fitbit twin off (every call answers 410,
as since 2026-11-02: the connection becomes vendor_retired and the status lists it with a Google Health connect
link), connects Google Health through that link (the Fitbit connection moves over: marked moved, its secret
disabled, Google Health's history starting the day after Fitbit's), runs the hourly pull (timer -> queue -> worker),
shows the one continuous history, lands a Codoon route from its gps_sports notification (HTTP -> queue -> worker)
and a year's WHOOP backfill (HTTP -> queue -> worker), prints per vendor and type the records, curated blobs
and dates that landed, and prints the status table. Tokens live in a local secret
store in a temporary folder; nothing is printed but health.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from sandbox import Sandbox
from sandbox.azurite import Azurite
from sandbox.function_host import Browser, confirm, confirm_code, http, invoke

VENDORS = ("whoop", "fitbit", "codoon", "oura", "withings")
USER = "demo-user"
FITBIT_STOPPED_DAYS_AGO = 7  # the demo user's Fitbit history ends a week ago: Google Health carries on from there


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def connect(vendor: str) -> None:
    response = http("connect", "POST", f"connect/{vendor}", route={"vendor": vendor}, body={"user_id": USER})
    link = json.loads(response.get_body())
    browser = Browser()  # the user's browser: our start route sets the cookie the callback checks
    params = browser.consent(link["link_web_url"], USER)
    page = browser.callback(vendor, params)
    code = confirm_code(page)  # the product receives it on POST_CONNECT_REDIRECT_URL
    confirmed = confirm(code, USER) if code else None  # ... and confirms it for the user of its session
    status = http("connection", "GET", f"connections/{vendor}/{USER}", route={"vendor": vendor, "user_id": USER})
    health = json.loads(status.get_body())
    print(
        f"  {vendor:7} connect link valid until {link['expires_at']}; callback answered {page.status_code}; "
        f"product confirmed: {confirmed.status_code if confirmed else '-'}; "
        f"status {health['status']}, vendor user id {health['vendor_user_id']}, {len(health['scopes'])} scopes"
    )


def fitbit_history(sandbox: Sandbox) -> None:
    """Two weeks of Fitbit days up to a week ago, pulled as the live pull did before the turn-off (the twins'
    clock stands at the end of that day meanwhile)."""
    from datetime import UTC, datetime, timedelta

    from shared.app_context import get_context
    from shared.pull.jobs import PullJob
    from shared.vendors.registry import vendor_for

    ctx = get_context()
    stop = datetime.now(UTC).date() - timedelta(days=FITBIT_STOPPED_DAYS_AGO)
    zone = sandbox.timezone_offset("fitbit", USER)  # like "-05:00": the user's end of that day, in UTC
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) * (-1 if zone[0] == "-" else 1)
    sandbox.set_data_now(datetime.combine(stop, datetime.min.time(), UTC) + timedelta(hours=23, minutes=59) - offset)
    landed = 0
    for name in vendor_for("fitbit").data.data_types:
        landed += ctx.puller.run(PullJob("fitbit", USER, name, stop - timedelta(days=13), stop)).landed
    sandbox.set_data_now(datetime.now(UTC))  # back to today
    print(f"  fitbit: {landed} records landed for {stop - timedelta(days=13)} .. {stop}")


def fitbit_turned_off(sandbox: Sandbox) -> str:
    """Google's turn-off: the rotation meets 410; the status lists the connection with a Google Health link."""
    import contextlib
    import io

    from sandbox.vendors.fitbit import retire
    from shared.app_context import get_context
    from shared.cli_moves import print_moves

    retire(sandbox)
    ctx = get_context()
    result = ctx.tokens.rotate("fitbit", USER, force=True)
    connection = ctx.registry.get("fitbit", USER)
    assert connection is not None
    print(f"  the rotation of fitbit/{USER}: {result.outcome.value}; status {connection.status.value}:")
    print(f"    {connection.last_error}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # what `python -m shared status` prints below its table
        print_moves(ctx, list(ctx.registry.list("fitbit")))
    listing = out.getvalue()
    print("  python -m shared status --vendor fitbit, below the connections:")
    print("\n".join(f"    {line}" for line in listing.strip().splitlines()))
    return next(word for word in listing.split() if "/api/connect/google_health/start" in word)


def google_health_takes_over(sandbox: Sandbox, link: str) -> None:
    """The user opens the link and consents at Google; the identity names their Fitbit id: the move."""
    from sandbox.vendors.google_health import set_legacy_user_id
    from shared.app_context import get_context

    set_legacy_user_id(USER, sandbox.vendor_user_id("fitbit", USER))  # the same person at Google and at Fitbit
    browser = Browser()
    page = browser.callback("google_health", browser.consent(link, USER))
    confirmed = confirm(confirm_code(page) or "", USER)
    health = json.loads(confirmed.get_body())
    moved = get_context().registry.get("fitbit", USER)
    assert moved is not None
    print(
        f"  google_health: product confirmed {confirmed.status_code}; status {health['status']}, history from "
        f"{health.get('history_from')} (moved from {health.get('moved_from')})"
    )
    print(
        f"  fitbit/{USER}: {moved.status.value} to {moved.moved_to} at {moved.moved_at}; its data until "
        f"{moved.data_until} stays where it landed; secret disabled: {get_context().vault.read('fitbit', USER) is None}"
    )


def continuous_history() -> None:
    """Which days of the demo user's curated history came from which vendor."""
    from datetime import date, timedelta

    from shared.app_context import get_context
    from shared.layout import CURATED_CONTAINER

    container = get_context().storage.blobs.get_container_client(CURATED_CONTAINER)
    days: dict[str, set[date]] = {"fitbit": set(), "google_health": set()}
    for vendor, found in days.items():
        for blob in container.list_blobs(name_starts_with=f"{vendor}/"):
            found.add(date.fromisoformat(blob.name.split("/")[3].removeprefix("date=")))
    both = days["fitbit"] & days["google_health"]
    every = days["fitbit"] | days["google_health"]
    span = {min(every) + timedelta(days=n) for n in range((max(every) - min(every)).days + 1)}
    for vendor, found in days.items():
        print(f"  {vendor:13} curated days {min(found)} .. {max(found)} ({len(found)} days)")
    print(f"  days from both: {len(both)}; days missing between {min(every)} and {max(every)}: {len(span - every)}")


def rotate() -> None:
    from azure.functions import QueueMessage
    from azure.functions.timer import TimerRequest

    from shared.app_context import get_context
    from shared.storage import SWEEP_QUEUE

    invoke("rotate_tokens", TimerRequest(past_due=False))
    shards = drain_and_work(SWEEP_QUEUE, "sweep_shard")
    print(f"  the rotation timer queued {len(shards)} sweep shards; each shard's worker enqueued its due connections")
    queue = get_context().rotate_queue()
    messages = list(queue.receive_messages(messages_per_page=32))
    print(f"  the rotation timer enqueued {len(messages)} jobs; the queue worker runs each:")
    for message in messages:
        invoke("rotate_connection", QueueMessage(id=message.id, body=message.content, pop_receipt=message.pop_receipt))
        queue.delete_message(message)
        job = json.loads(message.content)
        connection = get_context().registry.get(job["vendor"], job["user_id"])
        rotated = connection.last_rotation_at if connection else "?"
        print(f"    {job['vendor']:7} rotated at {rotated}")


def refresh_on_demand(sandbox: Sandbox) -> None:
    from dataclasses import replace

    from shared.app_context import get_context

    ctx = get_context()
    stored = ctx.vault.read("whoop", USER)
    assert stored is not None
    ctx.vault.write("whoop", USER, replace(stored.pair, expires_at=time.time() - 1))  # an hour has passed
    ctx.tokens.cache.put("whoop", USER, None)
    before = sandbox.refresh_count("whoop")
    token = ctx.tokens.access_token_for("whoop", USER)
    works = sandbox.check_bearer("whoop", f"Bearer {token}") == USER
    print(
        f"  whoop access token had expired: refreshed on demand ({sandbox.refresh_count('whoop') - before} "
        f"vendor refresh), accepted by the vendor: {works}"
    )


def drain_and_work(queue_name: str, function: str) -> list[dict[str, object]]:
    """Deliver every message of a queue to its function, as the host would (continuations included)."""
    from azure.functions import QueueMessage

    from shared.app_context import get_context

    queue = get_context().storage.queue(queue_name)
    done: list[dict[str, object]] = []
    while messages := list(queue.receive_messages(messages_per_page=32, visibility_timeout=300)):
        for message in messages:
            invoke(function, QueueMessage(id=message.id, body=message.content, pop_receipt=message.pop_receipt))
            queue.delete_message(message)
            done.append(json.loads(message.content))
    return done


def landed_table(only: str | None = None) -> None:
    from collections import defaultdict

    from shared.app_context import get_context
    from shared.layout import CURATED_CONTAINER, RAW_CONTAINER

    blobs = get_context().storage.blobs
    raw: dict[tuple[str, str], list[str]] = defaultdict(list)
    for blob in blobs.get_container_client(RAW_CONTAINER).list_blobs():
        vendor, data_type, _, day, _ = blob.name.split("/")
        raw[(vendor, data_type)].append(day.removeprefix("date="))
    lines: dict[tuple[str, str], int] = defaultdict(int)
    for blob in blobs.get_container_client(CURATED_CONTAINER).list_blobs():
        vendor, data_type = blob.name.split("/")[:2]
        lines[(vendor, data_type)] += 1
    print(f"  {'VENDOR':13} {'TYPE':28} {'RECORDS':>7} {'CURATED':>7}  DATES")
    for (vendor, data_type), days in sorted(raw.items()):
        if only and vendor != only:
            continue
        print(
            f"  {vendor:13} {data_type:28} {len(days):7} {lines[(vendor, data_type)]:7}  "
            f"{min(days)} .. {max(days)} ({len(set(days))} days)"
        )


def pull() -> None:
    from azure.functions.timer import TimerRequest

    from shared.pull.jobs import LIVE_QUEUE
    from shared.storage import SWEEP_QUEUE

    invoke("pull_data", TimerRequest(past_due=False))
    drain_and_work(SWEEP_QUEUE, "sweep_shard")  # each shard's worker queues its connections' jobs
    jobs = drain_and_work(LIVE_QUEUE, "pull_worker")
    print(f"  the pull timer queued {len(jobs)} jobs (one per connection and data type); the worker pulled each.")
    print("  Landed in raw/ (one blob per record, on its local date) and curated/ (JSON lines per record):")
    landed_table()


def codoon_route(sandbox: Sandbox) -> None:
    """Codoon has no method that lists routes: a route arrives as a gps_sports notification (no times, as its
    document says), and the worker lands it with get_route_by_id."""
    from datetime import date, timedelta

    from sandbox.vendors.codoon.notify import codoon_form
    from shared.notify import NOTIFY_QUEUE

    today = date.today()
    routes = sandbox.expected_records("codoon", "route", USER, today - timedelta(days=30), today)
    if not routes:
        print("  the sandbox has no Codoon route in the last 30 days")
        return
    route_id = str(routes[-1][0])
    headers, form = codoon_form(sandbox.vendor_user_id("codoon", USER), "gps_sports", route_id, "", "")
    answer = http("notify", "POST", "notify/codoon", route={"vendor": "codoon"}, raw=form, headers=headers)
    worked = drain_and_work(NOTIFY_QUEUE, "notify_worker")
    print(f"  POST /api/notify/codoon (gps_sports {route_id}): {answer.status_code}; {len(worked)} message worked")
    landed_table("codoon")


def oura_webhooks(sandbox: Sandbox) -> None:
    from datetime import date, timedelta

    from azure.functions.timer import TimerRequest

    from sandbox.vendors.oura.notify import challenge_request, notification
    from sandbox.vendors.oura.webhooks import store_of
    from shared.notify import NOTIFY_QUEUE

    challenge = challenge_request(os.environ["OURA_VERIFICATION_TOKEN"], "demo-challenge")
    echoed = http("notify", "GET", "notify/oura", route={"vendor": "oura"}, params=dict(challenge.params))
    invoke("maintain_subscriptions", TimerRequest(past_due=False))
    kept = store_of(sandbox).kept.values()
    print(
        f"  GET /api/notify/oura?verification_token=&challenge=: {echoed.status_code} {echoed.get_body().decode()}; "
        f"timer maintain_subscriptions: {len(kept)} subscriptions at Oura, the first expiring "
        f"{min(k.expiration_time for k in kept):%Y-%m-%d}"
    )
    day = date.today() - timedelta(days=1)
    notice = notification(sandbox, USER, "sleep", None, day, client_secret=sandbox.clients["oura"][1])
    answer = http("notify", "POST", "notify/oura", route={"vendor": "oura"}, raw=notice.body, headers=notice.headers)
    worked = drain_and_work(NOTIFY_QUEUE, "notify_worker")
    print(f"  POST /api/notify/oura (sleep of {day}, signed): {answer.status_code}; {len(worked)} message worked")


def withings_notifications(sandbox: Sandbox) -> None:
    """Withings subscribes per user (done when the connection was confirmed) and signs nothing: a notification
    names a user and a span, and the worker pulls that span with the user's own token."""
    from datetime import date, timedelta

    from sandbox.vendors.withings.api import subscriptions
    from sandbox.vendors.withings.notify import notification
    from shared.notify import NOTIFY_QUEUE

    subscribed = sorted(appli for _, appli in subscriptions(USER))
    probe = http("notify", "HEAD", "notify/withings", route={"vendor": "withings"})
    print(
        f"  subscriptions at Withings for the demo user: applis {subscribed}; "
        f"HEAD /api/notify/withings: {probe.status_code}"
    )
    day = date.today() - timedelta(days=1)
    notice = notification(sandbox, USER, "measure", None, day, client_secret="")
    answer = http(
        "notify", "POST", "notify/withings", route={"vendor": "withings"}, raw=notice.body, headers=notice.headers
    )
    worked = drain_and_work(NOTIFY_QUEUE, "notify_worker")
    print(f"  POST /api/notify/withings (appli 1, {day}, unsigned): {answer.status_code}; {len(worked)} message worked")
    landed_table("withings")


def backfill() -> None:
    from datetime import date, timedelta

    from shared.pull.jobs import BACKFILL_QUEUE

    end = date.today() - timedelta(days=31)
    body = {"vendor": "whoop", "user_id": USER, "start": str(end - timedelta(days=364)), "end": str(end)}
    started = json.loads(http("backfill", "POST", "backfill", body=body).get_body())
    job_id = started["job_id"]
    print(f"  POST /api/backfill {body['start']}..{body['end']}: job {job_id}, {started['chunks']} chunks queued")
    drain_and_work(BACKFILL_QUEUE, "backfill_worker")
    progress = json.loads(http("backfill_status", "GET", f"backfill/{job_id}", route={"job_id": job_id}).get_body())
    print(
        f"  GET /api/backfill/{job_id}: {progress['status']}, {progress['chunks_done']}/{progress['chunks_total']} "
        f"chunks, {progress['records_landed']} records landed, {progress['requests']} vendor requests, "
        f"{len(progress['errors'])} errors"
    )
    landed_table("whoop")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="wearsync-demo-") as workdir, Azurite() as azurite, Sandbox() as sandbox:
        step(f"Azurite on {azurite.ports}, sandbox vendors at {sandbox.base_url}, secrets in a local store")
        os.environ.update(
            {
                "AzureWebJobsStorage": azurite.connection_string,
                "LOCAL_SECRETS_DIR": os.path.join(workdir, "secrets"),
                "ROTATE_SCHEDULE": "0 0 */6 * * *",
                "ROTATE_MIN_AGE_MINUTES": "0",  # the demo's pairs are seconds old; rotate them anyway
                "PULL_SPREAD_MINUTES": "0",  # the demo pulls at once, not spread over the hour
                "POST_CONNECT_REDIRECT_URL": "https://product.example/connected",  # the product's page
                "OURA_VERIFICATION_TOKEN": "demo-oura-verification-token",  # answers Oura's challenge
                **sandbox.settings_env(),
            }
        )
        step("Connect a demo user to each vendor (connect -> start -> consent -> callback -> product confirms)")
        for vendor in VENDORS:
            connect(vendor)
        step(f"Fitbit's last two weeks before it stopped, {FITBIT_STOPPED_DAYS_AGO} days ago (in-process pull)")
        fitbit_history(sandbox)
        step("Rotate (timer rotate_tokens -> sweep-shards -> sweep_shard -> queue rotate-jobs -> rotate_connection)")
        rotate()
        step("Refresh on demand")
        refresh_on_demand(sandbox)
        step("Google turns the Fitbit Web API off (2026-11-02): every Fitbit call answers 410")
        link = fitbit_turned_off(sandbox)
        step("The user connects Google Health through that link: the Fitbit connection moves over")
        google_health_takes_over(sandbox, link)
        step("Pull (timer pull_data -> sweep-shards -> sweep_shard -> queue pull-jobs -> pull_worker): 30 days")
        pull()
        step("One continuous curated history: Fitbit's days, then Google Health's")
        continuous_history()
        step("A Codoon route from its notification (POST /api/notify/codoon -> queue notify-jobs -> notify_worker)")
        codoon_route(sandbox)
        step("Oura: the subscription challenge, the subscriptions timer, a signed notification")
        oura_webhooks(sandbox)
        step("Withings: per-user subscriptions made at the confirmation, an unsigned notification pulled and landed")
        withings_notifications(sandbox)
        step("Backfill a year of WHOOP before that (POST /api/backfill -> queue backfill-jobs -> backfill_worker)")
        backfill()
        step("Status (python -m shared status)")
        from shared import cli

        return cli.main(["status"])


if __name__ == "__main__":
    sys.exit(main())
