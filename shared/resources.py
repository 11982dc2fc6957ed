"""Every queue and table the app uses, in one list: the infrastructure creates them (with a poison queue per
work queue, so that failures can be watched), and a test checks both lists against infra/app/storage.bicep and
against what ``AppContext.ensure_resources`` creates."""

from __future__ import annotations

from shared.notify import NOTIFY_DEDUP_TABLE, NOTIFY_QUEUE
from shared.notify.bounds import NOTIFY_WORK_TABLE
from shared.notify.worker import NOTIFY_ACTIVITY_TABLE, NOTIFY_UNKNOWN_TABLE
from shared.pending import PENDING_TABLE
from shared.pull.backfill import BACKFILL_TABLE
from shared.pull.jobs import BACKFILL_QUEUE, LIVE_QUEUE
from shared.pull.pull_state import PULL_STATE_TABLE
from shared.pull.rate_budget import BUDGET_TABLE
from shared.storage import CONNECTIONS_TABLE, ROTATE_QUEUE, SWEEP_QUEUE, SWEEP_TABLE

WORK_QUEUES = (ROTATE_QUEUE, LIVE_QUEUE, BACKFILL_QUEUE, NOTIFY_QUEUE, SWEEP_QUEUE)
POISON_QUEUES = tuple(f"{name}-poison" for name in WORK_QUEUES)
TABLES = (
    CONNECTIONS_TABLE,
    "vendorusers",
    "oauthstate",
    PENDING_TABLE,
    PULL_STATE_TABLE,
    BACKFILL_TABLE,
    BUDGET_TABLE,
    NOTIFY_DEDUP_TABLE,
    NOTIFY_UNKNOWN_TABLE,
    NOTIFY_ACTIVITY_TABLE,
    NOTIFY_WORK_TABLE,
    SWEEP_TABLE,
)
