"""The alert queue (预警队列): the alerts of a user's divisions, filtered and sorted by level and score."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from workbench import access, divisions
from workbench.access import Actor
from workbench.errors import Forbidden, NotFound, OutOfScope
from workbench.tables import Alert, Task

OPEN_STATUSES = ("new", "confirmed")


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    level: int | None = None
    status: str | None = None  # None: the open ones (new, confirmed); "all": every status
    street: str | None = None  # 9- or 12-digit code of a street/township
    community: str | None = None  # 12-digit code
    household: str | None = None


def scoped(query: Select, actor: Actor, division_column) -> Select:  # noqa: ANN001
    """Restrict a query to the actor's divisions."""
    clauses = [division_column.like(divisions.prefix(scope) + "%") for scope in actor.scopes]
    return query.where(or_(*clauses)) if clauses else query.where(False)


def alerts_query(actor: Actor, filters: Filters) -> Select:
    query = scoped(select(Alert), actor, Alert.division_code)
    limit = access.KIND_LIMITS.get(actor.role)
    if limit is not None:
        query = query.where(Alert.kind.in_(sorted(limit)))
    if filters.kind:
        query = query.where(Alert.kind == filters.kind)
    if filters.level:
        query = query.where(Alert.level == filters.level)
    if filters.status in (None, "", "open"):
        query = query.where(Alert.status.in_(OPEN_STATUSES))
    elif filters.status != "all":
        query = query.where(Alert.status == filters.status)
    if filters.street:
        query = query.where(Alert.division_code.like(filters.street[:9] + "%"))
    if filters.community:
        query = query.where(Alert.division_code == filters.community)
    if filters.household:
        query = query.where(Alert.household_id == filters.household)
    return query


def lead_score():  # noqa: ANN201
    """The score an alert is judged by: the removal score (退出指数) for 应退, the hardship score otherwise."""
    return case((Alert.kind == "should_exit", Alert.removal_score), else_=Alert.hardship_score)


SORTS = ("level", "model_score")  # the rules' order (red first, by lead score), or the learned model's estimate first


def list_alerts(session: Session, actor: Actor, filters: Filters, limit: int = 200, offset: int = 0,
                sort: str = "level") -> tuple[list[Alert], int]:
    """(page of alerts sorted red first and by their lead score, or by model_score with unscored last; total count)."""
    if not access.allowed(actor.role, "queue.read"):
        raise Forbidden("您的角色不能查看预警队列", "ROLE_FORBIDDEN")
    query = alerts_query(actor, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    order = (Alert.level.desc(), lead_score().desc(), Alert.hardship_score.desc(), Alert.removal_score.desc(),
             Alert.alert_id)
    if sort == "model_score":
        # unscored alerts (no model when they came) last, in the rules' order; the same on SQLite and PostgreSQL
        order = (Alert.model_score.is_(None), Alert.model_score.desc(), *order)
    rows = session.scalars(query.order_by(*order).limit(limit).offset(offset))
    return list(rows), total


def get_alert(session: Session, actor: Actor, ref: int | str, action: str = "alert.read") -> Alert:
    """One alert, by number (预警序号) or wire alert_id, if the actor may do `action` on it.

    Outside their divisions it does not exist for them (404, like a missing one).
    """
    if isinstance(ref, int):
        alert = session.get(Alert, ref) if 1 <= ref <= 2_147_483_647 else None
    elif not ref or len(ref) > 128 or "\x00" in ref:
        alert = None
    else:
        alert = session.scalar(select(Alert).where(Alert.alert_id == ref))
    if alert is None:
        raise NotFound("没有找到该预警，或不在您的管辖范围内")
    division = alert.division_code
    if not access.in_scope(actor, division):
        # a provisional household placed in a community (落实所在社区) belongs to that community's offices too
        placed = session.scalar(select(Task.division_code).where(Task.alert_id == alert.alert_id))
        division = placed if placed and access.in_scope(actor, placed) else division
    if not access.in_scope(actor, division) or not access.kind_allowed(actor, alert.kind):
        raise OutOfScope("没有找到该预警，或不在您的管辖范围内", actor=actor, target_type="alert",
                         target_id=alert.alert_id, division_code=alert.division_code)
    if not access.can(actor, action, division, kind=alert.kind, recusal_staff_ids=alert.recusal_staff_ids):
        if access.recused(actor, alert.recusal_staff_ids):
            raise Forbidden("您是该户成员的备案近亲属，依规回避", "RECUSED")
        raise Forbidden("您的角色不能进行此操作", "ROLE_FORBIDDEN")
    return alert
