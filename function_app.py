"""Azure Functions triggers. Each parses its input, calls one service in ``shared``, maps the result.

Importing this module (the worker indexes it at every cold start) loads what start needs and no more: the
queue names, settings validation and telemetry. Each function imports its service when it first runs, and the
services import their SDKs when first built (``python -m bench.coldstart`` measures it)."""

import logging

import azure.functions as func

from shared.notify import NOTIFY_QUEUE
from shared.pull.jobs import BACKFILL_QUEUE, LIVE_QUEUE
from shared.queue_work import poison_counted
from shared.settings import load_settings
from shared.storage import ROTATE_QUEUE, SWEEP_QUEUE
from shared.telemetry import configure_telemetry

configure_telemetry()  # OpenTelemetry to Application Insights when the app has a connection string

load_settings()  # validated at start: a missing or malformed setting stops the app, naming the setting

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.timer_trigger(schedule="%ROTATE_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def rotate_tokens(timer: func.TimerRequest) -> None:
    """Every six hours: one sweep-shards message per shard of the registry; each shard's worker (sweep_shard)
    enqueues one rotate-jobs message per due connection, once per six-hour slot."""
    from shared.app_context import get_context

    if timer.past_due:
        logging.warning("rotate_tokens is running late (past due)")
    get_context().sweeps.start("rotate")


@app.queue_trigger(arg_name="msg", queue_name=ROTATE_QUEUE, connection="AzureWebJobsStorage")
def rotate_connection(msg: func.QueueMessage) -> None:
    """Rotate one connection under its lock. A malformed message fails and ends in the poison queue."""
    from shared import rotation
    from shared.app_context import get_context

    with poison_counted(msg, ROTATE_QUEUE):
        vendor, user_id, force = rotation.parse_rotation_message(msg.get_body())
        if get_context().sweeps.first_delivery(msg.get_body(), msg.id):  # a sweep's second copy is dropped
            rotation.rotate_one(get_context().tokens, vendor, user_id, force=force)
            get_context().user_subscriptions.retry(vendor, user_id)  # a per-user subscription that failed


@app.timer_trigger(schedule="%PULL_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def pull_data(timer: func.TimerRequest) -> None:
    """Hourly reconciliation: one sweep-shards message per shard of the registry; each shard's worker
    (sweep_shard) enqueues a pull-jobs message for each data type the planner finds due within the vendor's
    budget, once per hour, spread over the hour."""
    from shared.app_context import get_context

    if timer.past_due:
        logging.warning("pull_data is running late (past due)")
    get_context().sweeps.start("pull")


@app.queue_trigger(arg_name="msg", queue_name=SWEEP_QUEUE, connection="AzureWebJobsStorage")
def sweep_shard(msg: func.QueueMessage) -> None:
    """One shard of a rotation or pull sweep: lists its slice of the registry and enqueues its connections'
    work in parallel; resumes where a failed run stopped, and leaves a shard done or held by another worker."""
    from shared.app_context import get_context

    with poison_counted(msg, SWEEP_QUEUE):
        get_context().sweeps.work_shard(msg.get_body())


@app.queue_trigger(arg_name="msg", queue_name=LIVE_QUEUE, connection="AzureWebJobsStorage")
def pull_worker(msg: func.QueueMessage) -> None:
    """Pull one data type of one connection and move its watermark. Transient failures retry, then poison."""
    from shared.app_context import get_context

    with poison_counted(msg, LIVE_QUEUE):
        if get_context().sweeps.first_delivery(msg.get_body(), msg.id):  # a sweep's second copy is dropped
            get_context().pull.work_live(msg.get_body())


@app.queue_trigger(arg_name="msg", queue_name=BACKFILL_QUEUE, connection="AzureWebJobsStorage")
def backfill_worker(msg: func.QueueMessage) -> None:
    """Pull one backfill chunk (after live pulls, which go first for the rate budget)."""
    from shared.app_context import get_context

    with poison_counted(msg, BACKFILL_QUEUE):
        get_context().pull.work_backfill(msg.get_body())


@app.route(route="backfill", methods=["POST"])
def backfill(req: func.HttpRequest) -> func.HttpResponse:
    """Function key. {"vendor", "user_id", "start", "end", "data_types"?} -> 202 {"job_id", "status_url"}."""
    from shared import http_handlers

    return http_handlers.backfill_start(req)


@app.route(route="backfill/{job_id}", methods=["GET"])
def backfill_status(req: func.HttpRequest) -> func.HttpResponse:
    """Function key. A backfill's progress: chunks done/total, records landed, errors, time left."""
    from shared import http_handlers

    return http_handlers.backfill_status(req)


@app.route(route="connect/{vendor}", methods=["POST"])
def connect(req: func.HttpRequest) -> func.HttpResponse:
    """Function key. {"user_id": ...} -> the vendor consent link and when it expires."""
    from shared import http_handlers

    return http_handlers.connect(req)


@app.route(route="connect/{vendor}/start", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def connect_start(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous: the connect link. Binds the OAuth state to this browser (a cookie), then redirects to the vendor."""
    from shared import http_handlers

    return http_handlers.connect_start(req)


# not connect/confirm: the host orders routes by function name, so connect/{vendor} would take it
@app.route(route="connections/confirm", methods=["POST"])
def connect_confirm(req: func.HttpRequest) -> func.HttpResponse:
    """Function key. {"code", "user_id"}: the product confirms a pending connection for the user it sees."""
    from shared import http_handlers

    return http_handlers.connect_confirm(req)


@app.route(route="callback/{vendor}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def oauth_callback(req: func.HttpRequest) -> func.HttpResponse:
    """The vendor redirects the user here after consent; the code is exchanged and the pair stored."""
    from shared import http_handlers

    return http_handlers.callback(req)


@app.route(route="connections/{vendor}/{user_id}", methods=["GET", "DELETE"])
def connection(req: func.HttpRequest) -> func.HttpResponse:
    """Function key. GET: a connection's health (never a token). DELETE: disconnect (?purge=true)."""
    from shared import http_handlers

    return http_handlers.connection(req)


@app.route(route="notify/{vendor}", methods=["GET", "POST", "HEAD"], auth_level=func.AuthLevel.ANONYMOUS)
def notify(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous: vendor notifications (webhooks). The vendor's own signature is checked on the raw body."""
    from shared import http_handlers

    return http_handlers.notify(req)


@app.queue_trigger(arg_name="msg", queue_name=NOTIFY_QUEUE, connection="AzureWebJobsStorage")
def notify_worker(msg: func.QueueMessage) -> None:
    """Fetch and land what one notification names. Transient failures retry, then poison."""
    from shared.app_context import get_context

    with poison_counted(msg, NOTIFY_QUEUE):
        get_context().notify_worker.handle(msg.get_body())


@app.timer_trigger(schedule="%RECONCILE_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def reconcile_notifications(timer: func.TimerRequest) -> None:
    """Connections whose notifications have gone quiet for longer than usual get a live pull."""
    from shared.app_context import get_context
    from shared.notify.reconcile import reconcile

    ctx = get_context()
    reconcile(ctx.settings, ctx.registry, ctx.pull_state, ctx.notify_activity, ctx.storage.queue(LIVE_QUEUE))


@app.timer_trigger(schedule="%CLEANUP_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def cleanup(timer: func.TimerRequest) -> None:
    """Hourly: deletes expired OAuth state rows and old notification dedup rows (a failed step fails the run)."""
    from shared.app_context import get_context
    from shared.cleanup import run_cleanup

    run_cleanup(get_context())


@app.timer_trigger(schedule="%SUBSCRIPTIONS_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def maintain_subscriptions(timer: func.TimerRequest) -> None:
    """Every 12 hours: the vendors' webhook subscriptions the app keeps itself exist and none lapses (missing ones
    created, those near their expiry renewed); a subscription that failed fails the run."""
    from shared.app_context import get_context
    from shared.subscriptions import problems

    failed = problems(get_context().subscriptions.ensure())
    if failed:
        raise RuntimeError(f"{len(failed)} webhook subscription(s) failed: {'; '.join(failed)[:500]}")


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous: whether storage and the vault answer (nothing secret)."""
    from shared import http_handlers

    return http_handlers.health(req)
