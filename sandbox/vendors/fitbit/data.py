"""Fitbit Web API synthetic data, in the user's local time (timestamps without offset, except activity logs).

Kinds and what one record is (its id for `expected_records`):
- sleep: a v1.2 sleep log (logId, 64-bit): the main sleep ending on the morning of `dateOfSleep` (type "stages",
  with levels.data/summary for deep/light/rem/wake) on 19 nights in 20, a "classic" nap one day in seven;
  it appears 10-90 minutes after it ends. A revision lengthens it (new endTime, duration and stages, same
  logId); sleep logs have no modification time.
- activities: an exercise log of the activity log list (logId): 0-2 per day; `lastModified` moves on revision.
- steps / calories / distance: the daily totals of the activity time series (id: the date); today is partial
  (hours that have passed), revisions change the total.
- heart (restingHeartRate + heartRateZones), hrv (dailyRmssd, deepRmssd), spo2 (avg/min/max), br
  (breathingRate): one per day; hrv, spo2 and br only for days whose main sleep exists.
History starts at the user's member-since day; days before it, or after today, have no records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sandbox.data import (
    ONE_DAY,
    Record,
    Snapshot,
    at_local,
    hourly,
    id64,
    iso_z,
    local_day,
    local_naive,
    offset_text,
    rng,
    seed,
    stamp,
    user_offset,
)

KINDS = ("sleep", "activities", "steps", "calories", "distance", "heart", "hrv", "spo2", "br")
TIME_SERIES = ("steps", "calories", "distance")
_STAGES = ("light", "deep", "rem", "wake")
_CLASSIC = ("asleep", "restless", "awake")
_EXERCISES = ((90013, "Walk"), (90009, "Run"), (90001, "Bike"), (90024, "Swim"), (3000, "Workout"))
_WITH_DISTANCE = frozenset({"Walk", "Run", "Bike", "Swim"})
_WITH_STEPS = frozenset({"Walk", "Run"})


@dataclass(frozen=True)
class _Span:
    start: datetime
    end: datetime


def fitbit_time(instant: datetime, offset: timedelta) -> str:
    """Local time without offset, "2020-02-20T23:21:30.000"."""
    local = local_naive(instant, offset)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def _half_minutes(r: random.Random, low: int, high: int) -> float:
    """Minutes on a 30-second grid (Fitbit sleep stages are counted in 30 s epochs)."""
    return r.randint(low * 2, high * 2) / 2


def _night(user: str, day: date, revision: int) -> _Span | None:
    r = rng("fitbit", user, day, "night")
    if r.random() < 0.05:
        return None
    offset = user_offset(user)
    start = at_local(day - ONE_DAY, offset, 21 * 60 + 30 + _half_minutes(r, 0, 150))
    end = at_local(day, offset, 6 * 60 + _half_minutes(r, 0, 150))
    extra = sum(rng("fitbit", user, day, "longer", n).randint(10, 40) for n in range(1, revision + 1))
    return _Span(start, end + timedelta(minutes=extra))


def _nap(user: str, day: date) -> _Span | None:
    r = rng("fitbit", user, day, "nap")
    if r.random() >= 1 / 7:
        return None
    start = at_local(day, user_offset(user), 13 * 60 + _half_minutes(r, 0, 120))
    return _Span(start, start + timedelta(minutes=_half_minutes(r, 20, 100)))


def _segments(
    r: random.Random, seconds: int, levels: tuple[str, ...], weights: tuple[int, ...]
) -> list[tuple[str, int]]:
    """(level, seconds) runs covering `seconds` on the 30 s grid; neighbours never share a level."""
    runs: list[tuple[str, int]] = []
    done = 0
    while done < seconds:
        level = r.choices(levels, weights=weights)[0]
        length = min(r.randint(1, 12 if level in ("wake", "awake") else 40) * 30, seconds - done)
        if runs and runs[-1][0] == level:
            runs[-1] = (level, runs[-1][1] + length)
        else:
            runs.append((level, length))
        done += length
    return runs


def _levels(r: random.Random, span: _Span, offset: timedelta, stages: bool) -> tuple[dict[str, object], int, int]:
    """The `levels` object, minutes asleep and minutes awake of one sleep log."""
    total = int((span.end - span.start).total_seconds())
    names, weights = (_STAGES, (50, 18, 22, 10)) if stages else (_CLASSIC, (85, 10, 5))
    runs = _segments(r, total, names, weights)
    data: list[dict[str, object]] = []
    at = span.start
    for level, seconds in runs:
        data.append({"dateTime": fitbit_time(at, offset), "level": level, "seconds": seconds})
        at += timedelta(seconds=seconds)
    summary = {name: _level_summary(r, name, runs, stages) for name in names}
    awake = sum(seconds for level, seconds in runs if level in ("wake", "awake", "restless")) // 60
    return {"data": data, "shortData": [], "summary": summary}, total // 60 - awake, awake


def _level_summary(r: random.Random, name: str, runs: list[tuple[str, int]], stages: bool) -> dict[str, int]:
    mine = [seconds for level, seconds in runs if level == name]
    entry = {"count": len(mine), "minutes": sum(mine) // 60}
    if stages:
        entry["thirtyDayAvgMinutes"] = r.randint(30, 70) if name == "wake" else r.randint(20, 120)
    return entry


class FitbitData:
    """The Fitbit generator (see the module docstring)."""

    vendor = "fitbit"
    kinds = KINDS

    def offset(self, user: str) -> timedelta:
        return user_offset(user)

    def day_records(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        if day < snap.member_since or day > local_day(snap.now, self.offset(snap.user)):
            return []
        if kind == "sleep":
            records = self._sleeps(snap, day)
        elif kind == "activities":
            records = self._activities(snap, day)
        else:
            records = self._daily(kind, snap, day)
        return sorted((r for r in records if not snap.is_deleted(kind, day, r.record_id)), key=lambda r: r.key)

    def main_sleep(self, snap: Snapshot, day: date) -> _Span | None:
        """The main sleep ending on `day`, if it exists by now (revisions included)."""
        first = _night(snap.user, day, 0)
        if first is None or _synced(snap.user, first) > snap.now:
            return None
        revision = snap.revision("sleep", day)
        return first if revision is None else _night(snap.user, day, revision.count)

    # -- sleep -------------------------------------------------------------------------------------------------

    def _sleeps(self, snap: Snapshot, day: date) -> list[Record]:
        records = []
        main = self.main_sleep(snap, day)
        if main is not None:
            records.append(self._sleep_log(snap, day, main, 0))
        nap = _nap(snap.user, day)
        if nap is not None and _synced(snap.user, nap) <= snap.now:
            records.append(self._sleep_log(snap, day, nap, 1))
        return records

    def _sleep_log(self, snap: Snapshot, day: date, span: _Span, slot: int) -> Record:
        revision = snap.revision("sleep", day)
        count = 0 if revision is None else revision.count
        r = rng("fitbit", snap.user, day, "sleep", slot, count)
        offset = self.offset(snap.user)
        levels, asleep, awake = _levels(r, span, offset, stages=slot == 0)
        in_bed = int((span.end - span.start).total_seconds()) // 60
        log_id = id64("fitbit", snap.user, "sleep", day, slot)
        body: dict[str, object] = {
            "dateOfSleep": day.isoformat(),
            "duration": int((span.end - span.start).total_seconds()) * 1000,
            "efficiency": round(100 * asleep / max(1, in_bed)),
            "endTime": fitbit_time(span.end, offset),
            "infoCode": 0,
            "isMainSleep": slot == 0,
            "levels": levels,
            "logId": log_id,
            "logType": "auto_detected",
            "minutesAfterWakeup": 0,
            "minutesAsleep": asleep,
            "minutesAwake": awake,
            "minutesToFallAsleep": 0,
            "startTime": fitbit_time(span.start, offset),
            "timeInBed": in_bed,
            "type": "stages" if slot == 0 else "classic",
        }
        return Record(log_id, day, span.start, span.end, body)

    # -- exercise logs -----------------------------------------------------------------------------------------

    def _activities(self, snap: Snapshot, day: date) -> list[Record]:
        r = rng("fitbit", snap.user, day, "exercises")
        count = r.choices((0, 1, 2), weights=(40, 45, 15))[0]
        windows = ((6 * 60 + 30, 9 * 60), (17 * 60, 19 * 60 + 30))
        records = []
        for index, (low, high) in enumerate(windows[:count]):
            start = at_local(day, self.offset(snap.user), r.randint(low * 60, high * 60) / 60)
            span = _Span(start, start + timedelta(minutes=r.randint(20, 90), seconds=r.randint(0, 59)))
            if _synced(snap.user, span) <= snap.now:
                records.append(self._exercise(snap, day, index, span, _EXERCISES[r.randrange(len(_EXERCISES))]))
        return records

    def _exercise(self, snap: Snapshot, day: date, index: int, span: _Span, kind: tuple[int, str]) -> Record:
        offset = self.offset(snap.user)
        synced = _synced(snap.user, span)
        state = stamp(synced, synced, snap.revision("activities", day), snap.now)
        r = rng("fitbit", snap.user, day, "exercise", index, state.revision)
        duration = int((span.end - span.start).total_seconds()) * 1000
        log_id = id64("fitbit", snap.user, "activity", day, index)
        start_text = fitbit_time(span.start, offset) + offset_text(offset)
        body: dict[str, object] = {
            "activeDuration": duration,
            "activityLevel": _activity_levels(r, duration // 60000),
            "activityName": kind[1],
            "activityTypeId": kind[0],
            "averageHeartRate": r.randint(95, 155),
            "calories": r.randint(120, 900),
        }
        if kind[1] in _WITH_DISTANCE:
            body |= {"distance": round(r.uniform(1.0, 25.0), 6), "distanceUnit": "Kilometer"}
        body |= {
            "duration": duration,
            "hasActiveZoneMinutes": True,
            "heartRateZones": _zones(r, duration // 60000, with_calories=False),
            "lastModified": iso_z(state.updated_at),
            "logId": log_id,
            "logType": "auto_detected",
            "manualValuesSpecified": {"calories": False, "distance": False, "steps": False},
            "originalDuration": duration,
            "originalStartTime": start_text,
            "startTime": start_text,
        }
        if kind[1] in _WITH_STEPS:
            body["steps"] = r.randint(1500, 14000)
        return Record(log_id, day, span.start, span.end, body)

    # -- daily values ------------------------------------------------------------------------------------------

    def _daily(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        if kind in ("hrv", "spo2", "br") and self.main_sleep(snap, day) is None:
            return []
        revision = snap.revision(kind, day)
        r = rng("fitbit", snap.user, day, kind, 0 if revision is None else revision.count)
        value = self._value(kind, r, snap, day)
        start = at_local(day, self.offset(snap.user), 0)
        body: dict[str, object] = {"dateTime": day.isoformat(), "value": value}
        return [Record(day.isoformat(), day, start, start + ONE_DAY, body)]

    def _value(self, kind: str, r: random.Random, snap: Snapshot, day: date) -> object:
        if kind in TIME_SERIES:
            return self._total(kind, r, snap, day)
        if kind == "heart":
            return {
                "customHeartRateZones": [],
                "heartRateZones": _zones(r, 1440, with_calories=True),
                "restingHeartRate": r.randint(50, 72),
            }
        if kind == "hrv":
            return {"dailyRmssd": round(r.uniform(20, 90), 3), "deepRmssd": round(r.uniform(20, 95), 3)}
        if kind == "spo2":
            low = round(r.uniform(88, 95), 1)
            return {"avg": round(r.uniform(max(low, 94), 98), 1), "min": low, "max": round(r.uniform(98, 100), 1)}
        return {"breathingRate": round(r.uniform(12.5, 19.5), 1)}

    def _total(self, kind: str, r: random.Random, snap: Snapshot, day: date) -> str:
        steps = sum(hourly(r.randint(1500, 17000), day, self.offset(snap.user), snap.now))
        if kind == "steps":
            return str(steps)
        if kind == "calories":
            hours = sum(1 for share in hourly(24, day, self.offset(snap.user), snap.now) if share)
            return str(round(r.uniform(1500, 1900) * max(hours, 1) / 24 + steps * 0.04))
        return str(round(steps * r.uniform(0.00068, 0.00082), 5))


def _synced(user: str, span: _Span) -> datetime:
    return span.end + timedelta(minutes=10 + seed("fitbit-sync", user, span.end) % 80)


def _activity_levels(r: random.Random, minutes: int) -> list[dict[str, object]]:
    shares = [r.randint(0, 3), r.randint(1, 6), r.randint(2, 8), r.randint(2, 10)]
    whole = sum(shares)
    counts = [minutes * s // whole for s in shares]
    counts[-1] += minutes - sum(counts)
    names = ("sedentary", "lightly", "fairly", "very")
    return [{"minutes": count, "name": name} for count, name in zip(counts, names, strict=True)]


def _zones(r: random.Random, minutes: int, *, with_calories: bool) -> list[dict[str, object]]:
    bounds = (("Out of Range", 30, 96), ("Fat Burn", 96, 134), ("Cardio", 134, 163), ("Peak", 163, 220))
    weights = (70, 20, 7, 3) if with_calories else (10, 40, 35, 15)
    used = [minutes * w * r.randint(80, 100) // 10_000 for w in weights]
    zones: list[dict[str, object]] = []
    for (name, low, high), count in zip(bounds, used, strict=True):
        zone: dict[str, object] = {"max": high, "min": low, "minutes": count, "name": name}
        if with_calories:
            zone = {"caloriesOut": round(count * r.uniform(1.0, 12.0), 5), **zone}
        zones.append(zone)
    return zones


FITBIT_DATA = FitbitData()
