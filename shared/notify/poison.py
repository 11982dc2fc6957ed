"""Putting poison messages back: ``python -m shared replay-poison [--queue NAME | --all] [--limit N]``.

The Functions host moves a message that failed ``maxDequeueCount`` deliveries to ``<queue>-poison``.
``replay_poison`` moves each one back to ``<queue>`` as a new message (its dequeue count starts again): receive
(hidden from other readers for ``VISIBILITY_SECONDS``), send to the main queue, and only then delete it from
the poison queue, so a failure at any step loses nothing: a message whose send fails stays in the poison queue
(it reappears there after the visibility timeout); a delete that fails after the send leaves a duplicate, which
every worker tolerates (landing and pulls are idempotent). The content is copied verbatim, base64 as the
trigger expects it, without decoding: it fit the queue once, so it fits again.

Messages are taken oldest first up to ``limit`` (default: as many as the poison queue held when the replay
began, so messages that fail again meanwhile and come back are not replayed in a loop).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Protocol

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.queue import QueueServiceClient

from shared.notify import NOTIFY_QUEUE
from shared.pull.jobs import BACKFILL_QUEUE, LIVE_QUEUE
from shared.storage import ROTATE_QUEUE, Storage

log = logging.getLogger(__name__)

POISON_SUFFIX = "-poison"
ALL_QUEUES = (NOTIFY_QUEUE, LIVE_QUEUE, BACKFILL_QUEUE, ROTATE_QUEUE)
VISIBILITY_SECONDS = 120
PAGE = 32


@dataclass
class Replay:
    queue: str
    moved: int = 0
    failed: int = 0
    left: int = 0  # approximately, in the poison queue afterwards


def _service(queues: QueueServiceClient | Storage) -> QueueServiceClient:
    return queues.queues if isinstance(queues, Storage) else queues


def _count(service: QueueServiceClient, name: str) -> int:
    try:
        return int(service.get_queue_client(name).get_queue_properties().approximate_message_count or 0)
    except ResourceNotFoundError:
        return 0


def replay(queues: QueueServiceClient | Storage, queue_name: str, limit: int | None = None) -> Replay:
    """Move messages of ``<queue_name>-poison`` back to ``queue_name``; see the module docstring."""
    if not queue_name or queue_name.endswith(POISON_SUFFIX):
        raise ValueError(f"name the main queue, not its poison queue: {queue_name!r}")
    service = _service(queues)
    poison_name = queue_name + POISON_SUFFIX
    outcome = Replay(queue_name)
    # no encode/decode policies: the stored text (base64) is copied as it is
    poison = service.get_queue_client(poison_name)
    target = service.get_queue_client(queue_name)
    cap = _count(service, poison_name) if limit is None else max(0, limit)
    if cap:
        try:
            for message in poison.receive_messages(
                messages_per_page=min(PAGE, cap), max_messages=cap, visibility_timeout=VISIBILITY_SECONDS
            ):
                try:
                    target.send_message(message.content)
                except AzureError as error:
                    outcome.failed += 1
                    log.error(
                        "replay-poison %s: a message stays in %s (%s)", queue_name, poison_name, type(error).__name__
                    )
                    continue
                outcome.moved += 1
                try:
                    poison.delete_message(message)
                except AzureError as error:
                    log.error(
                        "replay-poison %s: a message was re-queued but not removed from %s (%s): it will run twice",
                        queue_name,
                        poison_name,
                        type(error).__name__,
                    )
        except ResourceNotFoundError:
            pass  # no poison queue (yet): nothing to replay
    outcome.left = _count(service, poison_name)
    log.info(
        "replay-poison %s: %d moved back, %d failed, %d left", queue_name, outcome.moved, outcome.failed, outcome.left
    )
    return outcome


def replay_poison(queues: QueueServiceClient | Storage, queue_name: str, limit: int | None = None) -> int:
    """Move the messages of ``<queue_name>-poison`` back to ``queue_name``; returns how many were moved."""
    return replay(queues, queue_name, limit).moved


def queue_name(value: str) -> str:
    """``--queue``: one of the work queues; a poison queue's name points at its main queue."""
    if value in ALL_QUEUES:
        return value
    if value.removesuffix(POISON_SUFFIX) in ALL_QUEUES:
        raise argparse.ArgumentTypeError(
            f"name the main queue, not its poison queue: --queue {value.removesuffix(POISON_SUFFIX)}"
        )
    raise argparse.ArgumentTypeError(f"unknown queue {value!r}; known queues: {', '.join(ALL_QUEUES)}")


class WithStorage(Protocol):
    """What the command reads from the app's context: its storage clients."""

    @property
    def storage(self) -> Storage: ...


def cmd_replay_poison(ctx: WithStorage, args: argparse.Namespace) -> int:
    names = (args.queue,) if args.queue else ALL_QUEUES
    failed = False
    for name in names:
        outcome = replay(ctx.storage, name, args.limit)
        note = f", {outcome.failed} could not be moved" if outcome.failed else ""
        print(f"{name}: {outcome.moved} moved back from {name}{POISON_SUFFIX}{note}, {outcome.left} left there")
        failed = failed or outcome.failed > 0
    return 1 if failed else 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = sub.add_parser("replay-poison", help="move poison queue messages back to their queue to run again")
    which = command.add_mutually_exclusive_group()
    which.add_argument("--queue", type=queue_name, help=f"the main queue, e.g. {NOTIFY_QUEUE} (default: --all)")
    which.add_argument("--all", action="store_true", help=f"every queue: {', '.join(ALL_QUEUES)}")
    command.add_argument("--limit", type=int, help="at most this many messages per queue")
    command.set_defaults(handler=cmd_replay_poison)
