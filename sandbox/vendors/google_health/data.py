"""Google Health API synthetic data (discovery `DataPoint`, `ReconciledDataPoint`, `DailyRollupDataPoint`).

Kinds (Google's data type names) and what one record is, with its id for `expected_records`:
- sleep: a session (`DataPoint.sleep`, id: the last segment of `name`): the main sleep ending on the morning of its
  day on 19 nights in 20 (type STAGES), a nap (CLASSIC) one day in seven; it appears 10-90 minutes after it ends
  (`metadata.processed` true). A revision lengthens it (same id, new `updateTime`).
- exercise: a session (`DataPoint.exercise`, id: the last segment of `name`), 0-2 a day.
- steps, distance, active-energy-burned, heart-rate: one `DailyRollupDataPoint` per local day (id: the date); today is
  partial (the hours that have passed).
- daily-resting-heart-rate, daily-vo2-max: one point a day (id: the date); daily-heart-rate-variability,
  daily-oxygen-saturation, daily-respiratory-rate: one a day whose main sleep exists.
- weight, body-fat: a morning scale reading two days in seven (id: the sample's UTC time without separators,
  "20261120T070102Z", as these points have no `name`).
Every interval and sample carries its UTC time, the user's UTC offset and the civil (local) time. History starts at
the user's member-since day; days before it, or after today, have no records. int64 fields are JSON strings (proto3
JSON), zero-valued fields are omitted.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.data import (
    ONE_DAY,
    Record,
    Snapshot,
    at_local,
    day_uuid,
    hourly,
    local_day,
    local_naive,
    rng,
    seed,
    user_offset,
)

VENDOR = "google_health"
SESSIONS = ("sleep", "exercise")
ROLLUPS = ("steps", "distance", "active-energy-burned", "heart-rate")
DAILY = (
    "daily-resting-heart-rate",
    "daily-heart-rate-variability",
    "daily-oxygen-saturation",
    "daily-respiratory-rate",
    "daily-vo2-max",
)
SAMPLES = ("weight", "body-fat")
KINDS = (*SESSIONS, *ROLLUPS, *DAILY, *SAMPLES)
FIELDS = {
    "sleep": "sleep",
    "exercise": "exercise",
    "steps": "steps",
    "distance": "distance",
    "active-energy-burned": "activeEnergyBurned",
    "heart-rate": "heartRate",
    "daily-resting-heart-rate": "dailyRestingHeartRate",
    "daily-heart-rate-variability": "dailyHeartRateVariability",
    "daily-oxygen-saturation": "dailyOxygenSaturation",
    "daily-respiratory-rate": "dailyRespiratoryRate",
    "daily-vo2-max": "dailyVo2Max",
    "weight": "weight",
    "body-fat": "bodyFat",
}
"""Data type -> its member of the `DataPoint` union (camelCase of the kebab-case name)."""
_AFTER_SLEEP = frozenset({"daily-heart-rate-variability", "daily-oxygen-saturation", "daily-respiratory-rate"})
_EXERCISES = (("WALKING", "Walk"), ("RUNNING", "Run"), ("BIKING", "Bike"), ("SWIMMING_POOL", "Swim"), ("HIIT", "HIIT"))
_SOURCE = {
    "device": {"displayName": "Pixel Watch 3", "formFactor": "WATCH", "manufacturer": "Google"},
    "platform": "FITBIT",
    "recordingMethod": "PASSIVELY_MEASURED",
}
_SCALE = {
    "device": {"displayName": "Aria Air", "formFactor": "SCALE", "manufacturer": "Fitbit"},
    "platform": "FITBIT",
    "recordingMethod": "ACTIVELY_MEASURED",
}


# -- Google's JSON forms -----------------------------------------------------------------------------------------


def rfc3339(instant: datetime) -> str:
    """ "2026-11-20T07:01:02Z", or with milliseconds when there are any."""
    utc = instant.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{utc.microsecond // 1000:03d}Z" if utc.microsecond else "Z")


def duration(seconds: float) -> str:
    """google-duration: "3600s", "-18000s"."""
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{seconds:.3f}s"


def civil_date(day: date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


def civil(instant: datetime, offset: timedelta) -> dict[str, Any]:
    """`CivilDateTime` of `instant` in the user's time (zero fields omitted, as proto3 JSON does)."""
    local = local_naive(instant, offset)
    time = {"hours": local.hour, "minutes": local.minute, "seconds": local.second}
    if local.microsecond:
        time["nanos"] = local.microsecond * 1000
    return {"date": civil_date(local.date()), "time": {key: value for key, value in time.items() if value}}


def midnight(day: date) -> dict[str, Any]:
    return {"date": civil_date(day), "time": {}}


