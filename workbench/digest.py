"""The daily digest (每日待办): what is due for one user today — overdue and due-soon tasks, visits sent back,
findings waiting for review, alerts waiting for triage, tasks nobody holds — shown on /digest (e-mail or SMS
delivery is left to configuration: the same dict is what a sender would format)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workbench import access, labels, queue, tasks
from workbench.access import Actor
from workbench.stats_places import DUE_SOON_DAYS
from workbench.tables import Review, Task


def digest(session: Session, actor: Actor, today: date) -> dict:
    """Counts and the task ids behind them; every list is inside the actor's divisions (and their own tasks for
    an officer or verifier)."""
    result: dict = {"today": today.isoformat(), "overdue": [], "due_soon": [], "returned": [], "to_review": [],
                    "unassigned": [], "to_triage": {}, "to_visit": []}
    if access.allowed(actor.role, "task.read"):
        rows = list(session.scalars(tasks.tasks_query(actor).where(Task.status != "done").order_by(Task.due_date, Task.id)))
        returned = set(session.scalars(select(Review.task_id).where(Review.decision == "returned",
                                                                    Review.task_id.in_([t.id for t in rows])))) \
            if rows else set()
        for task in rows:
            if today > task.due_date:
                result["overdue"].append(task.id)
            elif (task.due_date - today).days <= DUE_SOON_DAYS:
                result["due_soon"].append(task.id)
            if task.status == "assigned" and task.id in returned:
                result["returned"].append(task.id)
            if task.status == "review":
                result["to_review"].append(task.id)
            if task.status == "unassigned":
                result["unassigned"].append(task.id)
            if task.status == "assigned" and task.assignee == actor.username:
                result["to_visit"].append(task.id)
        if not access.allowed(actor.role, "task.review"):
            result["to_review"] = []
    if access.allowed(actor.role, "alert.triage"):
        new = queue.alerts_query(actor, queue.Filters(status="new")).subquery()
        counted = select(new.c.level, func.count()).group_by(new.c.level)
        result["to_triage"] = {labels.level(level): count for level, count in
                               sorted(session.execute(counted), key=lambda item: -item[0])}
    return result
