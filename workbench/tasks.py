"""Visit tasks (核查任务): who gets them (回避 holds), their due dates, assignment, extension and the visit record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workbench import access, audit, calendar_store, divisions, duedates, labels, outcomes
from workbench.access import Actor
from workbench.errors import Conflict, Forbidden, Invalid, NotFound, OutOfScope
from workbench.queue import scoped
from workbench.tables import Alert, Review, Task, TimelineEntry, User, Visit
from workbench.timeutil import today_cst

MAX_TEXT = 4000


def actor_of(user: User) -> Actor:
    return Actor(username=user.username, role=user.role, scopes=tuple(user.scopes), staff_id=user.staff_id)


def eligible_assignees(session: Session, alert: Alert) -> list[User]:
    """Officers of the household's community (or county verifiers for filed relatives), minus the recused."""
    role = "verifier" if alert.kind == "filed_relative_check" else "officer"
    users = session.scalars(select(User).where(User.role == role, User.active.is_(True)).order_by(User.username))
    return [u for u in users if access.eligible_assignee(alert.kind, u.role, u.scopes, alert.division_code, u.staff_id,
                                                         alert.recusal_staff_ids, u.active)]


def open_load(session: Session, username: str) -> int:
    """The officer's workload: tasks assigned to them and not yet visited (在办)."""
    return _open_load(session, username)


def _open_load(session: Session, username: str) -> int:
    return session.scalar(select(func.count()).select_from(Task).where(Task.assignee == username, Task.status == "assigned")) or 0


def create_task(session: Session, actor: Actor, alert: Alert, now: datetime, calendar: dict | None = None) -> Task:
    """A task for a confirmed alert, due in 30 working days, given to the least-loaded eligible person."""
    start = today_cst(now)
    due = duedates.due_date(start, extended=False, overrides=calendar_store.for_division(calendar, alert.division_code))
    candidates = eligible_assignees(session, alert)
    assignee = min(candidates, key=lambda u: (_open_load(session, u.username), u.username)) if candidates else None
    task = Task(alert_id=alert.alert_id, division_code=alert.division_code, kind=alert.kind,
                assignee=assignee.username if assignee else None, status="assigned" if assignee else "unassigned",
                start_date=start, due_date=due.due, due_provisional=due.provisional, extended=False,
                created_by=actor.username, created_at=now)
    session.add(task)
    text = f"生成核查任务，期限 {due.label}，" + (f"分派给 {assignee.display_name}" if assignee else "暂无可分派人员，待街道分派")
    session.add(TimelineEntry(alert_id=alert.alert_id, at=now, what="task", text=text, actor=actor.username))
    return task


def tasks_query(actor: Actor):  # noqa: ANN201
    query = scoped(select(Task), actor, Task.division_code)
    if actor.role in {"officer", "verifier"}:
        query = query.where(Task.assignee == actor.username)
    return query


def list_tasks(session: Session, actor: Actor, status: str | None = None, overdue_only: bool = False,
               today=None, limit: int = 500, offset: int = 0) -> tuple[list[Task], int]:  # noqa: ANN001
    if not access.allowed(actor.role, "task.read"):
        raise Forbidden("您的角色不能查看核查任务", "ROLE_FORBIDDEN")
    query = tasks_query(actor)
    if status:
        query = query.where(Task.status == status)
    if overdue_only and today is not None:
        query = query.where(Task.status != "done", Task.due_date < today)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Task.status, Task.due_date, Task.id).limit(limit).offset(offset))
    return list(rows), total


def get_task(session: Session, actor: Actor, task_id: int, action: str = "task.read") -> tuple[Task, Alert]:
    if not 1 <= task_id <= 2_147_483_647:
        raise NotFound("没有找到该任务，或不在您的管辖范围内")
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("没有找到该任务，或不在您的管辖范围内")
    if not access.in_scope(actor, task.division_code):
        raise OutOfScope("没有找到该任务，或不在您的管辖范围内", actor=actor, target_type="task", target_id=str(task.id),
                         division_code=task.division_code)
    if actor.role in {"officer", "verifier"} and task.assignee != actor.username:
        raise NotFound("没有找到该任务，或不在您的管辖范围内")
    alert = session.scalar(select(Alert).where(Alert.alert_id == task.alert_id))
    if not access.can(actor, action, task.division_code, kind=task.kind, recusal_staff_ids=alert.recusal_staff_ids):
        if access.recused(actor, alert.recusal_staff_ids):
            raise Forbidden("您是该户成员的备案近亲属，依规回避", "RECUSED")
        raise Forbidden("您的角色不能进行此操作", "ROLE_FORBIDDEN")
    return task, alert