def interval(start: datetime, end: datetime, offset: timedelta) -> dict[str, Any]:
    return {
        "civilEndTime": civil(end, offset),
        "civilStartTime": civil(start, offset),
        "endTime": rfc3339(end),
        "endUtcOffset": duration(offset.total_seconds()),
        "startTime": rfc3339(start),
        "startUtcOffset": duration(offset.total_seconds()),
    }


def sample_time(instant: datetime, offset: timedelta) -> dict[str, Any]:
    return {
        "civilTime": civil(instant, offset),
        "physicalTime": rfc3339(instant),
        "utcOffset": duration(offset.total_seconds()),
    }


def sample_id(instant: datetime) -> str:
    return rfc3339(instant).replace("-", "").replace(":", "")


def health_user_id(user: str) -> str:
    from sandbox.vendors.google_health.oauth import GOOGLE_HEALTH

    return GOOGLE_HEALTH.user_id(user)


# -- the generator -----------------------------------------------------------------------------------------------


def _synced(user: str, end: datetime) -> datetime:
    return end + timedelta(minutes=10 + seed("google-health-sync", user, end) % 80)


def _main_sleep(user: str, day: date, revision: int) -> tuple[datetime, datetime] | None:
    r = rng(VENDOR, user, day, "night")
    if r.random() < 0.05:
        return None
    offset = user_offset(user)
    start = at_local(day - ONE_DAY, offset, 21 * 60 + 30 + r.randint(0, 150))
    end = at_local(day, offset, 6 * 60 + r.randint(0, 150))
    extra = sum(rng(VENDOR, user, day, "longer", n).randint(10, 40) for n in range(1, revision + 1))
    return start, end + timedelta(minutes=extra)


def _nap(user: str, day: date) -> tuple[datetime, datetime] | None:
    r = rng(VENDOR, user, day, "nap")
    if r.random() >= 1 / 7:
        return None
    start = at_local(day, user_offset(user), 13 * 60 + r.randint(0, 120))
    return start, start + timedelta(minutes=r.randint(20, 100))


