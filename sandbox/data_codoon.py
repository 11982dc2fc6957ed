"""Codoon OpenAPI synthetic data (the API closed in 2018 and its data methods were never published, so every
field name here is the sandbox's own choice; see `sandbox.api_codoon` for the request side).

All users live at +08:00; times are local "YYYY-MM-DD HH:MM:SS" strings. Kinds (record id in brackets):
- tracker [the day "YYYY-MM-DD"]: the daily tracker summary {the_day, steps, calories, meters,
  active_minutes, update_time} with hourly items; today is partial (hours that have passed);
- route [route_id, 32 hex digits]: a GPS sport (running, walking or cycling) on one day in three, with points;
- sleep [sleep_id, 64-bit int]: the night ending on the day (19 nights in 20);
- body [log_id, 64-bit int]: a weight log one day in four.
`update_time` is the end of the day (+ a few minutes) for past days, now for today, the revision time once
revised.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sandbox.data import (
    ONE_DAY,
    Record,
    Snapshot,
    at_local,
    day_uuid,
    hourly,
    id64,
    local_day,
    local_naive,
    rng,
    seed,
    stamp,
    uuid_day,
)

KINDS = ("tracker", "route", "sleep", "body")
OFFSET = timedelta(hours=8)
_SPORTS = (("running", 9.5, 0.065), ("walking", 5.0, 0.045), ("cycling", 18.0, 0.03))


@dataclass(frozen=True)
class _Span:
    start: datetime
    end: datetime


def codoon_time(instant: datetime) -> str:
    return local_naive(instant, OFFSET).strftime("%Y-%m-%d %H:%M:%S")


def route_day(route_id: str) -> date | None:
    """The day encoded in a route id, or None."""
    try:
        decoded = uuid_day(str(uuid.UUID(hex=route_id)))
    except ValueError:
        return None
    return None if decoded is None else decoded[0]


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

    def tracker_items(self, snap: Snapshot, day: date) -> list[dict[str, object]]:
        """Hourly items of the tracker day (only hours that have passed)."""
        r = self._tracker_rng(snap, day)
        steps = hourly(r.randint(2000, 18000), day, OFFSET, snap.now)
        stride = r.uniform(0.62, 0.78)
        return [
            {
                "time": f"{hour:02d}:00",
                "steps": count,
                "calories": round(count * 0.04, 1),
                "meters": int(count * stride),
            }
            for hour, count in enumerate(steps)
            if count
        ]

    def _tracker_rng(self, snap: Snapshot, day: date) -> random.Random:
        revision = snap.revision("tracker", day)
        return rng("codoon", snap.user, day, "tracker", 0 if revision is None else revision.count)

    def _update_time(self, snap: Snapshot, kind: str, day: date, created: datetime) -> datetime:
        final_at = at_local(day + ONE_DAY, OFFSET, 5 + seed("codoon-final", snap.user, day) % 30)
        state = stamp(created, final_at, snap.revision(kind, day), snap.now)
        return state.updated_at if state.final or kind != "tracker" else snap.now

    def _tracker(self, snap: Snapshot, day: date) -> list[Record]:
        items = self.tracker_items(snap, day)
        start = at_local(day, OFFSET, 0)
        steps = sum(int(str(item["steps"])) for item in items)
        body: dict[str, object] = {
            "the_day": day.isoformat(),
            "steps": steps,
            "calories": round(sum(float(str(item["calories"])) for item in items), 1),
            "meters": sum(int(str(item["meters"])) for item in items),
            "active_minutes": steps // 110,
            "update_time": codoon_time(self._update_time(snap, "tracker", day, start)),
        }
        return [Record(day.isoformat(), day, start, start + ONE_DAY, body)]

    def _routes(self, snap: Snapshot, day: date) -> list[Record]:
        r = rng("codoon", snap.user, day, "route")
        if r.random() >= 1 / 3:
            return []
        start = at_local(day, OFFSET, r.uniform(6 * 60, 19 * 60))
        span = _Span(start, start + timedelta(minutes=r.randint(20, 80)))
        if span.end + timedelta(minutes=5) > snap.now:
            return []
        route_id = uuid.UUID(day_uuid(day, 0, "codoon", snap.user, "route")).hex
        return [Record(route_id, day, span.start, span.end, self._route_body(snap, day, route_id, span))]

    def _route_body(self, snap: Snapshot, day: date, route_id: str, span: _Span) -> dict[str, object]:
        revision = snap.revision("route", day)
        r = rng("codoon", snap.user, day, "route-body", 0 if revision is None else revision.count)
        sport, speed, calories_per_meter = _SPORTS[r.randrange(len(_SPORTS))]
        seconds = int((span.end - span.start).total_seconds())
        length = int(seconds / 3600 * speed * 1000 * r.uniform(0.85, 1.15))
        return {
            "route_id": route_id,
            "sports_type": sport,
            "start_time": codoon_time(span.start),
            "end_time": codoon_time(span.end),
            "total_time": seconds,
            "total_length": length,
            "total_calories": round(length * calories_per_meter, 1),
            "average_speed": round(length / 1000 / (seconds / 3600), 2),
            "update_time": codoon_time(self._update_time(snap, "route", day, span.end + timedelta(minutes=5))),
            "points": _points(rng("codoon", snap.user, "home"), r, span),
        }

    def _sleep(self, snap: Snapshot, day: date) -> list[Record]:
        r = rng("codoon", snap.user, day, "night")
        if r.random() < 0.05:
            return []
        span = _Span(
            at_local(day - ONE_DAY, OFFSET, 22 * 60 + r.uniform(0, 110)),
            at_local(day, OFFSET, 6 * 60 + r.uniform(0, 120)),
        )
        if span.end + timedelta(minutes=15) > snap.now:
            return []
        revision = snap.revision("sleep", day)
        q = rng("codoon", snap.user, day, "sleep", 0 if revision is None else revision.count)
        total = int((span.end - span.start).total_seconds()) // 60
        awake = q.randint(5, 40)
        deep = int((total - awake) * q.uniform(0.2, 0.35))
        sleep_id = id64("codoon", snap.user, "sleep", day)
        body: dict[str, object] = {
            "sleep_id": sleep_id,
            "the_day": day.isoformat(),
            "start_time": codoon_time(span.start),
            "end_time": codoon_time(span.end),
            "total_minutes": total,
            "deep_minutes": deep,
            "light_minutes": total - awake - deep,
            "awake_minutes": awake,
            "awake_count": q.randint(0, 6),
            "update_time": codoon_time(self._update_time(snap, "sleep", day, span.end + timedelta(minutes=15))),
        }
        return [Record(sleep_id, day, span.start, span.end, body)]

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
        height, base = person.uniform(1.55, 1.90), person.uniform(52, 95)
        weight = round(base + 2.0 * ((day.toordinal() % 120) / 60 - 1) + q.uniform(-0.6, 0.6), 1)
        log_id = id64("codoon", snap.user, "body", day)
        body: dict[str, object] = {
            "log_id": log_id,
            "the_day": day.isoformat(),
            "time": codoon_time(at),
            "weight": weight,
            "bmi": round(weight / height**2, 1),
            "body_fat_rate": round(q.uniform(12, 30), 1),
        }
        return [Record(log_id, day, at, at, body)]


def _points(home: random.Random, r: random.Random, span: _Span) -> list[dict[str, object]]:
    """One GPS point a minute, a random walk from the user's home near Shanghai."""
    latitude, longitude = 31.23 + home.uniform(-0.1, 0.1), 121.47 + home.uniform(-0.1, 0.1)
    altitude = home.uniform(3, 40)
    points: list[dict[str, object]] = []
    at = span.start
    while at <= span.end:
        points.append(
            {
                "latitude": round(latitude, 6),
                "longitude": round(longitude, 6),
                "altitude": round(altitude, 1),
                "time": codoon_time(at),
            }
        )
        latitude += r.uniform(-0.0015, 0.0015)
        longitude += r.uniform(-0.0015, 0.0015)
        altitude = max(0.0, altitude + r.uniform(-1.5, 1.5))
        at += timedelta(minutes=1)
    return points


CODOON_DATA = CodoonData()
