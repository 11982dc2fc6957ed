"""Oura API v2 synthetic data (field names and enums from the spec's schemas PublicDailyActivity,
PublicDailySleep, PublicModifiedSleepModel, PublicDailyReadiness, PublicDailySpO2, PublicDailyStress,
DailyResilienceModel, PublicWorkout, PublicSession, PublicVO2Max, PublicHeartRateRow).

Per user and local day D, at the user's fixed offset (times "2026-01-02T07:12:00+02:00", Oura's LocalizedDateTime):
- sleep: a ``long_sleep`` period from the evening of D-1 to the morning of D (``day`` D), and one day in five a
  short ``sleep`` (a nap) on D's afternoon; it appears 15 minutes after it ends;
- daily_sleep, daily_readiness, daily_spo2: one per day, once the night's sleep has appeared;
- daily_activity, daily_stress, daily_resilience: one per day from the day's start (the totals of the hours passed);
- workout: 0-2 a day; session: a meditation or breathing session one day in three; vo2_max: one day in seven;
- heartrate: samples every 15 minutes, held as one record per UTC date (the rows have no time zone), id the date.
Document ids are UUIDs that encode their day and slot (``day_uuid``), so a document is found from its id alone.
A revision regenerates a day's values; deletions hide a document. History starts at the user's member-since day.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta, timezone

from sandbox.data import (
    ONE_DAY,
    Record,
    RecordId,
    Snapshot,
    at_local,
    day_uuid,
    hourly,
    rng,
    user_offset,
    uuid_day,
)

KINDS = (
    "daily_activity",
    "daily_sleep",
    "sleep",
    "daily_readiness",
    "daily_spo2",
    "daily_stress",
    "daily_resilience",
    "workout",
    "session",
    "vo2_max",
    "heartrate",
)
AFTER_SLEEP = ("daily_sleep", "daily_readiness", "daily_spo2")
ALL_DAY = ("daily_activity", "daily_stress", "daily_resilience")
HEARTRATE_STEP = timedelta(minutes=15)
_ACTIVITIES = ("walking", "running", "cycling", "strength_training", "yoga", "swimming", "hiking")
_SESSIONS = ("breathing", "meditation", "relaxation")


def local_time(instant: datetime, offset: timedelta) -> str:
    """Oura's LocalizedDateTime: the local time with its offset, to the second."""
    return instant.astimezone(timezone(offset)).replace(microsecond=0).isoformat()


def utc_time(instant: datetime) -> str:
    return instant.astimezone(UTC).replace(microsecond=0).isoformat()


def _contributors(r: random.Random, *names: str) -> dict[str, int]:
    return {name: r.randint(40, 100) for name in names}


