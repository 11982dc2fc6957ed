"""Withings synthetic data, in the shapes of the spec (``reference/specs/withings-openapi.yml``: schemas
``measuregrp_object``/``measure_object``, ``sleep_summary_object``, ``heart_measurement_object``).

Each user lives in one time zone, named as Withings names them (an IANA name: ``Etc/GMT+8`` for -08:00,
``Asia/Kolkata`` for +05:30), at the sandbox's fixed offset for that user. Kinds (record id in brackets):
- measure [``grpid``]: a scale's weighing (weight, fat ratio, fat mass, muscle, bone, hydration) on three days
  in five, around 07:00, and a blood-pressure reading (systole, diastole, heart pulse) on one day in three, around
  20:00; each value an integer with its power of ten (``value * 10^unit``);
- sleep [``id``]: a night's summary on 17 days in 20, ending on the morning of its ``date`` (the day of waking);
- heart [``ecg.signalid``]: an ECG recording on one day in five, around 12:00 (from a BPM Core on one in two: with
  a blood pressure).
A record exists 5 minutes after it ends (synced); a revision changes its values and ``modified``.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from sandbox.data import Record, Snapshot, at_local, rng, seed, user_offset

KINDS = ("measure", "sleep", "heart")
SYNC = timedelta(minutes=5)
_ZONES = {330: "Asia/Kolkata"}


def zone_name(offset: timedelta) -> str:
    """The IANA name Withings would give a user at this fixed offset (``Etc/GMT`` signs are inverted)."""
    minutes = int(offset.total_seconds()) // 60
    if minutes in _ZONES:
        return _ZONES[minutes]
    if minutes == 0:
        return "UTC"
    hours = minutes // 60
    return f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"


def _epoch(instant: datetime) -> int:
    return int(instant.timestamp())


def record_number(user: str, day: date, slot: int) -> int:
    """A per-user unique id: the user's prefix, the day and the slot (fits an int64, above int32)."""
    return (1 + seed("withings-user", user) % 9_000) * 10**8 + day.toordinal() * 10 + slot


