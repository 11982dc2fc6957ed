"""Call the app's functions as the Functions host does (see sandbox.function_host), with test assertions, and a
user's browser (cookies) for the connect flow: link -> start route -> vendor consent -> callback -> the product's
confirmation."""

from __future__ import annotations

import json

import azure.functions as func

from sandbox.function_host import Browser, callback_request, confirm, confirm_code, functions, http, trigger

__all__ = [
    "Browser",
    "CallbackParams",
    "call",
    "callback",
    "confirm",
    "confirm_code",
    "connect",
    "connect_link",
    "consent",
    "functions",
    "trigger",
]

call = http


class CallbackParams(dict[str, str]):
    """The callback's query parameters, with the browser that received them (its cookie goes with them)."""

    browser: Browser | None = None


def connect_link(vendor: str, user_id: str) -> str:
    response = call("connect", "POST", f"connect/{vendor}", route={"vendor": vendor}, body={"user_id": user_id})
    assert response.status_code == 200, response.get_body()
    link: str = json.loads(response.get_body())["link_web_url"]
    return link


def consent(
    link: str, sandbox_user: str, browser: Browser | None = None, extra: dict[str, str] | None = None
) -> CallbackParams:
    """Open the link in ``browser`` (a fresh one by default) and consent at the vendor as ``sandbox_user``."""
    browser = browser or Browser()
    params = CallbackParams(browser.consent(link, sandbox_user, extra))
    params.browser = browser
    return params


def callback(vendor: str, params: dict[str, str], browser: Browser | None = None) -> func.HttpResponse:
    """The vendor's redirect, arriving in ``browser`` (by default the one that consented; none: no cookie)."""
    browser = browser or getattr(params, "browser", None)
    if browser is None:
        return callback_request(vendor, dict(params))
    return browser.callback(vendor, dict(params))


def connect(vendor: str, user_id: str, sandbox_user: str | None = None) -> func.HttpResponse:
    """The whole flow for one user in one browser, confirmed by the product for that same user: the last answer
    (the confirmation's, or the callback's when confirmation is off or the callback failed)."""
    response = callback(vendor, consent(connect_link(vendor, user_id), sandbox_user or user_id))
    code = confirm_code(response)
    return response if code is None else confirm(code, user_id)
