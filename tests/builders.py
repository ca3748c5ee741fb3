"""Builders of contract records for tests: valid resident IDs, households, events."""

from __future__ import annotations

import itertools
from datetime import date

from models.resident_id import make_resident_id

PG_URL_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DIVISION = "420106002003"  # 武昌区 某街道 某社区
_sequence = itertools.count(1)


def person(born: date | str = date(1970, 5, 1), area: str = "420106") -> str:
    if isinstance(born, str):
        born = date.fromisoformat(born)
    return make_resident_id(area, born, next(_sequence) % 1000)


def household(household_id: str, members: list[tuple[str, str]], coverage: str = "none",
              income: float = 3000.0, recorded_at: str = "2026-01-01T00:00:00+08:00",
              division: str = DIVISION, standard: float | None = None) -> dict:
    record = {
        "household_id": household_id,
        "division_code": division,
        "members": [
            {"person_id": pid, "birth_date": f"{pid[6:10]}-{pid[10:12]}-{pid[12:14]}", "relation": relation}
            for pid, relation in members
        ],
        "coverage": coverage,
        "monthly_income_yuan": income,
        "recorded_at": recorded_at,
    }
    if standard is not None:
        record["dibao_standard_yuan"] = standard
    return record


_event_ids = itertools.count(1)


def event(event_type: str, person_id: str, when: str = "2026-03-01T10:00:00+08:00", source: str = "test",
          event_id: str | None = None, **attributes) -> dict:
    return {
        "event_id": event_id or f"ev-{next(_event_ids):06d}",
        "source": source,
        "type": event_type,
        "person_id": person_id,
        "occurred_at": when,
        "attributes": attributes,
    }


def filing(staff_id: str, relatives: list[str], role: str = "social_assistance_staff",
           division: str = DIVISION, filed_at: str = "2026-01-01T00:00:00+08:00") -> dict:
    return {"staff_id": staff_id, "role": role, "division_code": division, "relative_person_ids": relatives,
            "filed_at": filed_at}


def outcome(alert: dict, decision: str, when: str = "2026-06-01T10:00:00+08:00", **extra) -> dict:
    record = {
        "outcome_id": f"oc-{alert['alert_id']}-{decision}",
        "alert_id": alert["alert_id"],
        "household_id": alert["household_id"],
        "decision": decision,
        "decided_by": "bureau-01",
        "decided_at": when,
    }
    record.update(extra)
    return record
