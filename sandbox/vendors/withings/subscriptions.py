"""The twin's notification subscriptions per user: made by ``/notify`` ``subscribe`` (``api``), ended by ``revoke``
there and by the grant's revocation (``oauth``: "the data update notifications for this user will be automatically
unsubscribed", the spec's ``oauth2-revoke``)."""

from __future__ import annotations

import threading

_SUBSCRIPTIONS: dict[str, set[tuple[str, int]]] = {}
_LOCK = threading.Lock()


def subscriptions(user: str) -> set[tuple[str, int]]:
    """(callback URL, appli) the user is subscribed to at the twin."""
    with _LOCK:
        return set(_SUBSCRIPTIONS.get(user, set()))


def change(user: str, action: str, url: str, appli: int) -> bool:
    """``subscribe``, ``revoke`` or ``get`` one subscription; False when ``get`` finds none."""
    with _LOCK:
        mine = _SUBSCRIPTIONS.setdefault(user, set())
        if action == "subscribe":
            mine.add((url, appli))
        elif action == "revoke":
            mine.discard((url, appli))
        return (url, appli) in mine or action != "get"


def end_all(user: str) -> None:
    with _LOCK:
        _SUBSCRIPTIONS.pop(user, None)


def reset_subscriptions() -> None:
    with _LOCK:
        _SUBSCRIPTIONS.clear()
