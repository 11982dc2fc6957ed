"""Issue 10 item 2, the callback side: whatever order concurrent connects and rotations of one connection run
in, the connection ends consistent and its stored pair is the one the vendor accepts. The sandbox's vendors
replace a grant when the user consents again, so a pair exchanged earlier, or refreshed from the replaced
grant, is dead: storing it would lose the connection. Threads, the sandbox vendors and Azurite, through the
function handlers as the host calls them."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sandbox import Sandbox
from shared.app_context import AppContext, get_context
from shared.registry import Status
from tests.host import Browser, callback, confirm, confirm_code, connect_link, consent

VENDORS = ("whoop", "fitbit", "codoon")
TRIALS = 20


def _connect_in(browser: Browser, vendor: str, user: str, link: str, start: threading.Barrier) -> int:
    params = consent(link, user, browser)  # consent first: the race is in callback + confirmation
    start.wait()
    time.sleep(random.uniform(0, 0.01))
    code = confirm_code(callback(vendor, params))
    assert code is not None
    status: int = confirm(code, user).status_code
    return status


def _consistent(ctx: AppContext, sandbox: Sandbox, vendor: str, user: str, refresh: bool) -> str | None:
    """None when the connection is active, its vendor account points to it, and the vendor accepts its stored
    pair: the access token (the sandbox refuses one of a replaced grant) and, with ``refresh``, the refresh
    token too (a pair stored from before a rotation has a valid access token but a spent refresh token)."""
    connection = ctx.registry.get(vendor, user)
    stored = ctx.vault.read(vendor, user)
    if connection is None or stored is None:
        return "no connection or no pair"
    if connection.status is not Status.ACTIVE:
        return f"status {connection.status.value}: {connection.last_error}"
    if sandbox.check_bearer(vendor, f"Bearer {stored.pair.access_token}") != user:
        return "the vendor refuses the stored access token"
    if ctx.registry.user_for_vendor_user(vendor, connection.vendor_user_id) != user:
        return "the vendor account points elsewhere"
    if not refresh:
        return None
    outcome = get_context().tokens.rotate(vendor, user, force=True).outcome.value
    return None if outcome == "rotated" else f"the stored refresh token is refused ({outcome})"


def _trials(
    vendor: str, run: Callable[[str], None], ctx: AppContext, sandbox: Sandbox, refresh: bool = False
) -> list[str]:
    failures = []
    for trial in range(TRIALS):
        user = f"race-{vendor}-{trial}"
        run(user)
        problem = _consistent(ctx, sandbox, vendor, user, refresh)
        if problem:
            failures.append(f"{vendor} trial {trial}: {problem}")
    return failures


def test_two_connect_links_completed_at_once_end_with_the_pair_the_vendor_accepts(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    get_context()  # built once, before the threads

    def two_links(vendor: str) -> Callable[[str], None]:
        def run(user: str) -> None:
            links = [connect_link(vendor, user), connect_link(vendor, user)]
            start = threading.Barrier(2)
            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(lambda link: _connect_in(Browser(), vendor, user, link, start), links))
            assert answers == [200, 200], answers  # both confirmed: the product saw the right user twice

        return run

    with ThreadPoolExecutor(len(VENDORS)) as pool:
        failures = [f for found in pool.map(lambda v: _trials(v, two_links(v), ctx, sandbox), VENDORS) for f in found]
    assert failures == []
    assert list(ctx.pending.table.list_entities()) == [], "no pending connection is left behind"


def test_a_reconnect_while_a_rotation_is_in_flight_ends_with_the_pair_the_vendor_accepts(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, seed: Any
) -> None:
    get_context()

    def reconnect_during_rotation(vendor: str) -> Callable[[str], None]:
        def run(user: str) -> None:
            seed(vendor, user)
            link = connect_link(vendor, user)
            start = threading.Barrier(2)

            def rotate() -> None:
                start.wait()
                get_context().tokens.rotate(vendor, user, force=True)

            with ThreadPoolExecutor(2) as pool:
                rotation = pool.submit(rotate)
                reconnect = pool.submit(_connect_in, Browser(), vendor, user, link, start)
                rotation.result()
                assert reconnect.result() == 200

        return run

    with ThreadPoolExecutor(len(VENDORS)) as pool:
        found = pool.map(lambda v: _trials(v, reconnect_during_rotation(v), ctx, sandbox, refresh=True), VENDORS)
        failures = [f for each in found for f in each]
    assert failures == []


@pytest.fixture(autouse=True)
def _quick_vendor(sandbox: Sandbox) -> None:
    """A few milliseconds of vendor latency, so that exchanges and refreshes really overlap."""
    sandbox.set_latency(None, 0.005)
