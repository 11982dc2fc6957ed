"""Azure Functions triggers. Each parses its input, calls one service in ``shared``, maps the result."""

import logging

import azure.functions as func

from shared import http_handlers, rotation
from shared.app_context import get_context
from shared.settings import load_settings
from shared.storage import ROTATE_QUEUE

load_settings()  # validated at start: a missing or malformed setting stops the app, naming the setting

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.timer_trigger(schedule="%ROTATE_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def rotate_tokens(timer: func.TimerRequest) -> None:
    """Every six hours: one queue message per connection whose pair is due for rotation."""
    if timer.past_due:
        logging.warning("rotate_tokens is running late (past due)")
    ctx = get_context()
    rotation.enqueue_due(ctx.registry, ctx.rotate_queue(), ctx.settings.rotate_min_age_seconds)


@app.queue_trigger(arg_name="msg", queue_name=ROTATE_QUEUE, connection="AzureWebJobsStorage")
def rotate_connection(msg: func.QueueMessage) -> None:
    """Rotate one connection under its lock. A malformed message fails and ends in the poison queue."""
    vendor, user_id, force = rotation.parse_rotation_message(msg.get_body())
    result = rotation.rotate_one(get_context().tokens, vendor, user_id, force=force)
    logging.info("rotate_connection vendor=%s outcome=%s", vendor, result.outcome.value)


@app.route(route="connect/{vendor}", methods=["POST"])
def connect(req: func.HttpRequest) -> func.HttpResponse:
    """Function key. {"user_id": ...} -> the vendor consent link and when it expires."""
    return http_handlers.connect(req)


@app.route(route="callback/{vendor}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def oauth_callback(req: func.HttpRequest) -> func.HttpResponse:
    """The vendor redirects the user here after consent; the code is exchanged and the pair stored."""
    return http_handlers.callback(req)


@app.route(route="connections/{vendor}/{user_id}", methods=["GET", "DELETE"])
def connection(req: func.HttpRequest) -> func.HttpResponse:
    """Function key. GET: a connection's health (never a token). DELETE: disconnect (?purge=true)."""
    return http_handlers.connection(req)


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous: whether storage and the vault answer (nothing secret)."""
    return http_handlers.health(req)
