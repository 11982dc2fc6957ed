"""Fitbit's retirement, as the twin imitates it (vendors-next.md §1.1): Google turned the legacy Fitbit Web API
*and* the Fitbit OAuth endpoints off on 2026-11-02; since then every request fails with HTTP 410 Gone.

Only the status is documented (Google's About page); no answer after the turn-off was observed, so the twin sends
410 with a plain-text "Gone" and nothing the app could mistake for an OAuth error or a data answer.

The switch is a quirk of the twin, off by default (a fresh or reset sandbox serves the live API):
``box.data_quirks["fitbit"]["retired"] = 1`` (or ``retire(box)``) turns every Fitbit route (authorize, token,
revoke and every data route) into that 410; ``Sandbox.reset()`` turns it off again.
"""

from __future__ import annotations

from typing import Protocol
from weakref import WeakKeyDictionary

from sandbox.oauth import OAuthStore
from sandbox.server import Reply, Request, Route

NAME = "fitbit"
QUIRK = "retired"
QUIRKS = {QUIRK: 0}

# each sandbox's live quirks (``Sandbox.data_quirks``), found from its OAuth store: the OAuth routes are built
# from the endpoint context, which carries no quirks, and read the switch at request time
_QUIRKS: WeakKeyDictionary[OAuthStore, dict[str, dict[str, int]]] = WeakKeyDictionary()


class Steerable(Protocol):
    @property
    def data_quirks(self) -> dict[str, dict[str, int]]: ...


def retire(box: Steerable, retired: bool = True) -> None:
    """Turn the Fitbit twin off as Google did on 2026-11-02 (every route answers 410), or back on."""
    box.data_quirks.setdefault(NAME, {})[QUIRK] = int(retired)


def remember(store: OAuthStore, quirks: dict[str, dict[str, int]]) -> None:
    """Called by the data routes' builder: where this sandbox keeps its switches."""
    _QUIRKS[store] = quirks


def is_retired(store: OAuthStore) -> bool:
    quirks = _QUIRKS.get(store)
    return bool(quirks and quirks.get(NAME, {}).get(QUIRK))


def gone() -> Reply:
    return Reply(410, {"Content-Type": "text/plain;charset=UTF-8"}, b"Gone")


def retiring(store: OAuthStore, routes: list[Route]) -> list[Route]:
    """The same routes, each answering 410 while the switch is on."""

    def wrap(route: Route) -> Route:
        handler = route.handler

        def answer(request: Request) -> Reply:
            return gone() if is_retired(store) else handler(request)

        return Route(route.method, route.pattern, route.endpoint, answer)

    return [wrap(route) for route in routes]
