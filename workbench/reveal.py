"""Revealing personal data (查看明文): only roles that may, only in their divisions, and always audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench import audit
from workbench.access import Actor
from workbench.errors import NotFound
from workbench.queue import get_alert
from workbench.tables import Visit
from workbench.tasks import get_task


def reveal_alert(session: Session, actor: Actor, alert_id: int | str, now: datetime, client: str | None = None) -> dict:
    alert = get_alert(session, actor, alert_id, "personal.reveal")
    audit.record(session, actor, "reveal", now, target_type="alert", target_id=alert.alert_id,
                 division_code=alert.division_code, detail={"fields": ["household_id"]}, client=client)
    return {"number": alert.number, "alert_id": alert.alert_id, "household_id": alert.household_id}


def reveal_task(session: Session, actor: Actor, task_id: int, now: datetime, client: str | None = None) -> dict:
    task, alert = get_task(session, actor, task_id, "personal.reveal")
    visit = session.scalar(select(Visit).where(Visit.task_id == task.id))
    if visit is None and not alert.household_id.startswith("person:"):
        raise NotFound("该任务没有需要查看的个人信息")
    audit.record(session, actor, "reveal", now, target_type="task", target_id=str(task.id),
                 division_code=task.division_code, detail={"fields": ["household_id", "contact_phone", "bank_card"]},
                 client=client)
    return {"task_id": task.id, "alert_id": alert.alert_id, "household_id": alert.household_id,
            "contact_phone": visit.contact_phone if visit else None, "bank_card": visit.bank_card if visit else None}
