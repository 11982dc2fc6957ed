"""``python -m shared google-health subscriber ...``: the Google Health subscriber (the webhook endpoint) from the
command line, through Google's ``projects.subscribers`` methods (discovery: ``create``, ``list``, ``delete``).

These calls need a Google Cloud access token with the ``cloud-platform`` scope (a service account's or the
operator's: ``gcloud auth print-access-token``), read from the environment variable ``--token-env`` names
(default ``GOOGLE_HEALTH_ADMIN_TOKEN``), never from an argument and never printed. ``create`` registers
``{PUBLIC_BASE_URL}/api/notify/google_health`` with the ``Authorization`` value of ``GOOGLE_HEALTH_SUBSCRIBER_SECRET``
and one ``AUTOMATIC`` subscriber config for the data types the app pulls: every consenting user is notified, no
per-user subscription is made. Google verifies the endpoint while creating it (two POSTs; the app answers them),
so the app must be running at that address first. Steps: ``docs/google-health.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote

from shared.vendors.google_health.data import DATA_TYPES
from shared.vendors.google_health.notify import SECRET_SETTING

TOKEN_ENV = "GOOGLE_HEALTH_ADMIN_TOKEN"  # noqa: S105 - the name of an environment variable
TIMEOUT = 30.0


class _VendorSettings(Protocol):
    @property
    def extra(self) -> Mapping[str, str]: ...

    def url(self, key: str) -> str: ...


class _Settings(Protocol):
    @property
    def public_base_url(self) -> str: ...

    def vendor(self, name: str) -> _VendorSettings: ...


def create_payload(endpoint: str, secret: str, data_types: list[str]) -> dict[str, Any]:
    """``CreateSubscriberPayload``: the endpoint, its Authorization value, one AUTOMATIC config."""
    return {
        "endpointUri": endpoint,
        "endpointAuthorization": {"secret": secret},
        "subscriberConfigs": [{"dataTypes": data_types, "subscriptionCreatePolicy": "AUTOMATIC"}],
    }


def _call(method: str, url: str, token: str, **kwargs: Any) -> tuple[int, Any]:
    import requests  # only here: the function app's import never loads an HTTP client (tests/test_layers.py)

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    response = requests.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body


def _error(status: int, body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    detail = error.get("status") or error.get("message") if isinstance(error, dict) else None
    return f"Google answered HTTP {status}" + (f" ({str(detail)[:200]})" if detail else "")


def _token(args: argparse.Namespace) -> str | None:
    token = os.environ.get(args.token_env, "").strip()
    if not token:
        print(f"set {args.token_env} to a Google Cloud access token with the cloud-platform scope", file=sys.stderr)
    return token or None


def _vendor(settings: _Settings) -> _VendorSettings | None:
    try:
        return settings.vendor("google_health")
    except Exception as error:  # the settings' own error: "vendor 'google_health' is not enabled (set ...)"
        print(f"configuration error: {error}", file=sys.stderr)
        return None


def _base(vendor: _VendorSettings, project: str) -> str:
    return f"{vendor.url('API_BASE_URL')}/v4/projects/{quote(project, safe='')}/subscribers"


def cmd_create(ctx: Any, args: argparse.Namespace) -> int:
    settings: _Settings = ctx.settings
    vendor = _vendor(settings)
    if vendor is None:
        return 2
    secret = vendor.extra.get(SECRET_SETTING, "")
    if not secret:
        print(f"set GOOGLE_HEALTH_{SECRET_SETTING} (e.g. 'Bearer <random>') first", file=sys.stderr)
        return 2
    token = _token(args)
    if token is None:
        return 2
    endpoint = args.endpoint or f"{settings.public_base_url}/api/notify/google_health"
    types = args.types.split(",") if args.types else sorted(DATA_TYPES)
    unknown = sorted(set(types) - set(DATA_TYPES))
    if unknown:
        print(f"unknown data types {unknown}; known: {', '.join(sorted(DATA_TYPES))}", file=sys.stderr)
        return 2
    status, body = _call(
        "POST",
        _base(vendor, args.project),
        token,
        params={"subscriberId": args.id},
        json=create_payload(endpoint, secret, types),
    )
    if status != 200:
        print(_error(status, body), file=sys.stderr)
        return 1
    name = body.get("name", "") if isinstance(body, dict) else ""
    done = isinstance(body, dict) and bool(body.get("done"))
    print(f"subscriber {args.id}: {endpoint} ({len(types)} data types, AUTOMATIC); operation {name} done={done}")
    return 0


def cmd_list(ctx: Any, args: argparse.Namespace) -> int:
    vendor, token = _vendor(ctx.settings), _token(args)
    if vendor is None or token is None:
        return 2
    status, body = _call("GET", _base(vendor, args.project), token)
    if status != 200:
        print(_error(status, body), file=sys.stderr)
        return 1
    subscribers = body.get("subscribers", []) if isinstance(body, dict) else []
    for subscriber in subscribers:
        print(f"{subscriber.get('name', '')}\t{subscriber.get('state', '')}\t{subscriber.get('endpointUri', '')}")
    if not subscribers:
        print("no subscribers")
    return 0


def cmd_delete(ctx: Any, args: argparse.Namespace) -> int:
    vendor, token = _vendor(ctx.settings), _token(args)
    if vendor is None or token is None:
        return 2
    url = f"{_base(vendor, args.project)}/{quote(args.id, safe='')}"
    status, body = _call("DELETE", url, token, params={"force": "true"} if args.force else None)
    if status != 200:
        print(_error(status, body), file=sys.stderr)
        return 1
    print(f"subscriber {args.id} deleted")
    return 0


def add_commands(sub: Any) -> None:
    """``google-health subscriber create|list|delete`` (no storage needed: ``needs_storage`` False)."""
    group = sub.add_parser("google-health", help="Google Health: the webhook subscriber (docs/google-health.md)")
    actions = group.add_subparsers(dest="google_health_command", required=True)
    subscriber = actions.add_parser("subscriber", help="create, list or delete the project's subscriber")
    verbs = subscriber.add_subparsers(dest="subscriber_command", required=True)
    handlers: dict[str, Callable[[Any, argparse.Namespace], int]] = {
        "create": cmd_create,
        "list": cmd_list,
        "delete": cmd_delete,
    }
    for verb, handler in handlers.items():
        parser = verbs.add_parser(verb, help=f"{verb} the subscriber")
        parser.add_argument("--project", required=True, help="Google Cloud project id or number")
        parser.add_argument("--token-env", default=TOKEN_ENV, help="environment variable holding the access token")
        if verb != "list":
            parser.add_argument("--id", default="wearsync", help="subscriber id (4-36 of a-z, 0-9, -)")
        if verb == "create":
            parser.add_argument("--endpoint", help="default: {PUBLIC_BASE_URL}/api/notify/google_health")
            parser.add_argument("--types", help="comma-separated data types (default: every type the app pulls)")
        if verb == "delete":
            parser.add_argument("--force", action="store_true", help="also delete its subscriptions")
        parser.set_defaults(handler=handler, needs_storage=False)


__all__ = ["add_commands", "create_payload"]
