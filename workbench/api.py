"""The JSON API (/api/v1, OpenAPI at /api/v1/openapi.json): bearer tokens, masked by default, every change audited."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench import (
    access,
    audit,
    digest,
    division_names,
    divisions,
    exports,
    filings,
    households,
    labels,
    letters,
    queue,
    reveal,
    roster,
    stats,
    stats_places,
    tasks,
    training,
    triage,
    users,
    views,
)
from workbench.access import Actor
from workbench.deps import client_of, session, workbench
from workbench.errors import Forbidden, Invalid
from workbench.tables import Alert, Decision, Task, TimelineEntry, User, Visit
from workbench.timeutil import CST, iso_cst, today_cst

router = APIRouter(prefix="/api/v1", tags=["工作台接口"])
_bearer = HTTPBearer(auto_error=False, description="POST /api/v1/token 取得的令牌")

Text = Annotated[str, StringConstraints(max_length=4000, pattern=r"^[^\x00]*$")]
ShortText = Annotated[str, StringConstraints(max_length=128, pattern=r"^[^\x00]*$")]
AlertNo = Annotated[int, Field(ge=1, le=2_147_483_647, description="预警序号 (the workbench's number of an alert)")]
TaskId = Annotated[int, Field(ge=1, le=2_147_483_647)]
DivisionCode = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{11}$")]


ReasonCategory = Literal[tuple(labels.REASON_CATEGORIES)]  # type: ignore[valid-type]


class TokenRequest(BaseModel):
    username: ShortText
    password: ShortText


class DismissRequest(BaseModel):
    reason: Text | None = Field(None, description="书面告知理由（必填，至少 4 个字）")
    category: ReasonCategory | None = Field(None, description="理由类别")


class MergeRequest(BaseModel):
    into: AlertNo | None = Field(None, description="合并到的预警序号（同一户）")
    into_alert_id: ShortText | None = Field(None, description="或：合并到的预警 alert_id（线上契约编号）")


class AssignRequest(BaseModel):
    assignee: ShortText


class ExtendRequest(BaseModel):
    reason: Text | None = None


class VisitRequest(BaseModel):
    method: Literal["home_visit", "neighbour_interview", "letter_evidence"] = Field(
        description="入户调查 home_visit / 邻里访问 neighbour_interview / 信函索证 letter_evidence")
    finding: Text = Field(description="核查情况")
    result: Literal["confirmed", "refuted"] = Field(description="核实属实 confirmed / 核实不属实 refuted")
    reason: Text | None = Field(None, description="不属实时的书面告知理由")
    category: ReasonCategory | None = Field(None, description="不属实时的理由类别")
    new_coverage: Literal["none", "dibao", "tekun", "edge"] | None = None
    contact_phone: ShortText | None = None
    bank_card: ShortText | None = None


class UserRequest(BaseModel):
    username: ShortText
    display_name: ShortText
    role: Literal["bureau", "street", "officer", "verifier", "auditor", "admin"]
    scopes: Annotated[list[DivisionCode], Field(min_length=1, max_length=20)]
    password: ShortText
    staff_id: ShortText | None = None


class CalendarRequest(BaseModel):
    working: bool
    note: ShortText | None = None


def api_actor(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
              db: Annotated[Session, Depends(session)]) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer" or len(credentials.credentials) > 256:
        raise HTTPException(401, "需要登录令牌 (Authorization: Bearer <token>)", headers={"WWW-Authenticate": "Bearer"})
    user = users.user_for_token(db, credentials.credentials, workbench(request).now())
    if user is None or user.must_change_password:
        raise HTTPException(401, "令牌无效或已过期", headers={"WWW-Authenticate": "Bearer"})
    return users.actor_of(user)


ActorDep = Annotated[Actor, Depends(api_actor)]
DbDep = Annotated[Session, Depends(session)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx(content: bytes, name: str) -> Response:
    return Response(content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/healthz", summary="健康检查", tags=["运维"])
def healthz(db: DbDep) -> dict:
    db.execute(select(1))
    return {"status": "ok"}


@router.post("/token", summary="登录取得令牌")
def token(body: TokenRequest, request: Request, db: DbDep) -> dict:
    wb = workbench(request)
    now = wb.now()
    user = users.authenticate(db, body.username, body.password, now, client_of(request))
    wb.metrics.logins.labels("ok" if user else "failed").inc()
    if user is None:
        db.commit()
        raise HTTPException(401, "用户名或密码错误")
    if user.must_change_password:
        db.commit()
        raise Forbidden("首次登录须先在工作台页面“修改密码”设置本人密码 (set your own password on /account first)",
                        "PASSWORD_CHANGE_REQUIRED")
    value, expires = users.issue_token(db, user, now)
    audit.record(db, users.actor_of(user), "token_issued", now, target_type="user", target_id=user.username,
                 division_code=user.scopes[0], client=client_of(request))
    db.commit()
    return {"access_token": value, "token_type": "bearer", "expires_at": iso_cst(expires),
            "user": views.user_view(user)}


@router.get("/me", summary="当前用户")
def me(actor: ActorDep, db: DbDep) -> dict:
    user = db.scalar(select(User).where(User.username == actor.username))
    return views.user_view(user)


def _filters(kind, level, status, street, community, db: Session | None = None,  # noqa: ANN001
             actor: Actor | None = None) -> queue.Filters:
    """The queue's filters; a street or community may be a code or a name of the division table (else 422)."""
    if db is not None and actor is not None:
        street = division_names.resolve(db, actor, street, "street", "street")
        community = division_names.resolve(db, actor, community, "community", "community")
    return queue.Filters(kind=kind, level=level, status=status, street=street, community=community)