class WithingsData:
    vendor = "withings"
    kinds = KINDS

    def offset(self, user: str) -> timedelta:
        return user_offset(user)

    def timezone(self, user: str) -> str:
        return zone_name(self.offset(user))

    def day_records(self, kind: str, snap: Snapshot, day: date) -> list[Record]:
        if day < snap.member_since:
            return []
        if kind == "measure":
            found = [self._weighing(snap, day), self._blood_pressure(snap, day)]
        elif kind == "sleep":
            found = [self._sleep(snap, day)]
        elif kind == "heart":
            found = [self._ecg(snap, day)]
        else:
            raise ValueError(f"withings has no kind {kind!r}")
        return sorted(
            (
                r
                for r in found
                if r is not None
                and r.end is not None
                and r.end + SYNC <= snap.now
                and not snap.is_deleted(kind, day, r.record_id)
            ),
            key=lambda r: r.key,
        )

    def _values(self, snap: Snapshot, kind: str, day: date) -> tuple[random.Random, int]:
        revision = snap.revision(kind, day)
        count = 0 if revision is None else revision.count
        return rng("withings", kind, snap.user, day, count), count

    def _group(
        self, snap: Snapshot, day: date, slot: int, when: datetime, measures: list[dict[str, int]], model: str
    ) -> Record:
        revision = snap.revision("measure", day)
        modified = _epoch(when + SYNC) if revision is None else _epoch(max(revision.at, when + SYNC))
        grpid = record_number(snap.user, day, slot)
        body: dict[str, object] = {
            "grpid": grpid,
            "attrib": 0,
            "date": _epoch(when),
            "created": _epoch(when + SYNC),
            "modified": modified,
            "category": 1,
            "deviceid": f"{seed('withings-device', snap.user, model):040x}"[:40],
            "hash_deviceid": f"{seed('withings-device', snap.user, model):040x}"[:40],
            "measures": measures,
            "model": model,
            "model_id": 5 if model == "Body+" else 44,
            "comment": None,
        }
        body = {key: value for key, value in body.items() if value is not None}
        return Record(grpid, day, when, when, body)

    def _weighing(self, snap: Snapshot, day: date) -> Record | None:
        if rng("withings-weigh", snap.user, day).random() >= 0.6:
            return None
        r, _ = self._values(snap, "measure", day)
        when = at_local(day, self.offset(snap.user), 7 * 60 + r.uniform(-30, 45))
        weight = r.randint(58_000, 95_000)  # grams, as value 10^-3 kg
        fat_ratio = r.randint(1_200, 3_200)  # 10^-2 %
        fat_mass = weight * fat_ratio // 10_000
        measures = [
            {"value": weight, "type": 1, "unit": -3, "algo": 0, "fm": 131},
            {"value": fat_ratio, "type": 6, "unit": -2, "algo": 0, "fm": 131},
            {"value": fat_mass, "type": 8, "unit": -3, "algo": 0, "fm": 131},
            {"value": (weight - fat_mass) * 93 // 1000, "type": 76, "unit": -2, "algo": 0, "fm": 131},
            {"value": weight * 4 // 1000, "type": 88, "unit": -2, "algo": 0, "fm": 131},
            {"value": weight * 55 // 1000, "type": 77, "unit": -2, "algo": 0, "fm": 131},
        ]
        return self._group(snap, day, 0, when, measures, "Body+")

    def _blood_pressure(self, snap: Snapshot, day: date) -> Record | None:
        if rng("withings-bp", snap.user, day).random() >= 1 / 3:
            return None
        r, _ = self._values(snap, "measure", day)
        when = at_local(day, self.offset(snap.user), 20 * 60 + r.uniform(-60, 60))
        measures = [
            {"value": r.randint(105, 145), "type": 10, "unit": 0},
            {"value": r.randint(65, 92), "type": 9, "unit": 0},
            {"value": r.randint(52, 88), "type": 11, "unit": 0},
        ]
        return self._group(snap, day, 1, when, measures, "BPM Connect")

    def _sleep(self, snap: Snapshot, day: date) -> Record | None:
        if rng("withings-sleep", snap.user, day).random() >= 0.85:
            return None
        r, _ = self._values(snap, "sleep", day)
        offset = self.offset(snap.user)
        start = at_local(day, offset, -90 + r.uniform(-60, 60))  # the evening before
        in_bed = int(r.uniform(6.0, 9.0) * 3600)
        end = start + timedelta(seconds=in_bed)
        latency = r.randint(300, 1_500)
        awake = r.randint(600, 3_000)
        asleep = max(0, in_bed - latency - awake)
        deep, rem = asleep * r.randint(15, 25) // 100, asleep * r.randint(18, 25) // 100
        revision = snap.revision("sleep", day)
        modified = end + SYNC if revision is None else max(revision.at, end + SYNC)
        sleep_id = record_number(snap.user, day, 2)
        body = {
            "id": sleep_id,
            "timezone": self.timezone(snap.user),
            "model": 32,
            "model_id": 63,
            "startdate": _epoch(start),
            "enddate": _epoch(end),
            "date": day.isoformat(),
            "created": _epoch(end + SYNC),
            "modified": _epoch(modified),
            "hash_deviceid": f"{seed('withings-device', snap.user, 'sleep'):040x}"[:40],
            "completed": True,
            "data": {
                "total_timeinbed": in_bed,
                "total_sleep_time": asleep,
                "lightsleepduration": asleep - deep - rem,
                "deepsleepduration": deep,
                "remsleepduration": rem,
                "wakeupduration": awake,
                "wakeupcount": r.randint(0, 6),
                "sleep_latency": latency,
                "sleep_efficiency": round(asleep / in_bed, 2),
                "hr_average": r.randint(50, 68),
                "hr_min": r.randint(42, 50),
                "hr_max": r.randint(70, 95),
                "rr_average": r.randint(12, 18),
                "snoring": r.randint(0, 1_800),
                "sleep_score": r.randint(45, 95),
            },
        }
        return Record(sleep_id, day, start, end, body)

    def _ecg(self, snap: Snapshot, day: date) -> Record | None:
        if rng("withings-ecg", snap.user, day).random() >= 0.2:
            return None
        r, _ = self._values(snap, "heart", day)
        when = at_local(day, self.offset(snap.user), 12 * 60 + r.uniform(-120, 120))
        end = when + timedelta(seconds=30)
        core = rng("withings-ecg-device", snap.user, day).random() < 0.5
        revision = snap.revision("heart", day)
        modified = end + SYNC if revision is None else max(revision.at, end + SYNC)
        signal_id = record_number(snap.user, day, 3)
        body: dict[str, object] = {
            "deviceid": f"{seed('withings-device', snap.user, 'ecg'):040x}"[:40],
            "model": 44 if core else 91,
            "ecg": {"signalid": signal_id, "afib": r.choice((0, 0, 0, 1, 2))},
            "heart_rate": r.randint(55, 95),
            "modified": _epoch(modified),
            "timestamp": _epoch(when),
        }
        if core:
            body["bloodpressure"] = {"systole": r.randint(105, 145), "diastole": r.randint(65, 92)}
        return Record(signal_id, day, when, end, body)


WITHINGS_DATA = WithingsData()
