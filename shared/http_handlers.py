"""HTTP adapters for the function app: parse a ``func.HttpRequest``, call one service, map the result to
a ``func.HttpResponse``. Bad input gets a clear message and the right status; no response holds a token."""

from __future__ import annotations

import html
import json
import logging
from typing import Any

import azure.functions as func

from shared.app_context import get_context
from shared.connect_flow import FlowError, link_expiry_iso

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


def health(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/health: 200 when storage and the vault answer, else 503. Names no resource and no secret."""
    from shared.health import check

    healthy, body = check(get_context())
    return json_response(body, 200 if healthy else 503)