KindQ = Annotated[Literal["missed_coverage", "missed_assistance", "should_exit", "gradual_exit", "filed_relative_check"] | None, Query()]
StatusQ = Annotated[Literal["open", "all", "new", "confirmed", "dismissed", "merged", "closed"] | None, Query()]
LevelQ = Annotated[int | None, Query(ge=1, le=4)]
StreetQ = Annotated[ShortText | None, Query(description="街道（乡镇）：9 或 12 位代码，或区划表中的名称")]
CommunityQ = Annotated[ShortText | None, Query(description="社区（村）：12 位代码，或区划表中的名称")]
LimitQ = Annotated[int, Query(ge=1, le=1000)]
OffsetQ = Annotated[int, Query(ge=0, le=1_000_000)]
SortQ = Annotated[Literal[queue.SORTS], Query(  # type: ignore[valid-type]
    description="level：按等级、困难指数（规则排序）；model_score：按模型核实概率从高到低，无模型评分的排在最后")]


@router.get("/alerts", summary="预警队列（按等级、困难指数排序，或按模型核实概率排序）")
def list_alerts(actor: ActorDep, db: DbDep, kind: KindQ = None, level: LevelQ = None, status: StatusQ = None,
                street: StreetQ = None, community: CommunityQ = None, limit: LimitQ = 100, offset: OffsetQ = 0,
                sort: SortQ = "level") -> dict:
    rows, total = queue.list_alerts(db, actor, _filters(kind, level, status, street, community, db, actor), limit, offset,
                                    sort=sort)
    task_of = _tasks_by_alert(db, [a.alert_id for a in rows])
    names = division_names.names_for(db, [a.division_code for a in rows])
    return {"total": total, "items": [views.alert_view(a, task_of.get(a.alert_id), names) for a in rows]}


def _tasks_by_alert(db: Session, alert_ids: list[str]) -> dict[str, Task]:
    if not alert_ids:
        return {}
    return {t.alert_id: t for t in db.scalars(select(Task).where(Task.alert_id.in_(alert_ids)))}


