"""Codoon OpenAPI synthetic data, in the shapes of Codoon's own document
(`/work/shared/reference/specs/codoon-openapi.md`; `sandbox.api_codoon` serves it).

All users live at +08:00; times are local "YYYY-MM-DD HH:MM:SS" strings. Kinds (record id in brackets), each
record's body exactly what the document's method answers in `data`:
- tracker [the day "YYYY-MM-DD"]: the day's summary of `get_tracker_summary` {status, calories, meters, activity,
  steps, minutes}; the same day's 20-minute arrays (`get_tracker_data`, 72 slots) come from `tracker_detail`,
  and the summary is their sum. Today is partial (slots that have passed);
- route [route_id, 32 hex digits]: the `get_route_by_id` route {total_time (minutes), upload_time,
  total_calories, start_time, sports_type ("跑步"...), route_image, activity_result, end_time, total_length,
  activity_type, goal_type, goal_value}, a GPS sport on one day in three; its id is only ever learned from a
  `gps_sports` notification (no method lists routes);
- sleep [the day of waking "YYYY-MM-DD"]: `get_sleep_data`'s night {deep_minutes, sleep_complete,
  total_minutes, light_minutes, detail} ending on the day (19 nights in 20); `detail` is 72 20-minute slots from
  noon the day before to noon of the day (-1 no data; below 9.9 deep, below 16.6 light, else awake);
- body [the date "YYYY-MM-DD"]: one `get_body_log` entry, a positional array [date written "2012-3-07" (month
  not zero-padded), weight kg, height cm, body fat % or null, goal weight or null], one day in four.
The document gives no unit for `total_length` and `meters`: the sandbox writes metres. A revision changes the
values (and a route's `upload_time`).
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta

from sandbox.data import (
    ONE_DAY,
    Record,
    Snapshot,
    at_local,
    day_uuid,
    local_day,
    local_naive,
    rng,
    split,
    uuid_day,
)

KINDS = ("tracker", "route", "sleep", "body")
OFFSET = timedelta(hours=8)
SLOT_MINUTES = 20
SLOTS = 24 * 60 // SLOT_MINUTES
STEP_GOAL = 10_000
SLEEP_GOAL_MINUTES = 480
# sports_type, km/h, kcal per metre
_SPORTS = (("跑步", 9.5, 0.065), ("走路", 5.0, 0.045), ("骑行", 18.0, 0.03))
_SLOT_WEIGHTS = tuple(
    w for w in (0, 0, 0, 0, 0, 0, 1, 4, 6, 5, 4, 5, 6, 5, 4, 5, 6, 7, 6, 4, 3, 2, 1, 0) for _ in "abc"
)


def codoon_time(instant: datetime) -> str:
    return local_naive(instant, OFFSET).strftime("%Y-%m-%d %H:%M:%S")


def body_log_date(day: date) -> str:
    """The body log's date as the document writes it: "2012-3-07" (month not zero-padded, day padded)."""
    return f"{day.year}-{day.month}-{day.day:02d}"


def route_day(route_id: str) -> date | None:
    """The day encoded in a route id, or None."""
    try:
        decoded = uuid_day(str(uuid.UUID(hex=route_id)))
    except ValueError:
        return None
    return None if decoded is None else decoded[0]


def _status(steps: int) -> str:
    """运动状态: null (still), low, proper, over."""
    return "null" if steps == 0 else "low" if steps < 5000 else "proper" if steps <= 12000 else "over"


