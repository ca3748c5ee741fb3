"""The figures bureaus watch (统计): open alerts by kind and level, tasks by status, overdue, time to visit, precision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workbench.access import Actor
from workbench.queue import OPEN_STATUSES, scoped
from workbench.tables import Alert, Task, Visit

# buckets of the time from alert to visit, in seconds: 1 day, 3, 7, 14, 30, 45, 60 days
VISIT_BUCKETS = tuple(d * 86400 for d in (1, 3, 7, 14, 30, 45, 60))


@dataclass
class Figures:
    open_alerts: dict[tuple[str, int], int] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    visit_seconds: list[float] = field(default_factory=list)
    visits_by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (confirmed, all)

    @property
    def precision(self) -> float | None:
        confirmed = sum(c for c, _ in self.visits_by_kind.values())
        total = sum(t for _, t in self.visits_by_kind.values())
        return confirmed / total if total else None

    @property
    def median_days_to_visit(self) -> float | None:
        if not self.visit_seconds:
            return None
        ordered = sorted(self.visit_seconds)
        mid = len(ordered) // 2
        value = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        return value / 86400


def figures(session: Session, today: date, actor: Actor | None = None) -> Figures:
    """All figures, for one actor's divisions or (actor None, for /metrics) for the whole database."""
    result = Figures()
    alerts = select(Alert.kind, Alert.level, func.count()).where(Alert.status.in_(OPEN_STATUSES))
    tasks = select(Task.status, func.count())
    overdue = select(func.count()).select_from(Task).where(Task.status != "done", Task.due_date < today)
    # visits the street office approved (复核通过): a record waiting for review may still be sent back
    visits = select(Alert.kind, Visit.result, Alert.received_at, Visit.recorded_at).join(Task, Task.id == Visit.task_id) \
        .join(Alert, Alert.alert_id == Task.alert_id).where(Visit.review_status == "approved")
    if actor is not None:
        alerts = scoped(alerts, actor, Alert.division_code)
        tasks = scoped(tasks, actor, Task.division_code)
        overdue = scoped(overdue, actor, Task.division_code)
        visits = scoped(visits, actor, Alert.division_code)
    for kind, level, count in session.execute(alerts.group_by(Alert.kind, Alert.level)):
        result.open_alerts[(kind, level)] = count
    for status, count in session.execute(tasks.group_by(Task.status)):
        result.tasks[status] = count
    result.overdue = session.scalar(overdue) or 0
    for kind, outcome, received_at, recorded_at in session.execute(visits):
        result.visit_seconds.append(max(0.0, (recorded_at - received_at).total_seconds()))
        confirmed, total = result.visits_by_kind.get(kind, (0, 0))
        result.visits_by_kind[kind] = (confirmed + (outcome == "confirmed"), total + 1)
    return result


# 模型评分段: bands of the learned model's score, and alerts that came without one
SCORE_BANDS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0001))


def score_band(score: float | None) -> str:
    if score is None:
        return "无模型评分"
    for low, high in SCORE_BANDS:
        if low <= score < high:
            return f"{low:.1f}–{min(high, 1.0):.1f}"
    return "无模型评分"


def visit_confirmation(session: Session, actor: Actor | None = None) -> dict[str, list[tuple[str, int, int]]]:
    """The share of visits that confirmed the alert (核实属实率), by kind, by level and by model score band:
    {"kind" | "level" | "score_band": [(key, confirmed, visits)]}, so a bureau sees whether high scores are
    really more often confirmed. Scoped to the actor's divisions (None: the whole database, for /metrics)."""
    query = select(Alert.kind, Alert.level, Alert.model_score, Visit.result).join(Task, Task.id == Visit.task_id) \
        .join(Alert, Alert.alert_id == Task.alert_id).where(Visit.review_status == "approved")  # reviewed (复核) only
    if actor is not None:
        query = scoped(query, actor, Alert.division_code)
    groups: dict[str, dict[str, list[int]]] = {"kind": {}, "level": {}, "score_band": {}}
    for kind, level, score, outcome in session.execute(query):
        for group, key in (("kind", kind), ("level", str(level)), ("score_band", score_band(score))):
            counts = groups[group].setdefault(key, [0, 0])
            counts[0] += outcome == "confirmed"
            counts[1] += 1
    return {group: [(key, c, n) for key, (c, n) in sorted(rows.items())] for group, rows in groups.items()}
