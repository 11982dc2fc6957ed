"""Invoke the app's functions the way the Functions host does: indexed from ``function_app`` (as the
worker indexes it), HTTP functions with a ``func.HttpRequest``, queue functions with a ``func.QueueMessage``.
Used by the tests and the demo; nothing here is part of the deployed app."""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import azure.functions as func
import requests

_FUNCTIONS: dict[str, Any] = {}
_INDEXING = threading.Lock()


def functions() -> dict[str, Any]:
    """The app's functions by name. ``get_functions()`` may be called only once a process: cached (under a lock,
    since tests call functions from several threads)."""
    with _INDEXING:
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
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    request = func.HttpRequest(
        method,
        f"http://localhost:7071/api/{path}",
        headers={"content-type": "application/json", **(headers or {})},
        params=params or {},
        route_params=route or {},
        body=data,
    )
    response: func.HttpResponse = invoke(name, request)
    return response


class Browser:
    """One user's browser as far as our app is concerned: it keeps the cookies our routes set, sends them back,
    and follows the connect link through our start route to the vendor's consent page."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def _keep(self, response: func.HttpResponse) -> None:
        header = response.headers.get("Set-Cookie")
        if not header:
            return
        pair, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = pair.partition("=")
        if "Max-Age=0" in attributes or not value:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def open(self, link: str) -> func.HttpResponse:
        """Open a connect link (our start route): the answer is a redirect to the vendor, with a cookie."""
        parsed = urlparse(link)
        path = parsed.path.removeprefix("/api/")
        parts = path.split("/")  # connect/{vendor}/start
        params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        response = http(
            "connect_start",
            "GET",
            f"{path}?{parsed.query}",
            route={"vendor": parts[1] if len(parts) > 1 else ""},
            params=params,
            headers=self.cookie_header(),
        )
        self._keep(response)
        return response

    def consent(self, link: str, sandbox_user: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Open the link, consent at the (sandbox) vendor as ``sandbox_user``: the callback's query parameters.
        ``extra`` goes to the vendor's page (e.g. ``sandbox_grant_scope``)."""
        opened = self.open(link)
        if opened.status_code != 302:
            raise RuntimeError(f"the connect link answered {opened.status_code}: {opened.get_body()[:200]!r}")
        return follow_consent(opened.headers["Location"], sandbox_user, extra)

    def callback(self, vendor: str, params: dict[str, str]) -> func.HttpResponse:
        response = http(
            "oauth_callback",
            "GET",
            f"callback/{vendor}?{urlencode(params)}",
            route={"vendor": vendor},
            params=params,
            headers=self.cookie_header(),
        )
        self._keep(response)
        return response


def confirm_code(response: func.HttpResponse) -> str | None:
    """The one-time code in a callback's answer: the redirect's ``connect_code``, or the code on the page."""
    location = response.headers.get("Location")
    if location:
        found = parse_qs(urlparse(location).query).get("connect_code")
        return found[0] if found else None
    match = re.search(rb"enter this code in the app you came from: ([A-Za-z0-9_-]+)", response.get_body())
    return match[1].decode() if match else None


def confirm(code: str, user_id: str) -> func.HttpResponse:
    """The product confirms a pending connection with the user id of its own session."""
    return http("connect_confirm", "POST", "connections/confirm", body={"code": code, "user_id": user_id})


def follow_consent(link: str, sandbox_user: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Open a connect link at the (sandbox) vendor, which consents and redirects to our callback: return the
    callback's query parameters."""
    query = {"sandbox_user": sandbox_user, **(extra or {})}
    answer = requests.get(link, params=query, allow_redirects=False, timeout=10)
    if answer.status_code != 302:
        raise RuntimeError(f"the vendor's consent page answered {answer.status_code}")
    return {k: v[0] for k, v in parse_qs(urlparse(answer.headers["Location"]).query).items()}


def callback_request(vendor: str, params: dict[str, str]) -> func.HttpResponse:
    return http(
        "oauth_callback", "GET", f"callback/{vendor}?{urlencode(params)}", route={"vendor": vendor}, params=params
    )
