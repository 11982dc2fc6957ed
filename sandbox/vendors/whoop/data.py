"""WHOOP v2 synthetic data (field names from WHOOP's OpenAPI 2.0.0 schemas Cycle, Sleep, Recovery, WorkoutV2).

Per user and local day D (the day the user wakes up on), at the user's fixed `timezone_offset`:
- one main sleep that starts on the evening of D-1 (21:00-23:50 local) and ends on the morning of D, so it
  always crosses local midnight; a nap on D's afternoon one day in five;
- one cycle (int64 id) from that main sleep's start to the next main sleep's start (no `end` while ongoing);
- one recovery, keyed by the cycle's id and the main sleep's UUID (sorted and filtered by that sleep's span);
- 0-2 workouts, one in the morning and one in the early evening.
Sleep and workout UUIDs encode their day, cycle ids are (user part) * 10**6 + the day's ordinal, so single
records can be found from their id alone. A record appears a few minutes after it ends (a cycle: after it
starts). Records of the latest day are PENDING_SCORE (no `score`) until local midnight after D plus a few
minutes, or until revised; `updated_at` moves when the score appears and on every revision. Timestamps are
UTC with milliseconds, like "2022-04-24T11:25:44.774Z". `v1_id` and `sport_id` are left out (gone after
2025-09-01).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sandbox.data import (
    ONE_DAY,
    Record,
    RecordId,
    Snapshot,
    Stamp,
    at_local,
    day_uuid,
    iso_z,
    offset_text,
    ordinal_day,
    rng,
    seed,
    split,
    stamp,
    user_offset,
    uuid_day,
)
from sandbox.vendors.whoop.oauth import WHOOP

KINDS = ("cycle", "sleep", "recovery", "workout")
_SPORTS = ("running", "cycling", "weightlifting", "functional-fitness", "yoga", "walking", "swimming", "rowing")
_DISTANCE_SPORTS = frozenset({"running", "cycling", "walking", "swimming", "rowing"})
_MAIN_SLEEP, _NAP, _FIRST_WORKOUT = 0, 1, 2


@dataclass(frozen=True)
class _Span:
    start: datetime
    end: datetime


def main_sleep_id(user: str, day: date) -> str:
    """The UUID of the main sleep that ends on the morning of `day` (a recovery's `sleep_id`)."""
    return day_uuid(day, _MAIN_SLEEP, "whoop", user, "sleep")


def cycle_id(user: str, day: date) -> int:
    return (seed("whoop-cycle", user) % 1_000_000_000) * 1_000_000 + day.toordinal()


def _minutes(r: random.Random, low: float, high: float) -> timedelta:
    return timedelta(minutes=r.uniform(low, high))


def _milli(span: timedelta) -> int:
    return span // timedelta(milliseconds=1)


def _night(user: str, day: date) -> _Span:
    """The main sleep that ends on the morning of `day`."""
    r = rng("whoop", user, day, "night")
    offset = user_offset(user)
    return _Span(
        at_local(day - ONE_DAY, offset, 21 * 60 + r.uniform(0, 170)),
        at_local(day, offset, 5 * 60 + 45 + r.uniform(0, 165)),
    )


def _nap(user: str, day: date) -> _Span | None:
    r = rng("whoop", user, day, "nap")
    if r.random() >= 0.2:
        return None
    start = at_local(day, user_offset(user), 13 * 60 + r.uniform(0, 120))
    return _Span(start, start + _minutes(r, 20, 90))


def _workouts(user: str, day: date) -> list[tuple[_Span, str]]:
    r = rng("whoop", user, day, "workouts")
    count = r.choices((0, 1, 2), weights=(35, 45, 20))[0]
    windows = ((9 * 60, 11 * 60 + 30), (17 * 60, 19 * 60))
    spans = []
    for low, high in windows[:count]:
        start = at_local(day, user_offset(user), r.uniform(low, high))
        spans.append((_Span(start, start + _minutes(r, 25, 90)), r.choice(_SPORTS)))
    return spans


# -- scores ----------------------------------------------------------------------------------------------------


def _cycle_score(r: random.Random) -> dict[str, object]:
    return {
        "strain": round(r.uniform(4.0, 18.5), 7),
        "kilojoule": round(r.uniform(6000, 14000), 3),
        "average_heart_rate": r.randint(55, 78),
        "max_heart_rate": r.randint(120, 188),
    }


def _stage_summary(r: random.Random, in_bed: int, nap: bool) -> dict[str, int]:
    awake = int(in_bed * r.uniform(0.03, 0.12))
    no_data = 0 if r.random() < 0.9 else int(in_bed * r.uniform(0.0, 0.03))
    asleep = in_bed - awake - no_data
    slow_wave = int(asleep * r.uniform(0.15, 0.25))
    rem = int(asleep * r.uniform(0.18, 0.27))
    return {
        "total_in_bed_time_milli": in_bed,
        "total_awake_time_milli": awake,
        "total_no_data_time_milli": no_data,
        "total_light_sleep_time_milli": asleep - slow_wave - rem,
        "total_slow_wave_sleep_time_milli": slow_wave,
        "total_rem_sleep_time_milli": rem,
        "sleep_cycle_count": r.randint(0, 1) if nap else max(1, asleep // 5_400_000),
        "disturbance_count": r.randint(0, 3) if nap else r.randint(2, 18),
    }


def _sleep_score(r: random.Random, span: _Span, nap: bool) -> dict[str, object]:
    stages = _stage_summary(r, _milli(span.end - span.start), nap)
    asleep = stages["total_in_bed_time_milli"] - stages["total_awake_time_milli"] - stages["total_no_data_time_milli"]
    score: dict[str, object] = {
        "stage_summary": stages,
        "sleep_needed": {
            "baseline_milli": r.randint(26_000_000, 30_000_000),
            "need_from_sleep_debt_milli": r.randint(0, 1_200_000),
            "need_from_recent_strain_milli": r.randint(0, 500_000),
            "need_from_recent_nap_milli": -r.randint(0, 900_000) if r.random() < 0.2 else 0,
        },
        "respiratory_rate": round(r.uniform(13.5, 17.5), 8),
    }
    if not nap:  # "may not be reported" for naps
        score["sleep_performance_percentage"] = float(r.randint(62, 100))
        score["sleep_consistency_percentage"] = float(r.randint(55, 96))
    score["sleep_efficiency_percentage"] = round(100 * asleep / stages["total_in_bed_time_milli"], 8)
    return score


def _recovery_score(r: random.Random) -> dict[str, object]:
    return {
        "user_calibrating": False,
        "recovery_score": float(r.randint(18, 99)),
        "resting_heart_rate": float(r.randint(44, 66)),
        "hrv_rmssd_milli": round(r.uniform(24.0, 110.0), 6),
        "spo2_percentage": round(r.uniform(94.0, 99.0), 4),
        "skin_temp_celsius": round(r.uniform(32.6, 34.6), 2),
    }


def _workout_score(r: random.Random, span: _Span, sport: str) -> dict[str, object]:
    average = r.randint(100, 158)
    score: dict[str, object] = {
        "strain": round(r.uniform(4.0, 16.5), 4),
        "average_heart_rate": average,
        "max_heart_rate": average + r.randint(10, 38),
        "kilojoule": round(r.uniform(600, 3200), 6),
        "percent_recorded": float(r.choice((100, 100, 100, 99, 97))),
    }
    if sport in _DISTANCE_SPORTS:
        score["distance_meter"] = round(r.uniform(1500, 25000), 6)
        score["altitude_gain_meter"] = round(r.uniform(0, 250), 6)
        score["altitude_change_meter"] = round(r.uniform(-20, 20), 6)
    zones = split(_milli(span.end - span.start), [r.randint(1, 10) for _ in range(6)])
    names = ("zero", "one", "two", "three", "four", "five")
    score["zone_durations"] = {f"zone_{name}_milli": value for name, value in zip(names, zones, strict=True)}
    return score


# -- records ---------------------------------------------------------------------------------------------------


class WhoopData:
    """The WHOOP generator (see the module docstring)."""

    vendor = "whoop"
    kinds = KINDS

    def offset(self, user: str) -> timedelta:
        return user_offset(user)

    def day_records(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        if day < snap.member_since:
            return []
        build = {"cycle": self._cycles, "sleep": self._sleeps, "recovery": self._recoveries, "workout": self._workouts}
        records = build[kind](snap, day)
        return sorted(
            (r for r in records if not snap.is_deleted(kind, day, r.record_id)),
            key=lambda record: record.key,
        )

    def find(self, kind: str, snap: Snapshot, record_id: RecordId) -> Record | None:
        """The record of `kind` with this id (a sleep/workout UUID, or a cycle id for cycles and recoveries)."""
        day = self._day_of(kind, record_id)
        if day is None:
            return None
        return next((r for r in self.day_records(kind, snap, day) if r.record_id == record_id), None)

    @staticmethod
    def _day_of(kind: str, record_id: RecordId) -> date | None:
        if isinstance(record_id, int):
            return ordinal_day(record_id % 1_000_000) if kind in ("cycle", "recovery") else None
        decoded = uuid_day(record_id)
        return None if decoded is None else decoded[0]

    # -- one kind per method -----------------------------------------------------------------------------------

    def _stamp(self, snap: Snapshot, kind: str, day: date, created: datetime) -> Stamp:
        jitter = rng("whoop", snap.user, day, "scored").uniform(5, 55)
        final_at = at_local(day + ONE_DAY, user_offset(snap.user), jitter)
        return stamp(created, final_at, snap.revision(kind, day), snap.now)

    def _head(self, snap: Snapshot, created: datetime, state: Stamp) -> dict[str, object]:
        return {
            "user_id": int(WHOOP.user_id(snap.user)),
            "created_at": iso_z(created),
            "updated_at": iso_z(state.updated_at),
        }

    def _cycles(self, snap: Snapshot, day: date) -> list[Record]:
        night = _night(snap.user, day)
        created = night.start + _minutes(rng("whoop", snap.user, day, "cycle-created"), 2, 10)
        if created > snap.now:
            return []
        following = _night(snap.user, day + ONE_DAY).start
        end = following if following <= snap.now else None
        state = self._stamp(snap, "cycle", day, created)
        identifier = cycle_id(snap.user, day)
        body: dict[str, object] = {"id": identifier, **self._head(snap, created, state), "start": iso_z(night.start)}
        if end is not None:
            body["end"] = iso_z(end)
        body["timezone_offset"] = offset_text(user_offset(snap.user))
        _score(body, state, _cycle_score, "cycle", snap, day)
        return [Record(identifier, day, night.start, end, body)]

    def _sleeps(self, snap: Snapshot, day: date) -> list[Record]:
        spans = [(_MAIN_SLEEP, _night(snap.user, day)), (_NAP, _nap(snap.user, day))]
        return [self._sleep(snap, day, slot, span) for slot, span in spans if span is not None and self._up(snap, span)]

    def _up(self, snap: Snapshot, span: _Span) -> bool:
        return _created(snap.user, span) <= snap.now

    def _sleep(self, snap: Snapshot, day: date, slot: int, span: _Span) -> Record:
        created = _created(snap.user, span)
        state = self._stamp(snap, "sleep", day, created)
        identifier = day_uuid(day, slot, "whoop", snap.user, "sleep")
        body: dict[str, object] = {
            "id": identifier,
            "cycle_id": cycle_id(snap.user, day),
            **self._head(snap, created, state),
            "start": iso_z(span.start),
            "end": iso_z(span.end),
            "timezone_offset": offset_text(user_offset(snap.user)),
            "nap": slot == _NAP,
        }
        _score(body, state, lambda r: _sleep_score(r, span, slot == _NAP), f"sleep{slot}", snap, day)
        return Record(identifier, day, span.start, span.end, body)

    def _recoveries(self, snap: Snapshot, day: date) -> list[Record]:
        night = _night(snap.user, day)
        if not self._up(snap, night):
            return []
        created = _created(snap.user, night) + _minutes(rng("whoop", snap.user, day, "recovery"), 1, 5)
        if created > snap.now:
            return []
        state = self._stamp(snap, "recovery", day, created)
        identifier = cycle_id(snap.user, day)
        body: dict[str, object] = {
            "cycle_id": identifier,
            "sleep_id": main_sleep_id(snap.user, day),
            **self._head(snap, created, state),
        }
        _score(body, state, _recovery_score, "recovery", snap, day)
        return [Record(identifier, day, night.start, night.end, body)]

    def _workouts(self, snap: Snapshot, day: date) -> list[Record]:
        workouts = enumerate(_workouts(snap.user, day))
        return [
            self._workout(snap, day, index, span, sport) for index, (span, sport) in workouts if self._up(snap, span)
        ]

    def _workout(self, snap: Snapshot, day: date, index: int, span: _Span, sport: str) -> Record:
        created = _created(snap.user, span)
        state = self._stamp(snap, "workout", day, created)
        identifier = day_uuid(day, _FIRST_WORKOUT + index, "whoop", snap.user, "workout")
        body: dict[str, object] = {
            "id": identifier,
            **self._head(snap, created, state),
            "start": iso_z(span.start),
            "end": iso_z(span.end),
            "timezone_offset": offset_text(user_offset(snap.user)),
            "sport_name": sport,
        }
        _score(body, state, lambda r: _workout_score(r, span, sport), f"workout{index}", snap, day)
        return Record(identifier, day, span.start, span.end, body)


def _created(user: str, span: _Span) -> datetime:
    """Upload time of a sleep or workout: a few minutes after it ends."""
    return span.end + _minutes(rng("whoop", user, span.end, "created"), 3, 20)


ScoreMaker = Callable[[random.Random], dict[str, object]]


def _score(body: dict[str, object], state: Stamp, make: ScoreMaker, part: str, snap: Snapshot, day: date) -> None:
    """Add `score_state` (and `score` once SCORED, drawn for revision `state.revision`) to `body`."""
    body["score_state"] = "SCORED" if state.final else "PENDING_SCORE"
    if state.final:
        body["score"] = make(rng("whoop", snap.user, day, part, "score", state.revision))


WHOOP_DATA = WhoopData()
