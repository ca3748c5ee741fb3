"""Statistics by place and time (分区域、分月份统计): per street and community, per month — alerts, visits, precision
with its count, time to visit, overdue and due-soon tasks. `tabulate` is pure over plain rows; `place_figures` reads
them for one user's divisions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench import divisions
from workbench.access import Actor
from workbench.queue import scoped
from workbench.tables import Alert, Task, Visit
from workbench.timeutil import CST

DUE_SOON_DAYS = 7  # calendar days before the due date that a task counts as due soon (即将到期)


@dataclass(frozen=True)
class Row:
    """One alert as the statistics see it."""

    division_code: str
    received_at: datetime
    task_status: str | None = None
    due_date: date | None = None
    visit_result: str | None = None  # confirmed / refuted, approved visits only
    visited_at: datetime | None = None


def _bucket() -> dict:
    return {"alerts": 0, "visits": 0, "confirmed": 0, "overdue": 0, "due_soon": 0, "days": []}


def _finish(key: str, b: dict) -> dict:
    days = sorted(b.pop("days"))
    mid = len(days) // 2
    median = None if not days else days[mid] if len(days) % 2 else (days[mid - 1] + days[mid]) / 2
    return {"key": key, **b, "precision": b["confirmed"] / b["visits"] if b["visits"] else None,
            "precision_label": f"{b['confirmed']}/{b['visits']}（{b['confirmed'] / b['visits']:.0%}）" if b["visits"] else "—",
            "median_days_to_visit": round(median, 1) if median is not None else None}


def tabulate(rows: list[Row], today: date) -> dict:
    """{"streets": [...], "communities": [...], "months": [...]} — each entry counts alerts, approved visits,
    confirmed ones, the precision as "confirmed/visits (share)", the median days to visit, overdue and due-soon tasks."""
    streets: dict[str, dict] = defaultdict(_bucket)
    communities: dict[str, dict] = defaultdict(_bucket)
    months: dict[str, dict] = defaultdict(_bucket)
    for row in rows:
        month = row.received_at.astimezone(CST).strftime("%Y-%m")
        targets = [streets[divisions.street_of(row.division_code)], communities[row.division_code], months[month]]
        for bucket in targets:
            bucket["alerts"] += 1
        if row.task_status and row.task_status != "done" and row.due_date is not None:
            late = today > row.due_date
            soon = not late and (row.due_date - today).days <= DUE_SOON_DAYS
            for bucket in targets[:2]:
                bucket["overdue"] += late
                bucket["due_soon"] += soon
        if row.visit_result and row.visited_at is not None:
            visit_month = months[row.visited_at.astimezone(CST).strftime("%Y-%m")]
            days = max(0.0, (row.visited_at - row.received_at).total_seconds() / 86400)
            for bucket in (*targets[:2], visit_month):
                bucket["visits"] += 1
                bucket["confirmed"] += row.visit_result == "confirmed"
                bucket["days"].append(days)
    return {"streets": [_finish(k, v) for k, v in sorted(streets.items())],
            "communities": [_finish(k, v) for k, v in sorted(communities.items())],
            "months": [_finish(k, v) for k, v in sorted(months.items())]}


def place_figures(session: Session, actor: Actor, today: date) -> dict:
    query = scoped(select(Alert.division_code, Alert.received_at, Task.status, Task.due_date, Visit.result,
                          Visit.recorded_at, Visit.review_status)
                   .outerjoin(Task, Task.alert_id == Alert.alert_id).outerjoin(Visit, Visit.task_id == Task.id),
                   actor, Alert.division_code)
    rows = [Row(division_code=code, received_at=received, task_status=status, due_date=due,
                visit_result=result if review == "approved" else None, visited_at=recorded if review == "approved" else None)
            for code, received, status, due, result, recorded, review in session.execute(query)]
    return tabulate(rows, today)
