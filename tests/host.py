"""Call the app's functions as the Functions host does (see sandbox.function_host), with test assertions."""

from __future__ import annotations

import json

import azure.functions as func

from sandbox.function_host import callback_request, follow_consent, functions, http, trigger

__all__ = ["call", "callback", "connect_link", "consent", "functions", "trigger"]

call = http


def connect_link(vendor: str, user_id: str) -> str:
    response = call("connect", "POST", f"connect/{vendor}", route={"vendor": vendor}, body={"user_id": user_id})
    assert response.status_code == 200, response.get_body()
    link: str = json.loads(response.get_body())["link_web_url"]
    return link


def consent(link: str, sandbox_user: str) -> dict[str, str]:
    return follow_consent(link, sandbox_user)


def callback(vendor: str, params: dict[str, str]) -> func.HttpResponse:
    return callback_request(vendor, params)