class OuraData:
    vendor = "oura"
    kinds = KINDS

    def offset(self, user: str) -> timedelta:
        return user_offset(user)

    def day_records(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        if day < snap.member_since:
            return []
        records = self._generate(kind, snap, day)
        return [
            r
            for r in records
            if r.start <= snap.now and self._appeared(r, snap) and not snap.is_deleted(kind, day, r.record_id)
        ]

    def find(self, kind: str, snap: Snapshot, record_id: RecordId) -> Record | None:
        found = uuid_day(str(record_id))
        if found is None:
            return None
        return next((r for r in self.day_records(kind, snap, found[0]) if r.record_id == record_id), None)

    # -- generation ----------------------------------------------------------------------------------------------

    def _appeared(self, record: Record, snap: Snapshot) -> bool:
        if record.body.get("type") in ("long_sleep", "sleep") and record.end is not None:
            return record.end + timedelta(minutes=15) <= snap.now
        return True

    def _r(self, snap: Snapshot, day: date, kind: str) -> random.Random:
        revision = snap.revision(kind, day)
        return rng("oura", snap.user, day, kind, 0 if revision is None else revision.count)

    def _id(self, snap: Snapshot, day: date, kind: str, slot: int = 0) -> str:
        return day_uuid(day, slot, "oura", snap.user, kind)

    def _night(self, user: str, day: date) -> tuple[datetime, datetime]:
        r = rng("oura", user, day, "night")
        offset = self.offset(user)
        return at_local(day - ONE_DAY, offset, 21 * 60 + r.uniform(0, 150)), at_local(
            day, offset, 5 * 60 + 30 + r.uniform(0, 180)
        )

    def _generate(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        offset = self.offset(snap.user)
        midnight = at_local(day, offset, 0)
        stamp = local_time(midnight, offset)
        if kind == "heartrate":
            return self._heartrate(snap, day)
        if kind == "sleep":
            return self._sleeps(snap, day)
        if kind in AFTER_SLEEP:
            _, end = self._night(snap.user, day)
            if end + timedelta(minutes=15) > snap.now:
                return []
            body = self._daily_after_sleep(kind, self._r(snap, day, kind))
            body = {"id": self._id(snap, day, kind), "day": day.isoformat(), **body}
            if kind != "daily_spo2":
                body["timestamp"] = stamp
            return [Record(str(body["id"]), day, end, end, body)]
        if kind in ALL_DAY:
            body = {"id": self._id(snap, day, kind), "day": day.isoformat(), **self._all_day(kind, snap, day)}
            if kind == "daily_activity":
                body["timestamp"] = stamp
            return [Record(str(body["id"]), day, midnight, midnight + ONE_DAY, body)]
        if kind == "workout":
            return self._workouts(snap, day)
        if kind == "session":
            return self._sessions(snap, day)
        if kind == "vo2_max":
            if rng("oura", snap.user, day, "vo2-day").random() >= 1 / 7:
                return []
            r = self._r(snap, day, kind)
            body = {"id": self._id(snap, day, kind), "day": day.isoformat(), "timestamp": stamp}
            body["vo2_max"] = r.randint(32, 55)
            return [Record(str(body["id"]), day, midnight, midnight, body)]
        raise ValueError(f"oura has no data type {kind!r}")

    def _daily_after_sleep(self, kind: str, r: random.Random) -> dict[str, object]:
        if kind == "daily_sleep":
            contributors = ("deep_sleep", "efficiency", "latency", "rem_sleep", "restfulness", "timing", "total_sleep")
            return {"contributors": _contributors(r, *contributors), "score": r.randint(55, 95)}
        if kind == "daily_readiness":
            names = ("activity_balance", "body_temperature", "hrv_balance", "previous_day_activity", "previous_night")
            return {
                "contributors": _contributors(r, *names, "recovery_index", "resting_heart_rate", "sleep_balance"),
                "score": r.randint(50, 98),
                "temperature_deviation": round(r.uniform(-0.8, 0.8), 2),
                "temperature_trend_deviation": round(r.uniform(-0.5, 0.5), 2),
            }
        return {
            "spo2_percentage": {"average": round(r.uniform(94, 99), 3)},
            "breathing_disturbance_index": r.randint(0, 12),
        }

    def _all_day(self, kind: str, snap: Snapshot, day: date) -> dict[str, object]:
        r = self._r(snap, day, kind)
        offset = self.offset(snap.user)
        if kind == "daily_stress":
            return {
                "stress_high": r.randint(0, 180) * 60,
                "recovery_high": r.randint(0, 240) * 60,
                "day_summary": r.choice(("restored", "normal", "stressful")),
            }
        if kind == "daily_resilience":
            return {
                "contributors": {
                    "sleep_recovery": round(r.uniform(20, 100), 1),
                    "daytime_recovery": round(r.uniform(10, 100), 1),
                    "stress": round(r.uniform(10, 100), 1),
                },
                "level": r.choice(("limited", "adequate", "solid", "strong", "exceptional")),
            }
        steps = sum(hourly(r.randint(2000, 16000), day, offset, snap.now))
        active = steps // 25
        return {
            "active_calories": active,
            "average_met_minutes": round(r.uniform(1.1, 2.2), 3),
            "class_5_min": None,
            "contributors": _contributors(
                r, "meet_daily_targets", "move_every_hour", "recovery_time", "stay_active", "training_frequency"
            )
            | {"training_volume": r.randint(40, 100)},
            "equivalent_walking_distance": int(steps * 0.75),
            "high_activity_met_minutes": r.randint(0, 60),
            "high_activity_time": r.randint(0, 40) * 60,
            "inactivity_alerts": r.randint(0, 3),
            "low_activity_met_minutes": r.randint(50, 250),
            "low_activity_time": r.randint(60, 300) * 60,
            "medium_activity_met_minutes": r.randint(0, 150),
            "medium_activity_time": r.randint(0, 90) * 60,
            "met": {"interval": 60.0, "items": [], "timestamp": local_time(at_local(day, offset, 240), offset)},
            "meters_to_target": r.randint(0, 6000),
            "non_wear_time": r.randint(0, 120) * 60,
            "resting_time": r.randint(360, 540) * 60,
            "score": r.randint(50, 99),
            "sedentary_met_minutes": r.randint(5, 30),
            "sedentary_time": r.randint(300, 700) * 60,
            "steps": steps,
            "target_calories": 500,
            "target_meters": 10000,
            "total_calories": 1800 + active,
        }

    def _sleeps(self, snap: Snapshot, day: date) -> list[Record]:
        offset = self.offset(snap.user)
        spans = [(self._night(snap.user, day), "long_sleep")]
        nap = rng("oura", snap.user, day, "nap")
        if nap.random() < 0.2:
            start = at_local(day, offset, 13 * 60 + nap.uniform(0, 120))
            spans.append(((start, start + timedelta(minutes=nap.uniform(20, 90))), "sleep"))
        records = []
        for slot, ((start, end), kind) in enumerate(spans):
            r = self._r(snap, day, f"sleep-{slot}")
            in_bed = int((end - start).total_seconds())
            awake = int(in_bed * r.uniform(0.04, 0.12))
            asleep = in_bed - awake
            deep, rem = int(asleep * r.uniform(0.12, 0.22)), int(asleep * r.uniform(0.18, 0.26))
            body: dict[str, object] = {
                "id": self._id(snap, day, "sleep", slot),
                "average_breath": round(r.uniform(12, 17), 3),
                "average_heart_rate": round(r.uniform(48, 65), 3),
                "average_hrv": r.randint(20, 90),
                "awake_time": awake,
                "bedtime_end": local_time(end, offset),
                "bedtime_start": local_time(start, offset),
                "day": day.isoformat(),
                "deep_sleep_duration": deep,
                "efficiency": round(100 * asleep / in_bed),
                "latency": r.randint(2, 30) * 60,
                "light_sleep_duration": asleep - deep - rem,
                "low_battery_alert": False,
                "lowest_heart_rate": r.randint(40, 58),
                "period": slot,
                "rem_sleep_duration": rem,
                "restless_periods": r.randint(50, 350),
                "time_in_bed": in_bed,
                "total_sleep_duration": asleep,
                "type": kind,
            }
            records.append(Record(str(body["id"]), day, start, end, body))
        return records

    def _workouts(self, snap: Snapshot, day: date) -> list[Record]:
        offset = self.offset(snap.user)
        r = self._r(snap, day, "workout")
        count = r.choices((0, 1, 2), weights=(40, 45, 15))[0]
        records = []
        for slot, (low, high) in enumerate(((7 * 60, 10 * 60), (17 * 60, 19 * 60))[:count]):
            start = at_local(day, offset, r.uniform(low, high))
            end = start + timedelta(minutes=r.uniform(20, 80))
            body = {
                "id": self._id(snap, day, "workout", slot),
                "activity": r.choice(_ACTIVITIES),
                "calories": round(r.uniform(120, 700), 3),
                "day": day.isoformat(),
                "distance": round(r.uniform(1000, 12000), 1),
                "end_datetime": local_time(end, offset),
                "intensity": r.choice(("easy", "moderate", "hard")),
                "label": None,
                "source": r.choice(("manual", "autodetected", "confirmed")),
                "start_datetime": local_time(start, offset),
            }
            records.append(Record(str(body["id"]), day, start, end, body))
        return records

    def _sessions(self, snap: Snapshot, day: date) -> list[Record]:
        offset = self.offset(snap.user)
        r = self._r(snap, day, "session")
        if r.random() >= 1 / 3:
            return []
        start = at_local(day, offset, r.uniform(8 * 60, 21 * 60))
        end = start + timedelta(minutes=r.randint(5, 20))
        body = {
            "id": self._id(snap, day, "session"),
            "day": day.isoformat(),
            "end_datetime": local_time(end, offset),
            "heart_rate": None,
            "heart_rate_variability": None,
            "mood": r.choice(("bad", "worse", "same", "good", "great")),
            "motion_count": None,
            "start_datetime": local_time(start, offset),
            "type": r.choice(_SESSIONS),
        }
        return [Record(str(body["id"]), day, start, end, body)]

    def _heartrate(self, snap: Snapshot, day: date) -> list[Record]:
        """One record per UTC date: its rows up to now (``day`` is a UTC date here)."""
        first = datetime.combine(day, time(), UTC)
        r = self._r(snap, day, "heartrate")
        rows = []
        at = first
        while at < first + ONE_DAY and at <= snap.now:
            source = "sleep" if at.hour < 6 else "awake"
            rows.append(
                {
                    "bpm": r.randint(48, 62) if source == "sleep" else r.randint(58, 110),
                    "source": source,
                    "timestamp": utc_time(at),
                    "timestamp_unix": int(at.timestamp()),
                }
            )
            at += HEARTRATE_STEP
        if not rows:
            return []
        return [Record(day.isoformat(), day, first, first + ONE_DAY, {"day": day.isoformat(), "data": rows})]


OURA_DATA = OuraData()