def assign(session: Session, actor: Actor, task_id: int, username: str, now: datetime, client: str | None = None) -> Task:
    """Street or bureau (re)assigns a task; the rules of eligibility and recusal still hold."""
    task, alert = get_task(session, actor, task_id, "task.assign")
    if task.status == "done":
        raise Conflict("任务已完成，不能再分派", "TASK_DONE")
    user = session.scalar(select(User).where(User.username == (username or "").replace("\x00", "")[:64]))
    if user is None or not user.active:
        raise Invalid("没有这个用户", "NO_SUCH_USER", "assignee")
    if user.staff_id and user.staff_id in (alert.recusal_staff_ids or []):
        raise Invalid(f"{user.display_name} 是该户成员的备案近亲属，依规回避，不能分派", "RECUSED", "assignee")
    if not access.eligible_assignee(alert.kind, user.role, user.scopes, alert.division_code, user.staff_id,
                                    alert.recusal_staff_ids, user.active):
        who = "县级核查员" if alert.kind == "filed_relative_check" else "该户所在社区的民政专干"
        raise Invalid(f"只能分派给{who}", "NOT_ELIGIBLE", "assignee")
    before = task.assignee
    task.assignee = user.username
    task.status = "assigned"
    session.add(TimelineEntry(alert_id=alert.alert_id, at=now, what="task", actor=actor.username,
                              text=f"任务分派给 {user.display_name}"))
    audit.record(session, actor, "task_assigned", now, target_type="task", target_id=str(task.id),
                 division_code=task.division_code, detail={"from": before, "to": user.username}, client=client)
    return task


def place(session: Session, actor: Actor, task_id: int, community: str, now: datetime, client: str | None = None) -> Task:
    """A task whose household is known only to its county (a provisional household, 临时户: the resident ID's area)
    is placed in the community where the family lives (落实所在社区); the street then sees it, and it goes to that
    community's least-loaded officer when there is one."""
    task, alert = get_task(session, actor, task_id, "task.assign")
    if task.status == "done":
        raise Conflict("任务已完成", "TASK_DONE")
    if divisions.level(task.division_code) == "community":
        raise Conflict("该任务已有所在社区", "ALREADY_PLACED")
    if not divisions.is_division_code(community) or divisions.level(community) != "community":
        raise Invalid("请填写该户实际居住的社区（村）：名称或 12 位代码", "BAD_DIVISION", "community")
    if not divisions.contains(task.division_code, community) or not access.in_scope(actor, community):
        raise Invalid("该社区不在本任务的区县或您的辖区内", "OUT_OF_SCOPE", "community")
    before = task.division_code
    task.division_code = community
    placed = Alert(kind=alert.kind, division_code=community, recusal_staff_ids=alert.recusal_staff_ids)
    candidates = eligible_assignees(session, placed)
    if task.assignee is None and candidates:
        chosen = min(candidates, key=lambda u: (_open_load(session, u.username), u.username))
        task.assignee, task.status = chosen.username, "assigned"
    text = f"落实所在社区 {community}" + (f"，分派给 {task.assignee}" if task.assignee else "，该社区暂无可分派人员")
    session.add(TimelineEntry(alert_id=alert.alert_id, at=now, what="task", actor=actor.username, text=text))
    audit.record(session, actor, "task_placed", now, target_type="task", target_id=str(task.id), division_code=community,
                 detail={"from": before, "to": community, "assignee": task.assignee}, client=client)
    return task