class CodoonData:
    """The Codoon generator (see the module docstring)."""

    vendor = "codoon"
    kinds = KINDS

    def offset(self, user: str) -> timedelta:
        return OFFSET

    def day_records(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        if day < snap.member_since or day > local_day(snap.now, OFFSET):
            return []
        build = {"tracker": self._tracker, "route": self._routes, "sleep": self._sleep, "body": self._body}
        records = build[kind](snap, day)
        return sorted((r for r in records if not snap.is_deleted(kind, day, r.record_id)), key=lambda r: r.key)

    # -- tracker -------------------------------------------------------------------------------------------------

    def tracker_detail(self, snap: Snapshot, day: date) -> dict[str, object]:
        """`get_tracker_data`'s `data` for the day: 20-minute arrays; zeros for a day without data."""
        steps = [0] * SLOTS
        exists = snap.member_since <= day <= local_day(snap.now, OFFSET)
        if exists and not snap.is_deleted("tracker", day, day.isoformat()):
            total = self._tracker_rng(snap, day).randint(2000, 18000)
            elapsed = int((snap.now - at_local(day, OFFSET, 0)).total_seconds()) // 60 // SLOT_MINUTES
            steps = [share if slot < elapsed else 0 for slot, share in enumerate(split(total, _SLOT_WEIGHTS))]
        stride = rng("codoon", snap.user, "stride").uniform(0.62, 0.78)
        meters = [int(count * stride) for count in steps]
        calories = [round(count * 0.04, 1) for count in steps]
        moving = int(sum(min(SLOT_MINUTES, count / 100) for count in steps))  # about 100 steps a minute
        return {
            "meters": meters,
            "sports_duration": moving,
            "steps": steps,
            "calories": calories,
            "sports_complete": min(100, sum(steps) * 100 // STEP_GOAL),
        }

    def tracker_summary(self, snap: Snapshot, day: date) -> dict[str, object]:
        """One entry of `get_tracker_summary`'s `data` (zeros, status "null", for a day without data)."""
        detail = self.tracker_detail(snap, day)
        steps = sum(_ints(detail["steps"]))
        calories = round(sum(_floats(detail["calories"])), 1)
        weight = rng("codoon", snap.user, "person").uniform(52, 95)  # the body log's base weight
        return {
            "status": _status(steps),
            "calories": calories,
            "meters": sum(_ints(detail["meters"])),
            "activity": round(calories / weight, 2),
            "steps": steps,
            "minutes": detail["sports_duration"],
        }

    def _tracker_rng(self, snap: Snapshot, day: date) -> random.Random:
        revision = snap.revision("tracker", day)
        return rng("codoon", snap.user, day, "tracker", 0 if revision is None else revision.count)

    def _tracker(self, snap: Snapshot, day: date) -> list[Record]:
        start = at_local(day, OFFSET, 0)
        summary = self.tracker_summary(snap, day)
        if summary["steps"] == 0:
            return []  # nothing measured yet (just after midnight): the summary is all zeros
        return [Record(day.isoformat(), day, start, start + ONE_DAY, summary)]

    # -- routes --------------------------------------------------------------------------------------------------

    def _routes(self, snap: Snapshot, day: date) -> list[Record]:
        r = rng("codoon", snap.user, day, "route")
        if r.random() >= 1 / 3:
            return []
        start = at_local(day, OFFSET, r.uniform(6 * 60, 19 * 60))
        end = start + timedelta(minutes=r.randint(20, 80))
        if end + timedelta(minutes=5) > snap.now:
            return []
        route_id = uuid.UUID(day_uuid(day, 0, "codoon", snap.user, "route")).hex
        return [Record(route_id, day, start, end, self._route_body(snap, day, route_id, start, end))]

    def _route_body(
        self, snap: Snapshot, day: date, route_id: str, start: datetime, end: datetime
    ) -> dict[str, object]:
        revision = snap.revision("route", day)
        r = rng("codoon", snap.user, day, "route-body", 0 if revision is None else revision.count)
        sport, speed, calories_per_meter = _SPORTS[r.randrange(len(_SPORTS))]
        minutes = int((end - start).total_seconds()) // 60
        length = round(minutes / 60 * speed * 1000 * r.uniform(0.85, 1.15), 1)
        uploaded = end + timedelta(minutes=5) if revision is None else max(end, revision.at)
        goal = r.random() < 0.4
        goal_value = round(length * r.uniform(0.8, 1.2), 1) if goal else 0.0
        return {
            "total_time": minutes,
            "upload_time": codoon_time(uploaded),
            "total_calories": round(length * calories_per_meter, 1),
            "start_time": codoon_time(start),
            "sports_type": sport,
            "route_image": f"https://img.codoon.com/route/{route_id}.png",
            "activity_result": int(goal and length >= goal_value),
            "end_time": codoon_time(end),
            "total_length": length,
            "activity_type": "目标模式" if goal else "普通模式",
            "goal_type": "距离" if goal else "",
            "goal_value": goal_value,
        }

    # -- sleep ---------------------------------------------------------------------------------------------------

    def sleep_night(self, snap: Snapshot, day: date) -> dict[str, object]:
        """`get_sleep_data`'s `data` for the night ending on `day` (zeros and -1s when there is none)."""
        records = self.day_records("sleep", snap, day)
        if records:
            body: dict[str, object] = records[0].body
            return body
        return {"deep_minutes": 0, "sleep_complete": 0, "total_minutes": 0, "light_minutes": 0, "detail": [-1] * SLOTS}

    def _sleep(self, snap: Snapshot, day: date) -> list[Record]:
        r = rng("codoon", snap.user, day, "night")
        if r.random() < 0.05:
            return []
        noon_before = at_local(day - ONE_DAY, OFFSET, 12 * 60)
        first = 30 + r.randint(0, 5)  # 22:00 .. 23:40 (slot 30 is 22:00)
        last = 54 + r.randint(0, 6)  # 06:00 .. 08:00, exclusive
        start = noon_before + timedelta(minutes=SLOT_MINUTES * first)
        end = noon_before + timedelta(minutes=SLOT_MINUTES * last)
        if end + timedelta(minutes=15) > snap.now:
            return []
        revision = snap.revision("sleep", day)
        q = rng("codoon", snap.user, day, "sleep", 0 if revision is None else revision.count)
        detail: list[float] = [-1] * SLOTS
        for slot in range(first, last):
            level = q.choices(("deep", "light", "awake"), (3, 6, 1))[0]
            low, high = {"deep": (0.5, 9.8), "light": (10.0, 16.5), "awake": (17.0, 40.0)}[level]
            detail[slot] = round(q.uniform(low, high), 1)
        deep = SLOT_MINUTES * sum(1 for v in detail if 0 <= v < 9.9)
        light = SLOT_MINUTES * sum(1 for v in detail if 9.9 <= v < 16.6)
        body: dict[str, object] = {
            "deep_minutes": deep,
            "sleep_complete": round(min(1.0, (deep + light) / SLEEP_GOAL_MINUTES), 2),
            "total_minutes": deep + light,
            "light_minutes": light,
            "detail": detail,
        }
        return [Record(day.isoformat(), day, start, end, body)]

    # -- body log ------------------------------------------------------------------------------------------------

    def _body(self, snap: Snapshot, day: date) -> list[Record]:
        r = rng("codoon", snap.user, day, "weigh-in")
        if r.random() >= 0.25:
            return []
        at = at_local(day, OFFSET, 7 * 60 + r.uniform(0, 60))
        if at > snap.now:
            return []
        revision = snap.revision("body", day)
        q = rng("codoon", snap.user, day, "weight", 0 if revision is None else revision.count)
        person = rng("codoon", snap.user, "person")
        base = person.uniform(52, 95)
        height = round(person.uniform(155, 190), 1)
        weight = round(base + 2.0 * ((day.toordinal() % 120) / 60 - 1) + q.uniform(-0.6, 0.6), 1)
        fat = round(q.uniform(12, 30), 1) if q.random() < 0.7 else None
        goal = round(base - 3, 1) if person.random() < 0.5 else None
        return [Record(day.isoformat(), day, at, at, [body_log_date(day), weight, height, fat, goal])]


def _ints(values: object) -> list[int]:
    return [int(v) for v in values] if isinstance(values, list) else []


def _floats(values: object) -> list[float]:
    return [float(v) for v in values] if isinstance(values, list) else []


CODOON_DATA = CodoonData()
