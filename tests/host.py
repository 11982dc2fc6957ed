"""Call the app's functions as the Functions host does: indexed from function_app, with func.HttpRequest."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import azure.functions as func
import requests

_FUNCTIONS: dict[str, Any] = {}


def functions() -> dict[str, Any]:
    """The app's functions as the host indexes them (get_functions() may only be called once a process)."""
    if not _FUNCTIONS:
        import function_app

        _FUNCTIONS.update({str(f.get_function_name()): f for f in function_app.app.get_functions()})
    return _FUNCTIONS


def trigger(name: str) -> dict[str, Any]:
    bindings = [json.loads(b) for b in functions()[name].get_raw_bindings()]
    found: dict[str, Any] = next(b for b in bindings if b["type"].endswith("Trigger"))
    return found


def call(
    name: str,
    method: str,
    path: str,
    *,
    route: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    body: Any = None,
    raw: bytes | None = None,
) -> func.HttpResponse:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    request = func.HttpRequest(
        method,
        f"http://localhost:7071/api/{path}",
        headers={"content-type": "application/json"},
        params=params or {},
        route_params=route or {},
        body=data,
    )
    response: func.HttpResponse = functions()[name].get_user_function()(request)
    return response


def connect_link(vendor: str, user_id: str) -> str:
    response = call("connect", "POST", f"connect/{vendor}", route={"vendor": vendor}, body={"user_id": user_id})
    assert response.status_code == 200, response.get_body()
    link: str = json.loads(response.get_body())["link_web_url"]
    return link


def consent(link: str, sandbox_user: str) -> dict[str, str]:
    """Follow the link to the (sandbox) vendor's consent page; return the callback's query parameters."""
    answer = requests.get(link, params={"sandbox_user": sandbox_user}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlparse(answer.headers["Location"]).query).items()}


def callback(vendor: str, params: dict[str, str]) -> func.HttpResponse:
    return call(
        "oauth_callback", "GET", f"callback/{vendor}?{urlencode(params)}", route={"vendor": vendor}, params=params
    )
