"""Run the sweep shards the timers queued, as the Functions host would deliver them to ``sweep_shard``."""

from __future__ import annotations

import azure.functions as func

from sandbox.function_host import invoke
from shared.app_context import AppContext
from shared.storage import SWEEP_QUEUE


def run_shards(ctx: AppContext) -> int:
    """Deliver every visible ``sweep-shards`` message to ``sweep_shard`` (a continuation too); returns how many."""
    queue = ctx.storage.queue(SWEEP_QUEUE)
    count = 0
    while True:
        batch = list(queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60))
        if not batch:
            return count
        for message in batch:
            msg = func.QueueMessage(id=message.id, body=message.content, pop_receipt=message.pop_receipt)
            invoke("sweep_shard", msg)
            queue.delete_message(message)
            count += 1
