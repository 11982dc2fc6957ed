"""What every queue-triggered function shares: a message that fails its last delivery is counted (and
named in the log) as it goes to the poison queue, so the alert on poison messages sees it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import azure.functions as func

from shared.telemetry import count_poison_message

log = logging.getLogger(__name__)

MAX_DEQUEUE_COUNT = 5
"""host.json ``extensions.queues.maxDequeueCount``: after this many failed deliveries the host moves a message
to ``<queue>-poison`` (a test keeps the two in step)."""


@contextmanager
def poison_counted(msg: func.QueueMessage, queue: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:
        if (msg.dequeue_count or 0) >= MAX_DEQUEUE_COUNT:
            count_poison_message(queue)
            log.error(
                "message %s failed its last delivery (%s): it goes to %s-poison; replay it with "
                "python -m shared replay-poison --queue %s once the cause is fixed",
                msg.id,
                type(error).__name__,
                queue,
                queue,
            )
        raise