def extend(session: Session, actor: Actor, task_id: int, reason: str | None, now: datetime, calendar: dict | None = None,
           client: str | None = None) -> Task:
    """A disputed case gets 45 working days from the same start (有争议的延长至 45 个工作日)."""
    task, alert = get_task(session, actor, task_id, "task.extend")
    text = (reason or "").replace("\x00", "").strip()
    if len(text) < 4:
        raise Invalid("延期须说明理由（至少 4 个字）", "MISSING_REASON", "reason")
    if task.status == "done" or task.extended:
        raise Conflict("任务已完成或已延期", "CANNOT_EXTEND")
    due = duedates.due_date(task.start_date, extended=True,
                            overrides=calendar_store.for_division(calendar, task.division_code))
    task.extended, task.due_date, task.due_provisional = True, due.due, due.provisional
    session.add(TimelineEntry(alert_id=alert.alert_id, at=now, what="task", actor=actor.username,
                              text=f"延期至 {due.label}：{text}"))
    audit.record(session, actor, "task_extended", now, target_type="task", target_id=str(task.id),
                 division_code=task.division_code, detail={"reason": text, "due": due.due.isoformat()}, client=client)
    return task


def record_visit(session: Session, actor: Actor, task_id: int, *, method: str, finding: str, result: str,
                 now: datetime, reason: str | None = None, new_coverage: str | None = None,
                 contact_phone: str | None = None, bank_card: str | None = None, client: str | None = None,
                 category: str | None = None) -> Visit:
    """The officer's visit: method, finding and result; it waits for the street office's review (复核), and only
    the approval (`review`) sends the outcome to hardship.outcomes.

    A visit that confirms the alert will send `confirmed` (with the coverage it leads to); one that
    refutes it `dismissed` with the written reason and its category.
    """
    task, alert = get_task(session, actor, task_id, "task.visit")
    if task.assignee != actor.username:
        raise Forbidden("只有被分派的人员可以登记走访", "NOT_ASSIGNEE")
    if task.status in ("done", "review"):
        raise Conflict("该任务已登记走访" + ("，正等待街道复核" if task.status == "review" else ""), "TASK_DONE")
    if method not in labels.VISIT_METHODS:
        raise Invalid("请选择核查方式：入户调查、邻里访问或信函索证", "BAD_VISIT_METHOD", "method")
    finding = (finding or "").replace("\x00", "").strip()
    if len(finding) < 4:
        raise Invalid("请填写核查情况（至少 4 个字）", "MISSING_FINDING", "finding")
    if len(finding) > MAX_TEXT or len(reason or "") > MAX_TEXT:
        raise Invalid(f"文字不超过 {MAX_TEXT} 字", "TEXT_TOO_LONG", "finding")
    if result not in labels.VISIT_RESULTS:
        raise Invalid("请选择核查结论：属实或不属实", "BAD_RESULT", "result")
    reason = (reason or "").replace("\x00", "").strip() or None
    if result == "refuted" and (reason is None or len(reason) < 4):
        raise Invalid("核实不属实的，须填写书面告知理由", "MISSING_REASON", "reason")
    category = check_category(category) if result == "refuted" else None
    if new_coverage in ("", None):
        new_coverage = outcomes.CONFIRMED_COVERAGE.get(alert.kind) if result == "confirmed" else None
    elif new_coverage not in labels.COVERAGES:
        raise Invalid("保障类别不正确", "BAD_COVERAGE", "new_coverage")
    if result == "refuted":
        new_coverage = None
    contact_phone = _digits_or_none(contact_phone, "contact_phone", 7, 20, "联系电话")
    bank_card = _digits_or_none(bank_card, "bank_card", 12, 23, "银行卡号")
    record = outcomes.build_outcome(
        alert_id=alert.alert_id, household_id=alert.household_id,
        decision="confirmed" if result == "confirmed" else "dismissed",
        decided_by=actor.username, decided_at=now, new_coverage=new_coverage, reason=reason, finding=finding,
        visit_method=method, visit_finding="confirmed" if result == "confirmed" else "not_confirmed",
    )
    visit = Visit(task_id=task.id, method=method, finding=finding, result=result, reason=reason,
                  new_coverage=new_coverage, contact_phone=contact_phone, bank_card=bank_card,
                  recorded_by=actor.username, recorded_at=now, outcome_id=record["outcome_id"],
                  review_status="pending", reason_category=category)
    session.add(visit)
    task.status = "review"  # the outcome waits for the street office's review (复核)
    text = f"{labels.VISIT_METHODS[method]}：{labels.VISIT_RESULTS[result]}，待街道复核"
    session.add(TimelineEntry(alert_id=alert.alert_id, at=now, what="visit", text=text, actor=actor.username))
    audit.record(session, actor, "visit_recorded", now, target_type="task", target_id=str(task.id),
                 division_code=task.division_code, detail={"method": method, "result": result,
                                                           "outcome_id": record["outcome_id"]}, client=client)
    return visit


