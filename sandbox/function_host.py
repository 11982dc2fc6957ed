"""Invoke the app's functions the way the Functions host does: indexed from ``function_app`` (as the
worker indexes it), HTTP functions with a ``func.HttpRequest``, queue functions with a ``func.QueueMessage``.
Used by the tests and the demo; nothing here is part of the deployed app."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import azure.functions as func
import requests

_FUNCTIONS: dict[str, Any] = {}


def functions() -> dict[str, Any]:
    """The app's functions by name. ``get_functions()`` may be called only once a process: cached."""
    if not _FUNCTIONS:
        import function_app

        _FUNCTIONS.update({str(f.get_function_name()): f for f in function_app.app.get_functions()})
    return _FUNCTIONS


def trigger(name: str) -> dict[str, Any]:
    """The trigger binding of a function, as the worker sends it to the host."""
    bindings = [json.loads(b) for b in functions()[name].get_raw_bindings()]
    found: dict[str, Any] = next(b for b in bindings if b["type"].endswith("Trigger"))
    return found


def invoke(name: str, *args: Any) -> Any:
    return functions()[name].get_user_function()(*args)


def http(
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
    response: func.HttpResponse = invoke(name, request)
    return response


def follow_consent(link: str, sandbox_user: str) -> dict[str, str]:
    """Open a connect link at the (sandbox) vendor, which consents and redirects to our callback: return the
    callback's query parameters."""
    answer = requests.get(link, params={"sandbox_user": sandbox_user}, allow_redirects=False, timeout=10)
    if answer.status_code != 302:
        raise RuntimeError(f"the vendor's consent page answered {answer.status_code}")
    return {k: v[0] for k, v in parse_qs(urlparse(answer.headers["Location"]).query).items()}


def callback_request(vendor: str, params: dict[str, str]) -> func.HttpResponse:
    return http(
        "oauth_callback", "GET", f"callback/{vendor}?{urlencode(params)}", route={"vendor": vendor}, params=params
    )
