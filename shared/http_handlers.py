"""HTTP adapters for the function app: parse a ``func.HttpRequest``, call one service, map the result to
a ``func.HttpResponse``. Bad input gets a clear message and the right status; no response holds a token."""

from __future__ import annotations

import html
import json
import logging
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError

from shared.app_context import get_context
from shared.connect_flow import FlowError, link_expiry_iso
from shared.pull.backfill import BackfillError

log = logging.getLogger(__name__)
MAX_JSON_BODY = 16 * 1024

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;
padding:0 1rem;line-height:1.5}}</style></head>
<body><h1>{title}</h1><p>{message}</p></body></html>
"""


def json_response(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/json", headers={"Cache-Control": "no-store"}
    )


def json_error(status: int, message: str) -> func.HttpResponse:
    return json_response({"error": message}, status)


def page(status: int, title: str, message: str) -> func.HttpResponse:
    body = PAGE.format(title=html.escape(title), message=html.escape(message))
    return func.HttpResponse(
        body,
        status_code=status,
        mimetype="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _json_body(req: func.HttpRequest) -> dict[str, Any]:
    raw = req.get_body() or b""
    if len(raw) > MAX_JSON_BODY:
        raise FlowError(413, "request body too large")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise FlowError(400, "request body must be JSON") from None
    if not isinstance(body, dict):
        raise FlowError(400, "request body must be a JSON object")
    return body


def connect(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/connect/{vendor} {"user_id": ...} -> {"link_web_url", "expires_at"}."""
    try:
        body = _json_body(req)
        link = get_context().connect.start(req.route_params.get("vendor", ""), body.get("user_id"))
    except FlowError as error:
        return json_error(error.status, error.message)
    return json_response({"link_web_url": link.url, "expires_at": link_expiry_iso(link)})


def callback(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/callback/{vendor}?code=&state= -> a page saying the account is connected, or a redirect."""
    vendor = req.route_params.get("vendor", "")
    ctx = get_context()
    try:
        connection = ctx.connect.callback(vendor, dict(req.params))
    except FlowError as error:
        return page(error.status, "Not connected", error.message)
    target = ctx.settings.post_connect_redirect_url
    if target:
        return func.HttpResponse(status_code=302, headers={"Location": target, "Cache-Control": "no-store"})
    name = vendor.upper() if vendor == "whoop" else vendor.capitalize()
    return page(
        200,
        "Connected",
        f"Your {name} account is connected (scopes: {connection.scopes or 'none'}). You can close this page.",
    )


def connection(req: func.HttpRequest) -> func.HttpResponse:
    """GET or DELETE /api/connections/{vendor}/{user_id}[?purge=true]."""
    vendor, user_id = req.route_params.get("vendor", ""), req.route_params.get("user_id", "")
    flow = get_context().connect
    try:
        if req.method == "DELETE":
            purge = req.params.get("purge", "false").lower()
            if purge not in ("true", "false"):
                raise FlowError(400, "purge must be true or false")
            return json_response(flow.disconnect(vendor, user_id, purge=purge == "true"))
        return json_response(flow.describe(vendor, user_id))
    except FlowError as error:
        return json_error(error.status, error.message)


def backfill_start(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/backfill {"vendor", "user_id", "start", "end", "data_types"?} -> 202 {"job_id", ...}."""
    try:
        started = get_context().pull.start_backfill(_json_body(req))
    except FlowError as error:
        return json_error(error.status, error.message)
    except BackfillError as error:
        return json_error(error.status, str(error))
    except AzureError as error:
        log.warning("backfill not started: storage unavailable (%s)", type(error).__name__)
        return json_error(503, "storage is unavailable; nothing was queued, try again")
    started["status_url"] = f"/api/backfill/{started['job_id']}"
    return json_response(started, 202)


def backfill_status(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/backfill/{job_id} -> chunks done and total, records landed, errors, estimated time left."""
    try:
        progress = get_context().backfills.progress(req.route_params.get("job_id", ""))
    except AzureError as error:
        log.warning("backfill status unavailable: storage (%s)", type(error).__name__)
        return json_error(503, "storage is unavailable")
    if progress is None:
        return json_error(404, "no such backfill job")
    return json_response(progress)


def notify(req: func.HttpRequest) -> func.HttpResponse:
    """GET|POST|HEAD /api/notify/{vendor}: a vendor notification, verified, queued, then acknowledged."""
    status, body = get_context().notify.handle(
        req.route_params.get("vendor", ""), req.method or "", dict(req.headers), dict(req.params), req.get_body() or b""
    )
    if body is None:
        return func.HttpResponse(status_code=status, headers={"Cache-Control": "no-store"})
    return json_response(body, status)


def health(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/health: 200 when storage and the vault answer, else 503. Names no resource and no secret."""
    from shared.health import check

    healthy, body = check(get_context())
    return json_response(body, 200 if healthy else 503)
