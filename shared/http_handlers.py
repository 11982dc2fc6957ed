"""HTTP adapters for the function app: parse a ``func.HttpRequest``, call one service, map the result to
a ``func.HttpResponse``. Bad input gets a clear message and the right status; no response holds a token."""

from __future__ import annotations

import html
import json
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

import azure.functions as func
from azure.core.exceptions import AzureError

from shared.app_context import get_context
from shared.connect_flow import STATE_PATTERN, CallbackResult, FlowError, link_expiry_iso, vendor_title
from shared.oauth_state import binding_cookie_name
from shared.pull.backfill import BackfillError
from shared.settings import Settings

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


def _cookie(header: str | None, name: str) -> str | None:
    """One cookie's value from a Cookie header; other cookies, however odd, are ignored."""
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


def _set_cookie(name: str, value: str, max_age: int) -> str:
    # __Host- cookies must be Secure with Path=/ and no Domain; browsers accept Secure on http://localhost
    return f"{name}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax"


def connect_start(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/connect/{vendor}/start?state= (anonymous): bind the state to this browser with a cookie, then
    send the browser to the vendor's consent page."""
    try:
        opened = get_context().connect.open_link(req.route_params.get("vendor", ""), req.params.get("state", ""))
    except FlowError as error:
        return page(error.status, "Cannot connect", error.message)
    binding = opened.binding
    return func.HttpResponse(
        status_code=302,
        headers={
            "Location": opened.authorize_url,
            "Set-Cookie": _set_cookie(binding.cookie_name, binding.value, binding.max_age),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


def callback(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/callback/{vendor}?code=&state= -> with confirmation on, a redirect to the product with the
    one-time code (or a page showing it); else a page saying the account is connected, or a redirect."""
    vendor = req.route_params.get("vendor", "")
    ctx = get_context()
    state = req.params.get("state", "")
    cookie_name = binding_cookie_name(state) if STATE_PATTERN.fullmatch(state) else None
    browser = _cookie(req.headers.get("cookie"), cookie_name) if cookie_name else None
    try:
        response = _callback_answer(ctx.connect.callback(vendor, dict(req.params), browser), ctx.settings)
    except FlowError as error:
        response = page(error.status, "Not connected", error.message)
    if cookie_name:  # the state is spent or refused: its cookie has no further use
        response.headers["Set-Cookie"] = _set_cookie(cookie_name, "", 0)
    return response


def _callback_answer(result: CallbackResult, settings: Settings) -> func.HttpResponse:
    target = settings.post_connect_redirect_url
    name = vendor_title(result.vendor)
    if result.confirm_code is not None:
        if target:
            query = urlencode({"connect_code": result.confirm_code, "vendor": result.vendor})
            location = f"{target}{'&' if urlsplit(target).query else '?'}{query}"
            return _redirect(location)
        minutes = max(1, round(settings.connect_confirm_seconds / 60))
        return page(
            200,
            "Almost connected",
            f"To finish connecting your {name} account, enter this code in the app you came from: "
            f"{result.confirm_code} (valid for {minutes} minutes). Do not give it to anyone else.",
        )
    if target:
        return _redirect(target)
    scopes = result.connection.scopes if result.connection is not None else ""
    return page(
        200, "Connected", f"Your {name} account is connected (scopes: {scopes or 'none'}). You can close this page."
    )


def _redirect(location: str) -> func.HttpResponse:
    return func.HttpResponse(
        status_code=302, headers={"Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


def connect_confirm(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/connections/confirm {"code", "user_id"} (function key): the product confirms a pending connection
    with the user id of its own session -> 200 the connection (never a token); 403 another user, 410 expired."""
    try:
        body = _json_body(req)
        return json_response(get_context().connect.confirm(body.get("code"), body.get("user_id")))
    except FlowError as error:
        return json_error(error.status, error.message)


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
    except BackfillError as error:  # a partly queued job's answer says which job and how much was queued
        return json_response({"error": str(error), **error.details}, error.status)
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