class GoogleHealthData:
    """The Google Health generator (see the module docstring)."""

    vendor = VENDOR
    kinds = KINDS

    def offset(self, user: str) -> timedelta:
        return user_offset(user)

    def day_records(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        if day < snap.member_since or day > local_day(snap.now, self.offset(snap.user)):
            return []
        if kind == "sleep":
            records = self._sleeps(snap, day)
        elif kind == "exercise":
            records = self._exercises(snap, day)
        elif kind in ROLLUPS:
            records = self._rollup(kind, snap, day)
        elif kind in DAILY:
            records = self._daily(kind, snap, day)
        else:
            records = self._sample(kind, snap, day)
        return sorted((r for r in records if not snap.is_deleted(kind, day, r.record_id)), key=lambda r: r.key)

    def main_sleep(self, snap: Snapshot, day: date) -> tuple[datetime, datetime] | None:
        first = _main_sleep(snap.user, day, 0)
        if first is None or _synced(snap.user, first[1]) > snap.now:
            return None
        revision = snap.revision("sleep", day)
        return first if revision is None else _main_sleep(snap.user, day, revision.count)

    # -- sessions --------------------------------------------------------------------------------------------------

    def _sleeps(self, snap: Snapshot, day: date) -> list[Record]:
        found = []
        main = self.main_sleep(snap, day)
        if main is not None:
            found.append(self._sleep(snap, day, main, 0))
        nap = _nap(snap.user, day)
        if nap is not None and _synced(snap.user, nap[1]) <= snap.now:
            found.append(self._sleep(snap, day, nap, 1))
        return found

    def _sleep(self, snap: Snapshot, day: date, span: tuple[datetime, datetime], slot: int) -> Record:
        start, end = span
        offset = self.offset(snap.user)
        revision = snap.revision("sleep", day)
        r = rng(VENDOR, snap.user, day, "sleep", slot, 0 if revision is None else revision.count)
        stages_kind = slot == 0
        levels, weights = (
            (("LIGHT", "DEEP", "REM", "AWAKE"), (50, 18, 22, 10))
            if stages_kind
            else (
                ("ASLEEP", "RESTLESS", "AWAKE"),
                (85, 10, 5),
            )
        )
        stages, minutes, counts = _stages(r, start, end, offset, levels, weights)
        total = int((end - start).total_seconds()) // 60
        awake = minutes.get("AWAKE", 0) + minutes.get("RESTLESS", 0)
        created = _synced(snap.user, end)
        updated = created if revision is None else max(created, revision.at)
        identifier = day_uuid(day, slot, VENDOR, snap.user, "sleep")
        summary = {
            "minutesAfterWakeUp": "0",
            "minutesAsleep": str(total - awake),
            "minutesAwake": str(awake),
            "minutesInSleepPeriod": str(total),
            "minutesToFallAsleep": str(r.randint(0, 25)),
            "stagesSummary": [
                {"count": str(counts[level]), "minutes": str(minutes[level]), "type": level} for level in levels
            ],
        }
        body = {
            "dataSource": _SOURCE,
            "name": f"users/{health_user_id(snap.user)}/dataTypes/sleep/dataPoints/{identifier}",
            "sleep": {
                "createTime": rfc3339(created),
                "interval": interval(start, end, offset),
                "metadata": {
                    "mainSleep": slot == 0,
                    "nap": slot == 1,
                    "processed": True,
                    "stagesStatus": "SUCCEEDED" if stages_kind else "REJECTED_NAP",
                },
                "stages": stages,
                "summary": summary,
                "type": "STAGES" if stages_kind else "CLASSIC",
                "updateTime": rfc3339(updated),
            },
        }
        return Record(identifier, day, start, end, body)

    def _exercises(self, snap: Snapshot, day: date) -> list[Record]:
        r = rng(VENDOR, snap.user, day, "exercises")
        count = r.choices((0, 1, 2), weights=(40, 45, 15))[0]
        offset = self.offset(snap.user)
        found = []
        for index, (low, high) in enumerate(((6 * 60 + 30, 9 * 60), (17 * 60, 19 * 60 + 30))[:count]):
            start = at_local(day, offset, r.randint(low, high))
            end = start + timedelta(minutes=r.randint(20, 90), seconds=r.randint(0, 59))
            if _synced(snap.user, end) <= snap.now:
                found.append(self._exercise(snap, day, index, start, end, _EXERCISES[r.randrange(len(_EXERCISES))]))
        return found

    def _exercise(
        self, snap: Snapshot, day: date, index: int, start: datetime, end: datetime, kind: tuple[str, str]
    ) -> Record:
        offset = self.offset(snap.user)
        revision = snap.revision("exercise", day)
        r = rng(VENDOR, snap.user, day, "exercise", index, 0 if revision is None else revision.count)
        seconds = int((end - start).total_seconds())
        created = _synced(snap.user, end)
        zones = [seconds * w // 100 for w in (r.randint(10, 30), r.randint(30, 50), r.randint(10, 25))]
        zones.append(max(0, seconds - sum(zones)))
        summary: dict[str, Any] = {
            "averageHeartRateBeatsPerMinute": str(r.randint(95, 155)),
            "caloriesKcal": round(r.uniform(120, 900), 1),
            "heartRateZoneDurations": {
                "lightTime": duration(zones[0]),
                "moderateTime": duration(zones[1]),
                "vigorousTime": duration(zones[2]),
                "peakTime": duration(zones[3]),
            },
        }
        if kind[0] != "HIIT":
            summary["distanceMillimeters"] = float(r.randint(1_000_000, 25_000_000))
        if kind[0] in ("WALKING", "RUNNING"):
            summary["steps"] = str(r.randint(1500, 14000))
        identifier = day_uuid(day, index, VENDOR, snap.user, "exercise")
        body = {
            "dataSource": _SOURCE,
            "exercise": {
                "activeDuration": duration(seconds - r.randint(0, 120)),
                "createTime": rfc3339(created),
                "displayName": kind[1],
                "exerciseType": kind[0],
                "interval": interval(start, end, offset),
                "metricsSummary": summary,
                "updateTime": rfc3339(created if revision is None else max(created, revision.at)),
            },
            "name": f"users/{health_user_id(snap.user)}/dataTypes/exercise/dataPoints/{identifier}",
        }
        return Record(identifier, day, start, end, body)

    # -- daily values ------------------------------------------------------------------------------------------------

    def _rollup(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        offset = self.offset(snap.user)
        revision = snap.revision(kind, day)
        r = rng(VENDOR, snap.user, day, "activity", 0 if revision is None else revision.count)
        steps = sum(hourly(r.randint(1500, 17000), day, offset, snap.now))
        hours = sum(1 for share in hourly(24, day, offset, snap.now) if share)
        if kind == "steps":
            value: dict[str, Any] = {"countSum": str(steps)}
        elif kind == "distance":
            value = {"millimetersSum": str(round(steps * r.uniform(680, 820)))}
        elif kind == "active-energy-burned":
            value = {"kcalSum": round(steps * 0.045 + hours * r.uniform(5, 15), 1)}
        else:
            if hours == 0:
                return []
            low = r.randint(44, 60)
            value = {"beatsPerMinuteAvg": round(r.uniform(low + 12, low + 30), 1), "beatsPerMinuteMin": float(low)}
            value["beatsPerMinuteMax"] = float(r.randint(120, 185))
        body = {"civilEndTime": midnight(day + ONE_DAY), "civilStartTime": midnight(day), FIELDS[kind]: value}
        start = at_local(day, offset, 0)
        return [Record(day.isoformat(), day, start, start + ONE_DAY, body)]

    def _daily(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        if kind in _AFTER_SLEEP and self.main_sleep(snap, day) is None:
            return []
        revision = snap.revision(kind, day)
        r = rng(VENDOR, snap.user, day, kind, 0 if revision is None else revision.count)
        value: dict[str, Any] = {"date": civil_date(day)}
        if kind == "daily-resting-heart-rate":
            value |= {"beatsPerMinute": str(r.randint(50, 72))}
            value["dailyRestingHeartRateMetadata"] = {"calculationMethod": "WITH_SLEEP"}
        elif kind == "daily-heart-rate-variability":
            value |= {
                "averageHeartRateVariabilityMilliseconds": round(r.uniform(20, 90), 3),
                "deepSleepRootMeanSquareOfSuccessiveDifferencesMilliseconds": round(r.uniform(20, 95), 3),
                "entropy": round(r.uniform(1.5, 3.5), 3),
                "nonRemHeartRateBeatsPerMinute": str(r.randint(48, 66)),
            }
        elif kind == "daily-oxygen-saturation":
            low = round(r.uniform(88, 95), 1)
            value |= {
                "averagePercentage": round(r.uniform(max(low, 94), 98), 1),
                "lowerBoundPercentage": low,
                "standardDeviationPercentage": round(r.uniform(0.5, 2.0), 2),
                "upperBoundPercentage": round(r.uniform(98, 100), 1),
            }
        elif kind == "daily-respiratory-rate":
            value |= {"breathsPerMinute": round(r.uniform(12.5, 19.5), 1)}
        else:
            levels = ("POOR", "FAIR", "AVERAGE", "GOOD", "VERY_GOOD", "EXCELLENT")
            value |= {"cardioFitnessLevel": r.choice(levels), "estimated": True, "vo2Max": round(r.uniform(35, 55), 1)}
        start = at_local(day, self.offset(snap.user), 0)
        body = {"dataSource": _SOURCE, FIELDS[kind]: value}
        return [Record(day.isoformat(), day, start, start + ONE_DAY, body)]

    def _sample(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        r = rng(VENDOR, snap.user, day, "scale")
        if r.random() >= 2 / 7:
            return []
        offset = self.offset(snap.user)
        at = at_local(day, offset, 7 * 60 + r.randint(0, 90)).replace(microsecond=0)
        if at > snap.now:
            return []
        revision = snap.revision(kind, day)
        v = rng(VENDOR, snap.user, day, kind, 0 if revision is None else revision.count)
        if kind == "weight":
            value: dict[str, Any] = {"weightGrams": float(v.randint(55_000, 95_000))}
        else:
            value = {"percentage": round(v.uniform(12, 32), 1)}
        value["sampleTime"] = sample_time(at, offset)
        body = {"dataSource": _SCALE, FIELDS[kind]: value}
        return [Record(sample_id(at), day, at, at, body)]


def _stages(
    r: random.Random,
    start: datetime,
    end: datetime,
    offset: timedelta,
    levels: tuple[str, ...],
    weights: tuple[int, ...],
) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, int]]:
    """Stage segments covering the session on a 30 s grid (neighbours never share a type), minutes and counts."""
    total = int((end - start).total_seconds())
    runs: list[tuple[str, int]] = []
    done = 0
    while done < total:
        level = r.choices(levels, weights=weights)[0]
        length = min(r.randint(1, 12 if level == "AWAKE" else 40) * 30, total - done)
        if runs and runs[-1][0] == level:
            runs[-1] = (level, runs[-1][1] + length)
        else:
            runs.append((level, length))
        done += length
    stages = []
    at = start
    for level, seconds in runs:
        after = at + timedelta(seconds=seconds)
        stages.append(
            {
                "endTime": rfc3339(after),
                "endUtcOffset": duration(offset.total_seconds()),
                "startTime": rfc3339(at),
                "startUtcOffset": duration(offset.total_seconds()),
                "type": level,
            }
        )
        at = after
    minutes = {level: sum(s for name, s in runs if name == level) // 60 for level in levels}
    counts = {level: sum(1 for name, _ in runs if name == level) for level in levels}
    return stages, minutes, counts


GOOGLE_HEALTH_DATA = GoogleHealthData()
