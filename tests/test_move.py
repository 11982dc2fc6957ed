"""Moving Fitbit users onto Google Health (issue 13): the Fitbit twin's retirement (every route answers 410, as
Google's turn-off of 2026-11-02 does), a connection whose token or data call answers 410 becoming vendor_retired
with the reason, and the move itself (shared.moves) end to end on Azurite with the twins."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import requests
from azure.core.exceptions import ServiceRequestError

from sandbox import Sandbox
from sandbox.vendors.fitbit import retire
from sandbox.vendors.google_health import set_legacy_user_id
from shared import cli
from shared.app_context import AppContext, get_context
from shared.cleanup import run_cleanup
from shared.layout import CURATED_CONTAINER
from shared.pull.jobs import PullJob
from shared.pull.planner import manual_jobs
from shared.pull.puller import PullStatus
from shared.registry import Status
from shared.token_service import Outcome
from shared.vault import TransientStoreError
from shared.vendors.registry import vendor_for
from tests.host import callback, confirm, confirm_code, connect, connect_link, consent


def test_the_retired_fitbit_twin_answers_410_on_every_oauth_and_data_route(
    app_env: dict[str, str], sandbox: Sandbox
) -> None:
    grant = sandbox.grant("fitbit", "gone-user")
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    base = sandbox.base_url + "/fitbit"
    data = f"{base}/1/user/-/activities/steps/date/2026-10-01/2026-10-07.json"
    assert requests.get(data, headers=bearer, timeout=5).status_code == 200, "live until the switch"

    retire(sandbox)
    answers = {
        "authorize": requests.get(f"{base}/oauth2/authorize", params={"client_id": "x"}, timeout=5),
        "token": requests.post(f"{base}/oauth2/token", data={"grant_type": "refresh_token"}, timeout=5),
        "revoke": requests.post(f"{base}/oauth2/revoke", data={"token": "t"}, timeout=5),
        "steps": requests.get(data, headers=bearer, timeout=5),
        "sleep": requests.get(f"{base}/1.2/user/-/sleep/date/2026-10-01/2026-10-07.json", headers=bearer, timeout=5),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 410)

    sandbox.reset()  # a reset sandbox serves the live API again
    fresh = {"Authorization": f"Bearer {sandbox.grant('fitbit', 'gone-user')['access_token']}"}
    assert requests.get(data, headers=fresh, timeout=5).status_code == 200


def test_a_fitbit_connection_whose_token_endpoint_answers_410_becomes_vendor_retired_saying_why(
    ctx: AppContext, sandbox: Sandbox, seed: object
) -> None:
    seed("fitbit", "rotated-out")  # type: ignore[operator]
    retire(sandbox)
    result = ctx.tokens.rotate("fitbit", "rotated-out", force=True)
    assert result.outcome is Outcome.FAILED
    row = ctx.registry.get("fitbit", "rotated-out")
    assert row is not None and row.status is Status.VENDOR_RETIRED
    assert "HTTP 410 Gone on its token endpoint" in row.last_error and "landed history stays" in row.last_error
    assert ctx.vault.read("fitbit", "rotated-out") is not None, "the pair is kept: nothing is lost by a retirement"


def test_a_fitbit_connection_whose_data_call_answers_410_becomes_vendor_retired_saying_why(
    ctx: AppContext, sandbox: Sandbox, seed: object
) -> None:
    seed("fitbit", "pulled-out")  # type: ignore[operator]  # a valid access token: the data call goes first
    retire(sandbox)
    today = datetime.now(UTC).date()
    outcome = ctx.puller.run(PullJob("fitbit", "pulled-out", "steps", today - timedelta(days=3), today))
    assert outcome.status is PullStatus.FAILED and "410" in outcome.detail
    row = ctx.registry.get("fitbit", "pulled-out")
    assert row is not None and row.status is Status.VENDOR_RETIRED
    assert "HTTP 410 Gone on its data API" in row.last_error
    later = ctx.puller.run(PullJob("fitbit", "pulled-out", "sleep", today - timedelta(days=3), today))
    assert later.status is PullStatus.SKIPPED and not later.requests, "a retired connection is not called again"


# -- the move, end to end ------------------------------------------------------------------------------------------
def end_of_local_day(sandbox: Sandbox, vendor: str, user: str, day: date) -> datetime:
    """The last minute of ``day`` in the user's zone at the vendor, in UTC (the twins' clock stops there)."""
    sign, hours, minutes = sandbox.timezone_offset(vendor, user).partition(":")[0][0], 0, 0
    text = sandbox.timezone_offset(vendor, user)
    hours, minutes = int(text[1:3]), int(text[4:6])
    offset = timedelta(hours=hours, minutes=minutes) * (-1 if sign == "-" else 1)
    return datetime.combine(day, time(23, 59), UTC) - offset


def curated_days(ctx: AppContext, vendor: str, user: str) -> set[date]:
    """The local days with curated lines of ``vendor`` for the user (any data type)."""
    container = ctx.storage.blobs.get_container_client(CURATED_CONTAINER)
    found = set()
    for blob in container.list_blobs(name_starts_with=f"{vendor}/"):
        parts = str(blob.name).split("/")
        if parts[2] == f"user={user}" and (blob.size or 0) > 0:
            found.add(date.fromisoformat(parts[3].removeprefix("date=")))
    return found


def pull_everything(ctx: AppContext, vendor: str, user: str, first: date, last: date) -> None:
    for name in vendor_for(vendor).data.data_types:
        outcome = ctx.puller.run(PullJob(vendor, user, name, first, last))
        assert outcome.status in (PullStatus.DONE, PullStatus.SKIPPED), outcome.line()


def status_lines(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert cli.main(argv) == 0
    return capsys.readouterr().out


def test_a_fitbit_user_whose_api_answers_410_moves_to_google_health_and_keeps_one_continuous_history(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    user = "mover"
    today = datetime.now(UTC).date()
    stop = today - timedelta(days=6)  # Fitbit's last landed day
    start = stop - timedelta(days=9)
    for vendor in ("fitbit", "google_health"):
        sandbox.set_member_since(vendor, user, start)

    # 1. connected to Fitbit while it lived; its days up to ``stop`` landed (the twins' clock stopped there)
    assert connect("fitbit", user).status_code == 200
    sandbox.set_data_now(end_of_local_day(sandbox, "fitbit", user, stop))
    pull_everything(ctx, "fitbit", user, start, stop)
    fitbit_days = curated_days(ctx, "fitbit", user)
    assert min(fitbit_days) == start and max(fitbit_days) == stop

    # 2. Google turns Fitbit off: the rotation meets 410 and says why and what to do
    sandbox.set_data_now(datetime.now(UTC))
    retire(sandbox)
    assert ctx.tokens.rotate("fitbit", user, force=True).outcome is Outcome.FAILED
    retired = ctx.registry.get("fitbit", user)
    assert retired is not None and retired.status is Status.VENDOR_RETIRED
    assert "HTTP 410 Gone" in retired.last_error and "must connect Google Health" in retired.last_error

    # 3. the status lists it still to move, with a Google Health connect link the operator can send
    out = status_lines(["status"], capsys)
    assert "still to move" in out
    to_move = out[out.index("still to move") :].splitlines()
    listed = next(line for line in to_move if line.startswith("fitbit ") and "vendor_retired  google_health" in line)
    link = next(word for word in listed.split() if word.startswith("http"))
    assert link.startswith("http://localhost:7071/api/connect/google_health/start?state=")
    listed_json = json.loads(status_lines(["status", "--json", "--vendor", "fitbit"], capsys))
    assert [(r["user_id"], r["status"], r["move_to"]) for r in listed_json] == [
        (user, "vendor_retired", "google_health")
    ]
    assert listed_json[0]["connect_link"].startswith("http://localhost:7071/api/connect/google_health/start?state=")

    # 4. the same person connects Google Health through that link; the identity names their Fitbit id
    set_legacy_user_id(user, sandbox.vendor_user_id("fitbit", user))
    try:
        response = callback("google_health", consent(link, user))
        answer = confirm(confirm_code(response) or "", user)
    finally:
        set_legacy_user_id(user, None)
    assert answer.status_code == 200, answer.get_body()
    health = json.loads(answer.get_body())
    assert (health["status"], health["moved_from"], health["history_from"]) == (
        "active",
        f"fitbit/{user}",
        (stop + timedelta(days=1)).isoformat(),
    )
    assert health["move_state"] == "done"
    moved = ctx.registry.get("fitbit", user)
    assert moved is not None and moved.status is Status.MOVED
    assert (moved.moved_to, moved.data_until) == (f"google_health/{user}", stop.isoformat())
    assert ctx.vault.read("fitbit", user) is None, "the Fitbit secret is disabled"
    assert curated_days(ctx, "fitbit", user) == fitbit_days, "Fitbit's landed history stays where it is"

    # 5. Google Health's first pull (the planner's, from PULL_INITIAL_DAYS back) starts the day after Fitbit stopped
    connection = ctx.registry.get("google_health", user)
    assert connection is not None
    jobs = list(manual_jobs(ctx.settings, ctx.pull_state, connection))
    assert min(job.first for job in jobs) < start, "the planner alone would reach back into Fitbit's days"
    for job in jobs:
        outcome = ctx.puller.run(job)
        assert outcome.status is PullStatus.DONE, outcome.line()
    google_days = curated_days(ctx, "google_health", user)
    assert min(google_days) == stop + timedelta(days=1)

    # one continuous curated history: every day from the first to the last from exactly one source
    assert not fitbit_days & google_days
    everything = fitbit_days | google_days
    span = (max(everything) - start).days + 1
    assert everything == {start + timedelta(days=n) for n in range(span)}
    assert max(everything) >= today - timedelta(days=1)

    # 6. the status shows the move done
    out = status_lines(["status"], capsys)
    assert "still to move" not in out
    row = next(line for line in out.splitlines() if line.split()[:2] == ["fitbit", user])
    assert row.split()[2] == "moved" and "410" not in row, "the retirement is no longer an error to act on"
    section = out[out.index("moved to the vendor that succeeds theirs") :].splitlines()
    moved_line = next(line for line in section if line.startswith("fitbit "))
    assert f"google_health/{user}" in moved_line and moved_line.rstrip().endswith(stop.isoformat())


# -- a failing cloud, another user, an identity that does not answer ------------------------------------------------
def retired_fitbit_with_history(ctx: AppContext, sandbox: Sandbox, user: str, stop: date) -> None:
    """A Fitbit connection whose steps landed up to ``stop``, then Google's turn-off (the rotation meets 410)."""
    sandbox.set_member_since("fitbit", user, stop - timedelta(days=4))
    sandbox.set_member_since("google_health", user, stop - timedelta(days=4))
    assert connect("fitbit", user).status_code == 200
    sandbox.set_data_now(end_of_local_day(sandbox, "fitbit", user, stop))
    assert ctx.puller.run(PullJob("fitbit", user, "steps", stop - timedelta(days=4), stop)).created == 5
    sandbox.set_data_now(datetime.now(UTC))
    retire(sandbox)
    ctx.tokens.rotate("fitbit", user, force=True)