@router.get("/alerts/{number}", summary="预警详情：六维、原因、时间线")
def get_alert(number: AlertNo, actor: ActorDep, db: DbDep) -> dict:
    alert = queue.get_alert(db, actor, number)
    task = db.scalar(select(Task).where(Task.alert_id == alert.alert_id))
    entries = list(db.scalars(select(TimelineEntry).where(TimelineEntry.alert_id == alert.alert_id).order_by(TimelineEntry.id)))
    decisions = list(db.scalars(select(Decision).where(Decision.alert_id == alert.alert_id).order_by(Decision.id)))
    return dict(views.alert_view(alert, task, division_names.names_for(db, [alert.division_code])),
                timeline=views.timeline_view(entries, alert),
                decisions=[views.decision_view(d) for d in decisions])


@router.post("/alerts/{number}/confirm", summary="研判确认（生成核查任务）")
def confirm(number: AlertNo, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    now = wb.now()
    task = triage.confirm(db, actor, number, now, wb.calendar(db), client_of(request))
    db.commit()
    wb.metrics.decisions.labels("confirmed").inc()
    alert = queue.get_alert(db, actor, number)
    return {"alert": views.alert_view(alert, task), "task": _task_views(db, [task], today_cst(now))[0]}


class BulkDismissRequest(BaseModel):
    numbers: Annotated[list[AlertNo], Field(min_length=1, max_length=200, description="预警序号")]
    reason: Text | None = Field(None, description="书面告知理由（必填，至少 4 个字）")
    category: ReasonCategory | None = Field(None, description="理由类别")


@router.post("/alerts/dismiss", summary="批量研判排除：多条预警，同一书面理由（全部成功或全部不变）")
def dismiss_many(body: BulkDismissRequest, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    alerts = triage.dismiss_many(db, actor, body.numbers, body.reason, wb.now(), client_of(request), body.category)
    db.commit()
    wb.committed()
    wb.metrics.decisions.labels("dismissed").inc(len(alerts))
    return {"dismissed": [a.number for a in alerts]}


@router.post("/alerts/{number}/dismiss", summary="研判排除（须书面理由）")
def dismiss(number: AlertNo, body: DismissRequest, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    alert = triage.dismiss(db, actor, number, body.reason, wb.now(), client_of(request), category=body.category)
    db.commit()
    wb.committed()
    wb.metrics.decisions.labels("dismissed").inc()
    return {"alert": views.alert_view(alert)}


@router.post("/alerts/{number}/merge", summary="合并重复预警")
def merge(number: AlertNo, body: MergeRequest, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    alert = triage.merge(db, actor, number, body.into or body.into_alert_id, wb.now(), client_of(request))
    db.commit()
    wb.committed()
    wb.metrics.decisions.labels("merged").inc()
    return {"alert": views.alert_view(alert)}


@router.post("/alerts/{number}/reveal", summary="查看明文户编号（记入审计）")
def reveal_alert(number: AlertNo, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    result = reveal.reveal_alert(db, actor, number, wb.now(), client_of(request))
    db.commit()
    wb.metrics.reveals.inc()
    return result


def _task_views(db: Session, rows: list[Task], today: date) -> list[dict]:
    alerts = {a.alert_id: a for a in db.scalars(select(Alert).where(Alert.alert_id.in_([t.alert_id for t in rows])))} \
        if rows else {}
    visits = {v.task_id: v for v in db.scalars(select(Visit).where(Visit.task_id.in_([t.id for t in rows])))} if rows else {}
    names = {u.username: u for u in db.scalars(select(User).where(User.username.in_({t.assignee for t in rows if t.assignee})))} \
        if rows else {}
    places = division_names.names_for(db, [t.division_code for t in rows])
    return [views.task_view(t, alerts[t.alert_id], today, visits.get(t.id), names.get(t.assignee), places) for t in rows]


TaskStatusQ = Annotated[Literal["unassigned", "assigned", "review", "done"] | None, Query()]


@router.get("/tasks", summary="核查任务（逾期标出）")
def list_tasks(actor: ActorDep, db: DbDep, request: Request, status: TaskStatusQ = None, overdue: bool = False,
               limit: LimitQ = 200, offset: OffsetQ = 0) -> dict:
    today = today_cst(workbench(request).now())
    rows, total = tasks.list_tasks(db, actor, status, overdue, today, limit, offset)
    items = _task_views(db, rows, today)
    return {"total": total, "overdue": sum(1 for i in items if i["overdue"]), "items": items}


@router.get("/tasks/{task_id}", summary="任务详情")
def get_task(task_id: TaskId, actor: ActorDep, db: DbDep, request: Request) -> dict:
    task, alert = tasks.get_task(db, actor, task_id)
    return _task_views(db, [task], today_cst(workbench(request).now()))[0] | {"alert": views.alert_view(alert, task)}


@router.post("/tasks/{task_id}/assign", summary="分派任务（回避规则）")
def assign(task_id: TaskId, body: AssignRequest, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    task = tasks.assign(db, actor, task_id, body.assignee, wb.now(), client_of(request))
    db.commit()
    return _task_views(db, [task], today_cst(wb.now()))[0]


class PlaceRequest(BaseModel):
    community: ShortText = Field(description="该户实际居住的社区（村）：名称或 12 位代码")


@router.post("/tasks/{task_id}/place", summary="落实临时户所在社区（随即分派给该社区专干）")
def place(task_id: TaskId, body: PlaceRequest, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    code = division_names.resolve(db, actor, body.community, "community", "community")
    task = tasks.place(db, actor, task_id, code or "", wb.now(), client_of(request))
    db.commit()
    return _task_views(db, [task], today_cst(wb.now()))[0]


@router.post("/tasks/{task_id}/extend", summary="延期至 45 个工作日")
def extend(task_id: TaskId, body: ExtendRequest, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    task = tasks.extend(db, actor, task_id, body.reason, wb.now(), wb.calendar(db), client_of(request))
    db.commit()
    return _task_views(db, [task], today_cst(wb.now()))[0]


@router.post("/tasks/{task_id}/visit", summary="登记走访结果（街道复核通过后发送至 hardship.outcomes）")
def visit(task_id: TaskId, body: VisitRequest, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    record = tasks.record_visit(db, actor, task_id, method=body.method, finding=body.finding, result=body.result,
                                now=wb.now(), reason=body.reason, new_coverage=body.new_coverage,
                                contact_phone=body.contact_phone, bank_card=body.bank_card, client=client_of(request),
                                category=body.category)
    db.commit()
    wb.committed()
    wb.metrics.decisions.labels(f"visit_{body.result}").inc()
    return {"visit": views.visit_view(record)}


@router.post("/tasks/{task_id}/reveal", summary="查看明文联系电话、银行卡号（记入审计）")
def reveal_task(task_id: TaskId, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    result = reveal.reveal_task(db, actor, task_id, wb.now(), client_of(request))
    db.commit()
    wb.metrics.reveals.inc()
    return result


@router.get("/stats", summary="统计：预警、任务、逾期、走访时长、确认率（按类型、等级、模型核实概率分段）")
def get_stats(actor: ActorDep, db: DbDep, request: Request) -> dict:
    if not access.allowed(actor.role, "stats.read"):
        raise Forbidden("您的角色不能查看统计", "ROLE_FORBIDDEN")
    figures = stats.figures(db, today_cst(workbench(request).now()), actor)
    confirmation = {group: [{"key": key, "confirmed": confirmed, "visits": visits} for key, confirmed, visits in rows]
                    for group, rows in stats.visit_confirmation(db, actor).items()}
    return stats_view(figures) | {"confirmation": confirmation}  # by kind, level and model score band


@router.get("/stats/places", summary="分街道、分社区、分月份统计：预警、走访、确认率（含数量）、走访时长、逾期与即将到期")
def get_place_stats(actor: ActorDep, db: DbDep, request: Request) -> dict:
    if not access.allowed(actor.role, "stats.read"):
        raise Forbidden("您的角色不能查看统计", "ROLE_FORBIDDEN")
    places = stats_places.place_figures(db, actor, today_cst(workbench(request).now()))
    names = division_names.names_for(db, [r["key"] for r in places["communities"]])
    for group in ("streets", "communities"):
        for row in places[group]:
            row["name"] = division_names.label(names, row["key"])
    return places


def stats_view(figures: stats.Figures) -> dict:
    return {
        "open_alerts": [{"kind": k, "kind_label": labels.kind(k), "level": lv, "level_label": labels.level(lv), "count": n}
                        for (k, lv), n in sorted(figures.open_alerts.items(), key=lambda item: (-item[0][1], item[0][0]))],
        "tasks": {s: figures.tasks.get(s, 0) for s in labels.TASK_STATUSES},
        "overdue_tasks": figures.overdue,
        "visits": len(figures.visit_seconds),
        "median_days_to_visit": figures.median_days_to_visit,
        "confirmed_on_visit": figures.precision,
        "by_kind": {k: {"confirmed": c, "visited": t, "precision": c / t if t else None}
                    for k, (c, t) in sorted(figures.visits_by_kind.items())},
    }


def export_rows(db: Session, actor: Actor, what: str, today: date, filters: queue.Filters | None = None,
                sort: str = "level") -> list[dict]:
    if not access.allowed(actor.role, "export"):
        raise Forbidden("您的角色不能导出", "ROLE_FORBIDDEN")
    if what == "queue":
        rows, _ = queue.list_alerts(db, actor, filters or queue.Filters(), limit=100_000, sort=sort)
        names = division_names.names_for(db, [a.division_code for a in rows])
        return [views.alert_view(a, None, names) for a in rows]
    rows, _ = tasks.list_tasks(db, actor, limit=100_000)
    return _task_views(db, rows, today)


@router.get("/exports/queue.xlsx", summary="导出预警队列（脱敏 Excel）",
            responses={200: {"content": {XLSX: {}}}})
def export_queue(actor: ActorDep, db: DbDep, request: Request, kind: KindQ = None, level: LevelQ = None,
                 status: StatusQ = None, street: StreetQ = None, community: CommunityQ = None,
                 sort: SortQ = "level") -> Response:
    wb = workbench(request)
    now = wb.now()
    rows = export_rows(db, actor, "queue", today_cst(now), _filters(kind, level, status, street, community, db, actor),
                       sort)
    audit.record_export(db, actor, now, "queue", rows, client_of(request))
    db.commit()
    return _xlsx(exports.queue_xlsx(rows), "queue.xlsx")


@router.get("/exports/tasks.xlsx", summary="导出核查任务（脱敏 Excel）", responses={200: {"content": {XLSX: {}}}})
def export_tasks(actor: ActorDep, db: DbDep, request: Request) -> Response:
    wb = workbench(request)
    now = wb.now()
    rows = export_rows(db, actor, "tasks", today_cst(now))
    audit.record_export(db, actor, now, "tasks", rows, client_of(request))
    db.commit()
    return _xlsx(exports.tasks_xlsx(rows), "tasks.xlsx")


@router.get("/exports/training.zip", summary="导出下一轮模型训练数据（复核通过的走访及其预警，脱敏；仅区民政局）",
            responses={200: {"content": {"application/zip": {}}}})
def export_training(actor: ActorDep, db: DbDep, request: Request) -> Response:
    return training_download(db, actor, workbench(request).now(), client_of(request))


def training_download(db: Session, actor: Actor, now: datetime, client: str | None) -> Response:
    """The training set as one zip (alerts.jsonl, outcomes.jsonl, README.txt), audited (training_exported)."""
    alerts, outcomes = training.training_set(db, actor)
    audit.record_export(db, actor, now, "training_set", alerts, client, action="training_exported")
    db.commit()
    name = f"training-{now.astimezone(CST):%Y%m%d}.zip"
    return Response(training.training_zip(alerts, outcomes, now), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


ActionQ = Annotated[ShortText | None, Query()]


@router.get("/audit", summary="审计日志（纪检只读）")
def get_audit(actor: ActorDep, db: DbDep, action: ActionQ = None, who: ActionQ = None, limit: LimitQ = 200,
              offset: OffsetQ = 0, since: Annotated[date | None, Query(description="起始日（含，北京时间）")] = None,
              until: Annotated[date | None, Query(description="截止日（含，北京时间）")] = None) -> dict:
    if not access.allowed(actor.role, "audit.read"):
        raise Forbidden("只有纪检监督人员可以查看审计日志", "ROLE_FORBIDDEN")
    if (since and not 2000 <= since.year <= 2100) or (until and not 2000 <= until.year <= 2100):
        raise Invalid("日期须在 2000-2100 年之间", "BAD_DATE", "since" if since and not 2000 <= since.year <= 2100 else "until")
    filters = {"action": action, "actor": who,
               "since": datetime.combine(since, time.min, CST) if since else None,
               "until": datetime.combine(until + timedelta(days=1), time.min, CST) if until else None}
    rows = audit.entries(db, actor, limit=limit, offset=offset, **filters)
    return {"total": audit.count(db, actor, **filters), "items": [views.audit_view(e) for e in rows]}


@router.get("/audit.xlsx", summary="导出审计日志（可按操作、操作人、日期筛选）", responses={200: {"content": {XLSX: {}}}})
def export_audit(actor: ActorDep, db: DbDep, request: Request, action: ActionQ = None, who: ActionQ = None,
                 since: Annotated[date | None, Query()] = None, until: Annotated[date | None, Query()] = None) -> Response:
    if (since and not 2000 <= since.year <= 2100) or (until and not 2000 <= until.year <= 2100):
        raise Invalid("日期须在 2000-2100 年之间", "BAD_DATE", "since")
    filters = {"action": action, "actor": who,
               "since": datetime.combine(since, time.min, CST) if since else None,
               "until": datetime.combine(until + timedelta(days=1), time.min, CST) if until else None}
    return _xlsx(exports.audit_export(db, actor, workbench(request).now(), client_of(request), filters), "audit.xlsx")


@router.get("/users", summary="用户列表（系统管理员）")
def list_users(actor: ActorDep, db: DbDep) -> dict:
    return {"items": [views.user_view(u) for u in users.list_users(db, actor)]}


@router.post("/users", summary="新建用户（系统管理员，限本辖区）", status_code=201)
def create_user(body: UserRequest, actor: ActorDep, db: DbDep, request: Request) -> dict:
    if not access.allowed(actor.role, "users.manage"):
        raise Forbidden("只有系统管理员可以管理用户", "ROLE_FORBIDDEN")
    user = users.create_user(db, actor, username=body.username, display_name=body.display_name, role=body.role,
                             scopes=body.scopes, password=body.password, staff_id=body.staff_id,
                             now=workbench(request).now())
    db.commit()
    return views.user_view(user)


@router.get("/calendar", summary="节假日维护：管理员补充的日期")
def get_calendar(actor: ActorDep, db: DbDep) -> dict:
    if not access.allowed(actor.role, "calendar.manage"):
        raise Forbidden("只有系统管理员可以维护节假日", "ROLE_FORBIDDEN")
    from workbench import calendar_store

    return {"items": calendar_store.days_for(db, actor)}  # the file's days (scope null) and those of the admin's divisions


@router.put("/calendar/{day}", summary="设置某日为节假日或调休工作日")
def put_calendar(day: date, body: CalendarRequest, actor: ActorDep, db: DbDep, request: Request) -> dict:
    if not access.allowed(actor.role, "calendar.manage"):
        raise Forbidden("只有系统管理员可以维护节假日", "ROLE_FORBIDDEN")
    if not 2000 <= day.year <= 2100:
        raise Invalid("日期须在 2000-2100 年之间", "BAD_DATE", "day")
    from workbench import calendar_store

    calendar_store.set_county_day(db, actor, day, body.working, body.note, workbench(request).now())
    db.commit()
    return {"day": day.isoformat(), "working": body.working, "note": body.note}


class DivisionNameRequest(BaseModel):
    name: ShortText = Field(description="街道或社区名称，如 积玉桥街道")


DivisionLevelQ = Annotated[Literal["street", "community"] | None, Query(description="street 街道 / community 社区")]


@router.get("/divisions", summary="区划名称（本辖区；筛选建议）")
def list_divisions(actor: ActorDep, db: DbDep, level: DivisionLevelQ = None,
                   q: Annotated[ShortText | None, Query(description="名称中的字")] = None) -> dict:
    rows = division_names.in_scope(db, actor)
    names = {r.code: r.name for r in rows}
    items = [{"code": r.code, "name": r.name, "label": division_names.label(names, r.code),
              "level": divisions.level(r.code)} for r in rows
             if (level is None or divisions.level(r.code) == level) and (not q or q in division_names.label(names, r.code))]
    return {"items": items}


@router.put("/divisions/{code}", summary="设置区划名称（系统管理员，限本辖区）")
def put_division(code: Annotated[str, Path(max_length=12)], body: DivisionNameRequest, actor: ActorDep, db: DbDep,
                 request: Request) -> dict:
    row = division_names.set_name(db, actor, code, body.name, workbench(request).now(), client_of(request))
    db.commit()
    return {"code": row.code, "name": row.name}


class HouseholdSearch(BaseModel):
    q: ShortText = Field(description="户编号，或成员的 18 位身份证号（按身份证号查询记入审计）")


@router.post("/households/search", summary="查询户档案：户编号或身份证号（后者记入审计）")
def household_search(body: HouseholdSearch, actor: ActorDep, db: DbDep, request: Request) -> dict:
    hits = households.search(db, actor, body.q, workbench(request).now(), client_of(request))
    db.commit()
    return {"items": hits}


@router.get("/alerts/{number}/household", summary="户档案：名册（成员脱敏、保障类别及其变化、收入、住址、联系电话脱敏）、"
            "预警、部门数据、研判、任务、走访，按时间排列")
def household(number: AlertNo, actor: ActorDep, db: DbDep, request: Request) -> dict:
    alert = queue.get_alert(db, actor, number)
    return households.household_file(db, actor, number, division_names.names_for(db, [alert.division_code]),
                                     workbench(request).now())


@router.get("/households/{household_id}", summary="户档案（无预警的在册户）：名册（成员脱敏、保障类别及其变化、收入、住址、联系电话脱敏）")
def roster_household(household_id: Annotated[str, Path(max_length=128)], actor: ActorDep, db: DbDep,
                     request: Request) -> dict:
    return households.roster_file(db, actor, household_id, workbench(request).now())


@router.post("/alerts/{number}/household/reveal", summary="查看名册联系电话明文（区民政局或持有该户在办任务的专干；记入审计）")
def reveal_household_contact(number: AlertNo, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    result = roster.reveal_contact(db, actor, number, wb.now(), client_of(request))
    db.commit()
    wb.metrics.reveals.inc()
    return result


class ReviewRequest(BaseModel):
    decision: Literal["approve", "return"] = Field(description="approve 复核通过（发送结果）/ return 退回专干")
    note: Text | None = Field(None, description="复核意见；退回时必填（至少 4 个字）")


@router.post("/tasks/{task_id}/review", summary="街道复核走访结果：通过（结果上报）或退回")
def review_task(task_id: TaskId, body: ReviewRequest, actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    task = tasks.review(db, actor, task_id, body.decision, wb.now(), body.note, client_of(request))
    db.commit()
    wb.committed()
    return _task_views(db, [task], today_cst(wb.now()))[0] | {
        "reviews": [views.review_view(r) for r in tasks.reviews_of(db, task.id)]}


PDF = "application/pdf"


@router.get("/tasks/{task_id}/letter.pdf", summary="书面告知书（核实不属实或退出保障；PDF，记入审计）",
            responses={200: {"content": {PDF: {}}}})
def task_letter(task_id: TaskId, actor: ActorDep, db: DbDep, request: Request) -> Response:
    content, name = letters.for_task(db, actor, task_id, workbench(request).now(), client_of(request))
    db.commit()
    return Response(content, media_type=PDF, headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/alerts/{number}/letter.pdf", summary="研判排除的书面告知书（PDF，记入审计）",
            responses={200: {"content": {PDF: {}}}})
def alert_letter(number: AlertNo, actor: ActorDep, db: DbDep, request: Request) -> Response:
    content, name = letters.for_alert(db, actor, number, workbench(request).now(), client_of(request))
    db.commit()
    return Response(content, media_type=PDF, headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/digest", summary="每日待办：逾期、即将到期、退回、待复核、待分派、待研判")
def get_digest(actor: ActorDep, db: DbDep, request: Request) -> dict:
    if not access.allowed(actor.role, "task.read"):
        raise Forbidden("您的角色没有待办事项", "ROLE_FORBIDDEN")
    return digest.digest(db, actor, today_cst(workbench(request).now()))


class RelativeRequest(BaseModel):
    person_id: ShortText = Field(description="近亲属的 18 位身份证号")
    relation: ShortText | None = Field(None, description="spouse 配偶 / parent 父母 / child 子女 / sibling 兄弟姐妹 / …")
    household_id: ShortText | None = Field(None, description="所在户编号")
    support: Literal["none", "dibao", "tekun", "edge"] | None = Field(None, description="享受的救助类别")


class FilingRequest(BaseModel):
    role: ShortText = Field(description="social_assistance_staff 社会救助经办人员 / village_committee_member / …")
    division_code: DivisionCode
    name: ShortText
    gender: ShortText | None = None
    unit: ShortText | None = Field(None, description="工作单位")
    position: ShortText | None = Field(None, description="职务")
    duties: Text | None = Field(None, description="工作职责")
    appointed_on: date | None = Field(None, description="聘（选）任日期")
    filed_on: date | None = Field(None, description="备案日期")
    relatives: Annotated[list[RelativeRequest], Field(max_length=50)] = []


@router.get("/filings", summary="备案台账（本辖区；近亲属身份证号脱敏）")
def list_filings(actor: ActorDep, db: DbDep, request: Request) -> dict:
    return {"items": filings.register(db, actor, today_cst(workbench(request).now()))}


@router.put("/filings/{staff_id}", summary="登记或更新近亲属备案（区民政局，记入审计）")
def put_filing(staff_id: Annotated[str, Path(max_length=64)], body: FilingRequest, actor: ActorDep, db: DbDep,
               request: Request) -> dict:
    wb = workbench(request)
    data = body.model_dump()
    row = filings.put(db, actor, staff_id, data, wb.now(), client_of(request))
    db.commit()
    return filings.view(row, today_cst(wb.now()))


@router.post("/filings/{staff_id}/check", summary="登记定期核查（区民政局、县级核查员）")
def check_filing(staff_id: Annotated[str, Path(max_length=64)], actor: ActorDep, db: DbDep, request: Request) -> dict:
    wb = workbench(request)
    row = filings.record_check(db, actor, staff_id, today_cst(wb.now()), wb.now(), client_of(request))
    db.commit()
    return filings.view(row, today_cst(wb.now()))
