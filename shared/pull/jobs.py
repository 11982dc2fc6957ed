"""The unit of pull work carried by a queue message: one data type of one connection over a window of local
dates, live (the hourly pull, which moves the watermark) or one chunk of a backfill."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

from shared.naming import InvalidUserId, validate_user_id
from shared.pull.model import Priority, Window

LIVE_QUEUE = "pull-jobs"
BACKFILL_QUEUE = "backfill-jobs"


class BadPullMessage(ValueError):
    """A queue message that is not a pull job: retrying it cannot help."""


@dataclass(frozen=True)
class PullJob:
    vendor: str
    user_id: str
    data_type: str
    first: date
    last: date
    priority: Priority = Priority.LIVE
    job_id: str = ""  # the backfill job a chunk belongs to
    chunk: str = ""  # the chunk's row key in the backfill table
    moves_watermark: bool = True  # live pulls do; a backfill chunk or a notification's one-day pull does not

    @property
    def window(self) -> Window:
        return Window(self.first, self.last)

    @property
    def queue(self) -> str:
        return BACKFILL_QUEUE if self.priority is Priority.BACKFILL else LIVE_QUEUE

    def rest(self, first: date) -> PullJob:
        """The same job from ``first`` on (what is left after an interruption)."""
        return replace(self, first=first)

    def message(self) -> str:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}  # flat: no asdict deep copy
        data.update(first=self.first.isoformat(), last=self.last.isoformat(), priority=self.priority.value)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str | bytes) -> PullJob:
        try:
            data = json.loads(body)
            job = cls(
                vendor=str(data["vendor"]),
                user_id=validate_user_id(str(data["user_id"])),
                data_type=str(data["data_type"]),
                first=date.fromisoformat(data["first"]),
                last=date.fromisoformat(data["last"]),
                priority=Priority(data.get("priority", "live")),
                job_id=str(data.get("job_id") or ""),
                chunk=str(data.get("chunk") or ""),
                moves_watermark=bool(data.get("moves_watermark", True)) and not data.get("job_id"),
            )
        except (ValueError, KeyError, TypeError, InvalidUserId) as error:
            raise BadPullMessage(f"not a pull job: {type(error).__name__}") from None
        if job.last < job.first:
            raise BadPullMessage("not a pull job: window ends before it starts")
        return job

    def __str__(self) -> str:
        kind = f"backfill {self.job_id}/{self.chunk}" if self.job_id else self.priority.value
        kind += "" if self.moves_watermark or self.job_id else ", watermark unchanged"
        return f"{self.vendor} {self.data_type} {self.window} ({kind})"