def connect_google_health(user: str, legacy_user_id: str | None, sandbox: Sandbox, fault: str = "") -> Any:
    """The whole connect flow for ``user``, whose identity names ``legacy_user_id``; ``fault``: a fault for the
    identity call of the confirmation (after the callback's own)."""
    set_legacy_user_id(user, legacy_user_id)
    try:
        response = callback("google_health", consent(connect_link("google_health", user), user))
        if fault:
            sandbox.inject("google_health", fault, times=3, endpoint="identity")
        return confirm(confirm_code(response) or "", user)
    finally:
        set_legacy_user_id(user, None)


@pytest.mark.parametrize("dies", ["marking_moved", "disabling_the_secret"])
def test_storage_dying_mid_move_loses_no_connection_and_the_sweep_finishes_the_move(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, dies: str
) -> None:
    user, stop = "crashy", datetime.now(UTC).date() - timedelta(days=3)
    retired_fitbit_with_history(ctx, sandbox, user, stop)
    app = get_context()  # the function app's services, which the connect flow uses
    if dies == "marking_moved":
        update = app.registry.update

        def failing_update(vendor: str, user_id: str, **changes: Any) -> None:
            if vendor == "fitbit" and changes.get("status") == Status.MOVED:
                raise ServiceRequestError("storage unavailable")
            update(vendor, user_id, **changes)

        monkeypatch.setattr(app.registry, "update", failing_update)
    else:
        disable = app.vault.disable

        def failing_disable(vendor: str, user_id: str) -> None:
            if vendor == "fitbit":
                raise TransientStoreError("vault unavailable")
            disable(vendor, user_id)

        monkeypatch.setattr(app.vault, "disable", failing_disable)

    answer = connect_google_health(user, sandbox.vendor_user_id("fitbit", user), sandbox)
    assert answer.status_code == 200, "the new connection is kept whatever the move met"
    health = json.loads(answer.get_body())
    assert (health["status"], health["move_state"]) == ("active", "moving")
    assert health["history_from"] == (stop + timedelta(days=1)).isoformat(), "the history's start is in the row"
    assert app.vault.read("google_health", user) is not None
    half = ctx.registry.get("fitbit", user)
    assert half is not None and ctx.vault.read("fitbit", user) is not None
    assert half.status is (Status.VENDOR_RETIRED if dies == "marking_moved" else Status.MOVED)

    # meanwhile the Google Health pull starts where Fitbit stopped
    outcome = ctx.puller.run(PullJob("google_health", user, "steps", stop - timedelta(days=30), stop))
    assert outcome.status is PullStatus.DONE and outcome.records == 0, "no day before the history's start"

    monkeypatch.undo()  # storage is back: the hourly clean-up's sweep finishes the move, once
    assert run_cleanup(app).deleted["moves"] == 1
    moved = ctx.registry.get("fitbit", user)
    assert moved is not None and moved.status is Status.MOVED and moved.data_until == stop.isoformat()
    assert ctx.vault.read("fitbit", user) is None
    finished = ctx.registry.get("google_health", user)
    assert finished is not None and finished.move_state == "done"
    assert run_cleanup(app).deleted["moves"] == 0, "a second run finds nothing left"


