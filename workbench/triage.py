"""Triage (研判): confirm an alert (a visit task follows), dismiss it with a written reason, or merge a duplicate.

Every decision is a row of wb_decisions with who and when, a line of the alert's timeline and an
audit entry, all in one transaction; a dismissal or merge also queues its outcome at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from models.validation import Rejected
from workbench import audit, outcomes, tasks
from workbench.access import Actor
from workbench.errors import Conflict, Invalid
from workbench.queue import get_alert
from workbench.tables import Alert, Decision, Task, TimelineEntry

MIN_REASON_LENGTH = 4
MAX_TEXT = 2000


def _require_new(alert: Alert) -> None:
    if alert.status != "new":
        raise Conflict(f"该预警已处理（当前状态：{alert.status}），不能重复研判", "ALREADY_DECIDED")


def _decide(session: Session, actor: Actor, alert: Alert, decision: str, now: datetime, *, reason: str | None = None,
            merged_into: str | None = None, client: str | None = None, category: str | None = None) -> None:
    session.add(Decision(alert_id=alert.alert_id, decision=decision, reason=reason, merged_into=merged_into,
                         decided_by=actor.username, decided_at=now, reason_category=category))
    texts = {"confirmed": "研判确认，生成核查任务", "dismissed": f"研判排除：{reason}", "merged": f"合并至预警 {merged_into}"}
    session.add(TimelineEntry(alert_id=alert.alert_id, at=now, what=decision, text=texts[decision], actor=actor.username))
    audit.record(session, actor, f"alert_{decision}", now, target_type="alert", target_id=alert.alert_id,
                 division_code=alert.division_code, detail={"reason": reason, "merged_into": merged_into}, client=client)


def confirm(session: Session, actor: Actor, alert_id: int | str, now: datetime, calendar: dict | None = None,
            client: str | None = None) -> Task:
    """Confirm: the alert goes to a visit (核查) and a task is assigned by the rules of tasks.py."""
    alert = get_alert(session, actor, alert_id, "alert.triage")
    _require_new(alert)
    alert.status = "confirmed"
    alert.updated_at = now
    _decide(session, actor, alert, "confirmed", now, client=client)
    return tasks.create_task(session, actor, alert, now, calendar)


def dismiss(session: Session, actor: Actor, alert_id: int | str, reason: str | None, now: datetime,
            client: str | None = None, category: str | None = None) -> Alert:
    """Dismiss with the written reason that the household is told (书面告知理由); refused without one."""
    alert = get_alert(session, actor, alert_id, "alert.triage")
    text = (reason or "").replace("\x00", "").strip()
    if len(text) < MIN_REASON_LENGTH:
        raise Invalid("排除预警必须填写书面理由（至少 4 个字），用于书面告知", "MISSING_REASON", "reason")
    if len(text) > MAX_TEXT:
        raise Invalid(f"理由不超过 {MAX_TEXT} 字", "REASON_TOO_LONG", "reason")
    category = tasks.check_category(category)
    _require_new(alert)
    alert.status = "dismissed"
    alert.updated_at = now
    _decide(session, actor, alert, "dismissed", now, reason=text, client=client, category=category)
    record = outcomes.build_outcome(alert_id=alert.alert_id, household_id=alert.household_id, decision="dismissed",
                                    decided_by=actor.username, decided_at=now, reason=text)
    outcomes.enqueue(session, record, now)
    return alert


def merge(session: Session, actor: Actor, alert_id: int | str, into: int | str | None, now: datetime,
          client: str | None = None) -> Alert:
    """Merge a duplicate into another alert of the same household (合并重复预警); `into` is a number or alert_id."""
    if isinstance(into, str):
        into = into.replace("\x00", "")
    if into in (None, "", 0):
        raise Invalid("请选择要合并到的另一条预警", "MISSING_TARGET", "into")
    alert = get_alert(session, actor, alert_id, "alert.triage")
    target = get_alert(session, actor, into, "alert.read")
    if target.alert_id == alert.alert_id:
        raise Invalid("不能合并到自身", "MISSING_TARGET", "into")
    if target.household_id != alert.household_id:
        raise Invalid("只能合并同一户的重复预警", "DIFFERENT_HOUSEHOLD", "into")
    if target.status == "merged":
        raise Invalid("目标预警本身已被合并，请合并到其主预警", "TARGET_MERGED", "into")
    _require_new(alert)
    alert.status = "merged"
    alert.merged_into = target.alert_id
    alert.updated_at = now
    _decide(session, actor, alert, "merged", now, merged_into=target.alert_id, client=client)
    session.add(TimelineEntry(alert_id=target.alert_id, at=now, what="merged", actor=actor.username,
                              text=f"预警 {alert.alert_id} 作为重复预警并入本条"))
    try:
        record = outcomes.build_outcome(alert_id=alert.alert_id, household_id=alert.household_id, decision="merged",
                                        decided_by=actor.username, decided_at=now,
                                        reason=f"与预警 {target.alert_id} 重复，已合并")
    except Rejected as exc:  # pragma: no cover - build_outcome only refuses what we never build
        raise Invalid(exc.message, exc.code, exc.field) from None
    outcomes.enqueue(session, record, now)
    return alert


MAX_BULK = 200


def dismiss_many(session: Session, actor: Actor, numbers: list[int], reason: str | None, now: datetime,
                 client: str | None = None, category: str | None = None) -> list[Alert]:
    """Bulk triage (批量研判): dismiss several alerts with one written reason, all or none (the first refusal names
    its alert and nothing is dismissed)."""
    unique = list(dict.fromkeys(numbers))
    if not unique:
        raise Invalid("请勾选要排除的预警", "NOTHING_SELECTED", "numbers")
    if len(unique) > MAX_BULK:
        raise Invalid(f"一次最多排除 {MAX_BULK} 条预警", "TOO_MANY", "numbers")
    done = []
    for number in unique:
        try:
            done.append(dismiss(session, actor, number, reason, now, client, category=category))
        except (Conflict, Invalid) as exc:
            exc.message = f"预警 #{number}：{exc.message}（未排除任何预警）"
            raise
    return done