def _digits_or_none(value: str | None, field: str, low: int, high: int, label: str) -> str | None:
    text = (value or "").replace(" ", "").replace("-", "")
    if not text:
        return None
    if not text.isdigit() or not low <= len(text) <= high:
        raise Invalid(f"{label}格式不正确", "BAD_" + field.upper(), field)
    return text


def check_category(category: str | None) -> str | None:
    """A reason category (理由类别) of labels.REASON_CATEGORIES, or none given."""
    if category in (None, ""):
        return None
    if category not in labels.REASON_CATEGORIES:
        raise Invalid("理由类别不正确：" + "、".join(labels.REASON_CATEGORIES.values()), "BAD_CATEGORY", "category")
    return category


def _snapshot(visit: Visit) -> dict:
    return {"method": visit.method, "finding": visit.finding, "result": visit.result, "reason": visit.reason,
            "reason_category": visit.reason_category, "new_coverage": visit.new_coverage,
            "recorded_by": visit.recorded_by, "recorded_at": visit.recorded_at.isoformat()}


def review(session: Session, actor: Actor, task_id: int, decision: str, now: datetime, note: str | None = None,
           client: str | None = None) -> Task:
    """The street office's review (复核) of a visit record: `approve` sends the outcome and closes the alert;
    `return` sends the record back to the officer with the reason (the record is kept in wb_reviews)."""
    task, alert = get_task(session, actor, task_id, "task.review")
    visit = session.scalar(select(Visit).where(Visit.task_id == task.id))
    if task.status != "review" or visit is None or visit.review_status != "pending":
        raise Conflict("该任务没有待复核的走访结果", "NOTHING_TO_REVIEW")
    note = (note or "").replace("\x00", "").strip() or None
    if note and len(note) > MAX_TEXT:
        raise Invalid(f"文字不超过 {MAX_TEXT} 字", "TEXT_TOO_LONG", "note")
    if decision == "approve":
        record = outcomes.build_outcome(
            alert_id=alert.alert_id, household_id=alert.household_id,
            decision="confirmed" if visit.result == "confirmed" else "dismissed",
            decided_by=visit.recorded_by, decided_at=now, new_coverage=visit.new_coverage, reason=visit.reason,
            finding=visit.finding, visit_method=visit.method, outcome_id=visit.outcome_id,
            visit_finding="confirmed" if visit.result == "confirmed" else "not_confirmed")
        visit.review_status, visit.reviewed_by, visit.reviewed_at = "approved", actor.username, now
        task.status, task.done_at = "done", now
        alert.status, alert.updated_at = "closed", now
        outcomes.enqueue(session, record, now)
        session.add(Review(task_id=task.id, decision="approved", note=note, visit=_snapshot(visit),
                           reviewed_by=actor.username, reviewed_at=now))
        text = "街道复核通过，结果已上报" + (f"：{note}" if note else "")
        action = "visit_approved"
    elif decision == "return":
        if note is None or len(note) < 4:
            raise Invalid("退回须写明理由（至少 4 个字），告诉专干需补充或更正什么", "MISSING_REASON", "note")
        session.add(Review(task_id=task.id, decision="returned", note=note, visit=_snapshot(visit),
                           reviewed_by=actor.username, reviewed_at=now))
        session.delete(visit)
        task.status = "assigned" if task.assignee else "unassigned"
        text = f"街道复核退回：{note}"
        action = "visit_returned"
    else:
        raise Invalid("复核结论须为 approve（通过）或 return（退回）", "BAD_DECISION", "decision")
    session.add(TimelineEntry(alert_id=alert.alert_id, at=now, what="review", text=text, actor=actor.username))
    audit.record(session, actor, action, now, target_type="task", target_id=str(task.id), division_code=task.division_code,
                 detail={"note": note, "result": visit.result}, client=client)
    return task


def reviews_of(session: Session, task_id: int) -> list[Review]:
    return list(session.scalars(select(Review).where(Review.task_id == task_id).order_by(Review.id)))
