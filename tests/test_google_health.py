"""Google Health end to end on Azurite, through the app's functions and its twin: a user connects (PKCE S256,
``access_type=offline``, ``prompt=consent``), a year of every data type lands exactly the twin's records on their
civil dates with UTC time, civil time and offset kept, a refresh keeps Google's unrotated refresh token, the
subscriber's verification is answered 201/401, a signed notification lands what changed, and a forged, unsigned or
wrongly authorized one is refused with nothing queued. Then partial consent, and the "Testing" reason."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import azure.functions as func

from sandbox import Sandbox
from sandbox.notify import NotificationRequest
from sandbox.vendors.google_health import notification, verification
from sandbox.vendors.google_health.notify import payload, signed
from shared.app_context import AppContext, get_context
from shared.layout import CURATED_CONTAINER, RAW_CONTAINER
from shared.pull.jobs import PullJob
from shared.pull.puller import PullStatus
from shared.registry import Status
from shared.token_service import Outcome
from shared.vendors.google_health.data import DATA_TYPES
from shared.vendors.google_health.oauth import ACTIVITY, DEFAULT_SCOPES, SLEEP
from tests.host import call, callback, confirm, confirm_code, connect_link, consent
from tests.vendors.test_notifications import deliver, landed, work_queued

VENDOR = "google_health"
TODAY = datetime.now(UTC).date()
LAST = TODAY - timedelta(days=1)
FIRST = LAST - timedelta(days=364)  # a year
HISTORY = LAST - timedelta(days=150)  # the user's first day at Google: the months before it must stay empty


def connect(user: str, extra: dict[str, str] | None = None) -> func.HttpResponse:
    params = consent(connect_link(VENDOR, user), user, extra=extra)
    code = confirm_code(callback(VENDOR, params))
    assert code is not None
    return confirm(code, user)


def raw_blobs(ctx: AppContext, data_type: str, user: str) -> dict[str, str]:
    container = ctx.storage.blobs.get_container_client(RAW_CONTAINER)
    prefix = f"{VENDOR}/{data_type}/user={user}/"
    return {b.name.rsplit("/", 1)[1][:-5]: b.name.split("/date=")[1][:10] for b in container.list_blobs(prefix)}


def content(ctx: AppContext, container: str, name: str) -> bytes:
    return bytes(ctx.storage.blobs.get_container_client(container).download_blob(name).readall())


def test_connect_pull_a_year_refresh_and_notifications(ctx: AppContext, sandbox: Sandbox) -> None:
    user = "gh-alice"
    sandbox.set_member_since(VENDOR, user, HISTORY)
    assert connect(user).status_code == 200
    (authorize,) = sandbox.requests(VENDOR, "authorize")
    query = authorize.query
    assert (query["access_type"], query["prompt"], query["code_challenge_method"]) == ("offline", "consent", "S256")
    assert query["scope"].split() == list(DEFAULT_SCOPES)
    (exchange,) = sandbox.token_requests(VENDOR)
    assert exchange.form["code_verifier"] and exchange.form["client_secret"] == sandbox.clients[VENDOR][1]
    connection = ctx.registry.get(VENDOR, user)
    assert connection is not None and connection.vendor_user_id == sandbox.vendor_user_id(VENDOR, user)

    # a year of every type, as the pull lands it (the types side by side, as the queue's workers run them)
    def pull(data_type: str) -> tuple[PullStatus, str]:
        outcome = ctx.puller.run(PullJob(VENDOR, user, data_type, FIRST, LAST))
        return outcome.status, outcome.line()

    with ThreadPoolExecutor(4) as pool:
        outcomes = dict(zip(DATA_TYPES, pool.map(pull, DATA_TYPES), strict=True))
    for data_type, (status, line) in outcomes.items():
        assert status is PullStatus.DONE, line
        expected = sandbox.expected_records(VENDOR, data_type, user, FIRST, LAST)
        assert len(expected) >= 30 and min(day for _, day in expected) >= HISTORY, data_type
        assert raw_blobs(ctx, data_type, user) == {str(rid): day.isoformat() for rid, day in expected}, data_type
    for record_id, day in sorted(raw_blobs(ctx, "sleep", user).items(), key=lambda item: item[1], reverse=True):
        name = f"{VENDOR}/sleep/user={user}/date={day}/{record_id}.json"
        if json.loads(content(ctx, RAW_CONTAINER, name))["sleep"]["metadata"]["mainSleep"]:
            break
    sleep = json.loads(content(ctx, RAW_CONTAINER, name))["sleep"]["interval"]
    assert {"startTime", "endTime", "startUtcOffset", "civilStartTime", "civilEndTime"} <= set(sleep)
    ended = sleep["civilEndTime"]["date"]
    assert date(ended["year"], ended["month"], ended["day"]).isoformat() == day  # the morning it ends
    lines = [json.loads(line) for line in content(ctx, CURATED_CONTAINER, name + "l").splitlines()]
    assert {"sleep_asleep", "sleep_deep", "sleep_in_bed"} <= {line["indicator"] for line in lines}

    # a refresh: Google answers no refresh_token, the stored one is kept and keeps working
    stored = ctx.vault.read(VENDOR, user)
    assert stored is not None
    for _ in range(2):
        assert ctx.tokens.rotate(VENDOR, user, force=True).outcome is Outcome.ROTATED
    again = ctx.vault.read(VENDOR, user)
    assert again is not None and again.pair.refresh_token == stored.pair.refresh_token
    assert again.pair.access_token != stored.pair.access_token and sandbox.refresh_count(VENDOR, user) == 2

    # the subscriber's verification: 201 with the configured Authorization, 401 without it or with another
    secret = sandbox.clients[VENDOR][1]
    assert deliver(VENDOR, verification(secret, with_authorization=True)).status_code == 201
    assert deliver(VENDOR, verification(secret, with_authorization=False)).status_code == 401
    wrong = verification("another-client-secret", with_authorization=True)
    assert deliver(VENDOR, wrong).status_code == 401

    # a signed notification lands what changed: a sleep revised at Google (longer, new updateTime)
    sandbox.revise(VENDOR, "sleep", user, date.fromisoformat(day))
    before = content(ctx, RAW_CONTAINER, name)
    calls = len(sandbox.requests(VENDOR))
    notice = notification(sandbox, user, "sleep", record_id, date.fromisoformat(day), client_secret=secret)
    for refused in (
        notification(sandbox, user, "sleep", record_id, date.fromisoformat(day), client_secret=secret, forged=True),
        signed(secret, notice.body, unsigned=True),
        NotificationRequest("POST", {**notice.headers, "Authorization": "Bearer not-the-subscriber"}, {}, notice.body),
        NotificationRequest("POST", notice.headers, {}, notice.body.replace(b"UPSERT", b"DELETE")),  # body changed
    ):
        assert deliver(VENDOR, refused).status_code == 401
    assert work_queued() == 0 and len(sandbox.requests(VENDOR)) == calls
    assert content(ctx, RAW_CONTAINER, name) == before
    assert 200 <= deliver(VENDOR, notice).status_code < 300
    assert work_queued() == 1
    revised = json.loads(content(ctx, RAW_CONTAINER, name))["sleep"]
    landed_before = json.loads(before)["sleep"]
    assert revised["interval"]["endTime"] > landed_before["interval"]["endTime"]  # Google's revision: longer
    assert revised["updateTime"] > landed_before["updateTime"]

    # a deletion at Google: the DELETE notification names the sample's time, and its landed blobs go
    weights = sorted(raw_blobs(ctx, "weight", user).items(), key=lambda item: item[1])
    weight_id, weight_day = weights[-1]
    sandbox.delete_record(VENDOR, "weight", user, date.fromisoformat(weight_day), weight_id)
    at = f"{weight_id[:4]}-{weight_id[4:6]}-{weight_id[6:11]}:{weight_id[11:13]}:{weight_id[13:]}"
    health_user = sandbox.vendor_user_id(VENDOR, user)
    deleted = signed(secret, payload(health_user, "weight", at, at, operation="DELETE"))
    assert 200 <= deliver(VENDOR, deleted).status_code < 300 and work_queued() == 1
    assert weight_id not in landed(VENDOR, "weight", user)


def test_partial_consent_is_recorded_and_only_granted_types_are_pulled(ctx: AppContext, sandbox: Sandbox) -> None:
    user = "gh-bob"
    answer = connect(user, extra={"sandbox_grant_scope": f"{ACTIVITY} {SLEEP}"})  # the user unticked the rest
    assert answer.status_code == 200
    connection = ctx.registry.get(VENDOR, user)
    assert connection is not None and sorted(connection.granted) == sorted([ACTIVITY, SLEEP])
    day = TODAY - timedelta(days=3)
    steps = ctx.puller.run(PullJob(VENDOR, user, "steps", day, day))
    weight = ctx.puller.run(PullJob(VENDOR, user, "weight", day - timedelta(days=30), day))
    assert steps.status is PullStatus.DONE and raw_blobs(ctx, "steps", user) == {day.isoformat(): day.isoformat()}
    assert weight.status is not PullStatus.DONE and "not granted" in weight.line()
    assert not [r for r in sandbox.requests(VENDOR) if "/dataTypes/weight/" in r.path]  # never asked Google
    health = call("connection", "GET", f"connections/{VENDOR}/{user}", route={"vendor": VENDOR, "user_id": user})
    body = json.loads(health.get_body())
    assert sorted(body["granted_scopes"]) == sorted([ACTIVITY, SLEEP])


def test_a_grant_refused_seven_days_after_consent_names_the_testing_status(ctx: AppContext, sandbox: Sandbox) -> None:
    user = "gh-carol"
    assert connect(user).status_code == 200
    week_ago = (datetime.now(UTC) - timedelta(days=7, hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
    ctx.registry.update(VENDOR, user, connected_at=week_ago)
    sandbox.revoke_grant(VENDOR, user)  # as Google does to a "Testing" app's refresh token after 7 days
    result = ctx.tokens.rotate(VENDOR, user, force=True)
    assert result.outcome is Outcome.REAUTH_REQUIRED
    connection = get_context().registry.get(VENDOR, user) or ctx.registry.get(VENDOR, user)
    assert connection is not None and connection.status is Status.REAUTH_REQUIRED
    assert "'Testing' status" in connection.last_error and "7 days" in connection.last_error