def test_a_fitbit_account_connected_to_another_user_is_not_moved(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    stop = datetime.now(UTC).date() - timedelta(days=3)
    retired_fitbit_with_history(ctx, sandbox, "owner", stop)
    answer = connect_google_health("someone-else", sandbox.vendor_user_id("fitbit", "owner"), sandbox)
    assert answer.status_code == 200
    health = json.loads(answer.get_body())
    assert health["move_state"] == "held" and "history_from" not in health and "moved_from" not in health
    kept = ctx.registry.get("fitbit", "owner")
    assert kept is not None and kept.status is Status.VENDOR_RETIRED and not kept.moved_to
    assert ctx.vault.read("fitbit", "owner") is not None, "another user's connection is never ended silently"


def test_an_identity_that_does_not_answer_leaves_the_move_pending_and_the_pull_waits_for_it(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    user, stop = "patient", datetime.now(UTC).date() - timedelta(days=3)
    retired_fitbit_with_history(ctx, sandbox, user, stop)
    answer = connect_google_health(user, sandbox.vendor_user_id("fitbit", user), sandbox, fault="error_503")
    assert answer.status_code == 200 and json.loads(answer.get_body())["move_state"] == "pending"
    today = datetime.now(UTC).date()
    waited = ctx.puller.run(PullJob("google_health", user, "steps", today - timedelta(days=30), today))
    assert waited.status is PullStatus.SKIPPED and not waited.requests, "no day lands before its start is known"

    sandbox.clear_faults()
    set_legacy_user_id(user, sandbox.vendor_user_id("fitbit", user))
    try:
        assert run_cleanup(get_context()).deleted["moves"] == 1
    finally:
        set_legacy_user_id(user, None)
    done = ctx.registry.get("google_health", user)
    assert done is not None and (done.move_state, done.history_from) == ("done", (stop + timedelta(1)).isoformat())
    moved = ctx.registry.get("fitbit", user)
    assert moved is not None and moved.status is Status.MOVED


def test_fitbit_data_stops_on_the_last_day_a_record_landed_on_not_at_its_watermark(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    user, stop = "boundary", datetime.now(UTC).date() - timedelta(days=3)
    sandbox.set_member_since("fitbit", user, stop - timedelta(days=4))
    assert connect("fitbit", user).status_code == 200
    sandbox.set_data_now(end_of_local_day(sandbox, "fitbit", user, stop))
    # a live pull's window reaches the latest local date anywhere (UTC today + 1): a day this user had not lived
    assert ctx.puller.run(PullJob("fitbit", user, "sleep", stop - timedelta(days=4), stop + timedelta(days=1))).created
    assert [s.watermark for s in ctx.pull_state.list("fitbit", user)] == [stop + timedelta(days=1)]
    sandbox.set_data_now(datetime.now(UTC))
    retire(sandbox)

    answer = connect_google_health(user, sandbox.vendor_user_id("fitbit", user), sandbox)
    assert json.loads(answer.get_body())["history_from"] == (stop + timedelta(days=1)).isoformat(), "no day lost"
    moved = ctx.registry.get("fitbit", user)
    assert moved is not None and moved.data_until == stop.isoformat()
