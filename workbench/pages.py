"""The server-rendered pages (中文界面): sign-in, queue, alert, tasks, the phone-sized visit form, statistics, audit, admin.

Pages use a signed session cookie; every form carries the session's CSRF token and is refused without it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench import (
    access,
    audit,
    calendar_store,
    charts,
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
    security,
    stats,
    stats_places,
    tasks,
    triage,
    users,
    views,
)
from workbench.access import Actor
from workbench.api import _task_views, export_rows, stats_view, training_download
from workbench.deps import client_of, session, workbench
from workbench.errors import Conflict, Forbidden, Invalid, WorkbenchError
from workbench.radar import radar_svg
from workbench.tables import Alert, Decision, Task, TimelineEntry, User
from workbench.timeutil import CST, show, today_cst

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).parent / "templates"))
templates.env.globals.update(labels=labels, show=show)
DbDep = Annotated[Session, Depends(session)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

NAV = (
    ("queue.read", "/queue", "预警队列"),
    ("task.read", "/tasks", "核查任务"),
    ("alert.read", "/households", "户档案"),
    ("task.read", "/digest", "今日待办"),
    ("filings.read", "/filings", "备案台账"),
    ("stats.read", "/stats", "统计分析"),
    ("audit.read", "/audit", "审计日志"),
    ("users.manage", "/admin/users", "用户管理"),
    ("calendar.manage", "/admin/calendar", "节假日维护"),
    ("users.manage", "/admin/divisions", "区划名称"),
)


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def _check_csrf(request: Request, token: str | None) -> None:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not security.same(expected, token):
        raise Forbidden("页面已过期或请求来源不明（CSRF 校验失败），请刷新后重试", "CSRF")


def _actor(request: Request, db: Session) -> tuple[Actor, User]:
    user = _session_user(request, db)
    if user is None:
        request.session.pop("uid", None)
        raise HTTPException(303, "请先登录", headers={"Location": "/login?next=" + quote(request.url.path)})
    if user.must_change_password and request.url.path != "/account":
        raise HTTPException(303, "请先设置本人密码", headers={"Location": "/account"})
    return users.actor_of(user), user


def _session_user(request: Request, db: Session) -> User | None:
    """The signed-in user, if the session is still current: sign-out and a password change raise the user's
    session_version, which voids every cookie signed before (also copies of it)."""
    uid = request.session.get("uid")
    user = db.get(User, uid) if isinstance(uid, int) else None
    if user is None or not user.active or request.session.get("ver") != (user.session_version or 0):
        return None
    return user


def _render(request: Request, name: str, user: User | None, status_code: int = 200, **context) -> HTMLResponse:
    actor = users.actor_of(user) if user else None
    nav = [(href, text) for action, href, text in NAV if actor and access.allowed(actor.role, action)]
    flash = request.session.pop("flash", None)
    scope_names = _scope_names(user)
    return templates.TemplateResponse(request, name, {"user": user, "actor": actor, "nav": nav, "csrf": _csrf(request),
                                                      "flash": flash, "path": request.url.path,
                                                      "scope_names": scope_names, **context},
                                      status_code=status_code)


def _scope_names(user: User | None) -> list[str]:
    """The user's divisions by name where the division table has one (the header shows them, not bare codes)."""
    if user is None:
        return []
    db = Session.object_session(user)
    names = division_names.names_for(db, user.scopes) if db is not None else {}
    return [division_names.label(names, code) or code for code in user.scopes]


def _flash(request: Request, text: str, kind: str = "ok") -> None:
    request.session["flash"] = {"text": text, "kind": kind}


def _disclose(request: Request, db: Session, csrf: str | None,
              disclose: Callable[[Actor, datetime, str | None], Any]) -> tuple[Actor, User, Any]:
    """A form that shows personal data in full (查看明文): check the form's token, let `disclose` check the
    actor's right and write the audit record, commit it and count the reveal. Returns the actor, the user
    and what `disclose` gave."""
    _check_csrf(request, csrf)
    actor, user = _actor(request, db)
    wb = workbench(request)
    disclosed = disclose(actor, wb.now(), client_of(request))
    db.commit()
    wb.metrics.reveals.inc()
    return actor, user, disclosed


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, exc: WorkbenchError) -> Response:
    with request.app.state.workbench.sessions() as db:
        user = _session_user(request, db)
        return _render(request, "error.html", user, status_code=exc.status, error=exc)


# --- sign-in -----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002
    return _render(request, "login.html", None, next=_safe_next(next))


def _safe_next(target: str) -> str:
    """Only a local path (no scheme, no //host, no control characters) may follow the sign-in."""
    ok = target.startswith("/") and not target.startswith("//") and target != "/login" \
        and all(ch.isprintable() and ch != "\\" for ch in target)
    return target if ok else "/"


@router.post("/login")
def login(request: Request, db: DbDep, username: Annotated[str, Form(max_length=64)] = "",
          password: Annotated[str, Form(max_length=128)] = "", csrf: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/") -> Response:  # noqa: A002
    _check_csrf(request, csrf)
    wb = workbench(request)
    user = users.authenticate(db, username, password, wb.now(), client_of(request))
    db.commit()
    wb.metrics.logins.labels("ok" if user else "failed").inc()
    if user is None:
        return _render(request, "login.html", None, status_code=401, error="用户名或密码错误", next=next)
    request.session.clear()
    request.session["uid"] = user.id
    request.session["ver"] = user.session_version or 0
    request.session["csrf"] = secrets.token_urlsafe(24)
    return _back(_safe_next(next))


@router.post("/logout")
def logout(request: Request, db: DbDep, csrf: Annotated[str, Form()] = "") -> Response:
    _check_csrf(request, csrf)
    user = _session_user(request, db)
    if user:
        user.session_version = (user.session_version or 0) + 1  # this cookie, and any copy of it, is void now
        audit.record(db, users.actor_of(user), "logout", workbench(request).now(), target_type="user",
                     target_id=user.username, division_code=user.scopes[0], client=client_of(request))
        db.commit()
    request.session.clear()
    return _back("/login")


@router.get("/")
def home(request: Request, db: DbDep) -> Response:
    actor, _ = _actor(request, db)
    for action, href, _text in NAV:
        if access.allowed(actor.role, action):
            return _back(href)
    return _back("/login")  # pragma: no cover - every role has a page


# --- queue and alert ---------------------------------------------------------------------------


def _query_filters(request: Request, db: Session, actor: Actor) -> queue.Filters:
    """The queue's filters from the address; a street or community is a code or a name (division table), and
    anything else is refused (Invalid, with the reason), never silently ignored."""
    q = request.query_params
    level = q.get("level", "")
    street = division_names.resolve(db, actor, q.get("street", "")[:64], "street", "street")
    community = division_names.resolve(db, actor, q.get("community", "")[:64], "community", "community")
    return queue.Filters(
        kind=q.get("kind") if q.get("kind") in labels.KINDS else None,
        level=int(level) if level in {"1", "2", "3", "4"} else None,
        status=q.get("status") if q.get("status") in {"all", *labels.ALERT_STATUSES} else None,
        street=street,
        community=community,
    )


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, db: DbDep, page: int = 1, sort: str = "level") -> Response:
    actor, user = _actor(request, db)
    typed = {"street": request.query_params.get("street", "")[:64], "community": request.query_params.get("community", "")[:64]}
    suggestions = _suggestions(db, actor)
    try:
        filters = _query_filters(request, db, actor)
    except Invalid as exc:
        if not access.allowed(actor.role, "queue.read"):
            raise Forbidden("您的角色不能查看预警队列", "ROLE_FORBIDDEN") from None
        return _render(request, "queue.html", user, status_code=422, items=[], total=0, filters=queue.Filters(), page=1,
                       by_level={}, overdue=0, pages=1, query="", filter_error=exc.message, typed=typed, **suggestions)
    page = max(1, min(page, 10_000))
    sort = sort if sort in queue.SORTS else "level"
    rows, total = queue.list_alerts(db, actor, filters, limit=50, offset=(page - 1) * 50, sort=sort)
    task_of = {t.alert_id: t for t in db.scalars(select(Task).where(Task.alert_id.in_([a.alert_id for a in rows])))}
    names = division_names.names_for(db, [a.division_code for a in rows])
    items = [views.alert_view(a, task_of.get(a.alert_id), names) for a in rows]
    figures = stats.figures(db, today_cst(workbench(request).now()), actor)
    by_level = {level: sum(n for (kind, lv), n in figures.open_alerts.items()
                           if lv == level and access.kind_allowed(actor, kind)) for level in (4, 3, 2, 1)}
    may_bulk = access.allowed(actor.role, "alert.triage")
    return _render(request, "queue.html", user, items=items, total=total, filters=filters, page=page, by_level=by_level,
                   may_bulk=may_bulk, back="/queue?" + request.url.query if request.url.query else "/queue",
                   overdue=figures.overdue, sort=sort,
                   pages=max(1, (total + 49) // 50), query=request.url.query, typed=typed, **suggestions)


def _suggestions(db: Session, actor: Actor) -> dict:
    """Names for the filters' <datalist> (suggestions without script): the actor's streets and communities."""
    rows = division_names.in_scope(db, actor)
    names = {r.code: r.name for r in rows}
    return {"street_names": [names[r.code] for r in rows if divisions.level(r.code) == "street"],
            "community_names": [division_names.label(names, r.code) for r in rows
                                if divisions.level(r.code) == "community"]}


@router.post("/queue/dismiss")
def queue_dismiss(request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                  numbers: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI's form default
                  reason: Annotated[str, Form(max_length=4000)] = "", category: Annotated[str, Form(max_length=32)] = "",
                  back: Annotated[str, Form(max_length=400)] = "/queue") -> Response:
    """Bulk triage from the queue: the ticked alerts dismissed with one written reason, or none of them."""
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    wb = workbench(request)
    chosen = [int(n) for n in numbers[:500] if n.isascii() and n.isdigit() and len(n) < 11]
    target = back if back.startswith("/queue") and "\\" not in back and "//" not in back else "/queue"
    try:
        done = triage.dismiss_many(db, actor, chosen, reason, wb.now(), client_of(request), category=category or None)
    except (Invalid, Conflict) as exc:  # a refused reach outside the divisions goes to the (audited) error page
        db.rollback()
        _flash(request, exc.message, "err")
        return _back(target)
    db.commit()
    wb.committed()
    wb.metrics.decisions.labels("dismissed").inc(len(done))
    _flash(request, f"已排除 {len(done)} 条预警，理由已记录并将书面告知")
    return _back(target)


@router.get("/queue.xlsx")
def queue_export(request: Request, db: DbDep) -> Response:
    actor, _ = _actor(request, db)
    now = workbench(request).now()
    sort = request.query_params.get("sort", "level")
    rows = export_rows(db, actor, "queue", today_cst(now), _query_filters(request, db, actor),
                       sort if sort in queue.SORTS else "level")
    audit.record_export(db, actor, now, "queue", rows, client_of(request))
    db.commit()
    return Response(exports.queue_xlsx(rows), media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="queue.xlsx"'})


def _alert_context(db: Session, actor: Actor, alert: Alert) -> dict:
    task = db.scalar(select(Task).where(Task.alert_id == alert.alert_id))
    entries = list(db.scalars(select(TimelineEntry).where(TimelineEntry.alert_id == alert.alert_id).order_by(TimelineEntry.id)))
    decisions = [views.decision_view(d) for d in
                 db.scalars(select(Decision).where(Decision.alert_id == alert.alert_id).order_by(Decision.id))]
    siblings = [a for a in db.scalars(select(Alert).where(Alert.household_id == alert.household_id,
                                                           Alert.alert_id != alert.alert_id, Alert.status != "merged"))
                if access.in_scope(actor, a.division_code)]
    view = views.alert_view(alert, task, division_names.names_for(db, [alert.division_code]))
    superseding = db.scalar(select(Alert).where(Alert.alert_id == alert.merged_into)) \
        if alert.status == "superseded" and alert.merged_into else None
    if superseding is not None and access.in_scope(actor, superseding.division_code):
        view["superseded_by_number"] = superseding.number  # the household's own alert, linked
    return {"alert": view, "radar": radar_svg(view["dimensions"]), "timeline": views.timeline_view(entries, alert),
            "decisions": decisions, "task": task, "siblings": [views.alert_view(a) for a in siblings],
            "may_triage": alert.status == "new" and access.can(actor, "alert.triage", alert.division_code, kind=alert.kind,
                                                                recusal_staff_ids=alert.recusal_staff_ids),
            "may_reveal": access.can(actor, "personal.reveal", alert.division_code, kind=alert.kind,
                                     recusal_staff_ids=alert.recusal_staff_ids) and view["household_provisional"],
            "recused": access.recused(actor, alert.recusal_staff_ids),
            "may_letter": access.can(actor, "letter.print", alert.division_code, kind=alert.kind)}


@router.get("/alerts/{number}", response_class=HTMLResponse)
def alert_page(number: int, request: Request, db: DbDep) -> Response:
    actor, user = _actor(request, db)
    alert = queue.get_alert(db, actor, number)
    return _render(request, "alert.html", user, **_alert_context(db, actor, alert))


@router.post("/alerts/{number}/confirm")
def alert_confirm(number: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "") -> Response:
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    wb = workbench(request)
    task = triage.confirm(db, actor, number, wb.now(), wb.calendar(db), client_of(request))
    db.commit()
    wb.metrics.decisions.labels("confirmed").inc()
    assignee = db.scalar(select(User).where(User.username == task.assignee)) if task.assignee else None
    who = assignee.display_name if assignee else "待分派"
    _flash(request, f"已确认，生成核查任务 #{task.id}（承办人：{who}，期限 {task.due_date.isoformat()}）")
    return _back(f"/alerts/{number}")


@router.post("/alerts/{number}/dismiss")
def alert_dismiss(number: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                  reason: Annotated[str, Form(max_length=4000)] = "", category: Annotated[str, Form(max_length=32)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, user = _actor(request, db)
    wb = workbench(request)
    try:
        triage.dismiss(db, actor, number, reason, wb.now(), client_of(request), category=category or None)
    except Invalid as exc:
        db.rollback()
        alert = queue.get_alert(db, actor, number)
        return _render(request, "alert.html", user, status_code=422, form_error=exc.message, reason=reason,
                       **_alert_context(db, actor, alert))
    db.commit()
    wb.committed()
    wb.metrics.decisions.labels("dismissed").inc()
    _flash(request, "已排除，理由已记录并将书面告知")
    return _back(f"/alerts/{number}")


@router.post("/alerts/{number}/merge")
def alert_merge(number: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                into: Annotated[str, Form(max_length=12)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    wb = workbench(request)
    target = int(into) if into.isascii() and into.isdigit() and len(into) < 11 else None  # "²" is a digit to isdigit
    merged = triage.merge(db, actor, number, target, wb.now(), client_of(request))
    db.commit()
    wb.committed()
    wb.metrics.decisions.labels("merged").inc()
    _flash(request, f"已合并至预警 #{target}（{views.alert_view(merged)['merged_into']}）")
    return _back(f"/alerts/{number}")


@router.post("/alerts/{number}/reveal", response_class=HTMLResponse)
def alert_reveal(number: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "") -> Response:
    actor, user, revealed = _disclose(request, db, csrf, lambda actor, now, client:
                                      reveal.reveal_alert(db, actor, number, now, client))
    alert = queue.get_alert(db, actor, number)
    return _render(request, "alert.html", user, revealed=revealed, **_alert_context(db, actor, alert))


# --- tasks and the visit -----------------------------------------------------------------------


@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(request: Request, db: DbDep, status: str = "", overdue: str = "") -> Response:
    actor, user = _actor(request, db)
    today = today_cst(workbench(request).now())
    wanted = status if status in labels.TASK_STATUSES else None
    rows, total = tasks.list_tasks(db, actor, wanted, overdue == "1", today, limit=500)
    items = _task_views(db, rows, today)
    households_of = dict(db.execute(select(Alert.alert_id, Alert.household_id)
                                    .where(Alert.alert_id.in_([t.alert_id for t in rows]))).all()) if rows else {}
    addresses = roster.addresses(db, actor, set(households_of.values()))
    for task, item in zip(rows, items, strict=True):  # the door on the officer's card (the roster's address)
        item["address"] = addresses.get(households_of.get(task.alert_id))
    _, all_total = tasks.list_tasks(db, actor, None, True, today, limit=1)
    return _render(request, "tasks.html", user, items=items, total=total, overdue_count=all_total, status=wanted or "",
                   overdue=overdue == "1", today=today, due_soon_count=sum(1 for i in items if i["due_soon"]))


@router.get("/tasks.xlsx")
def tasks_export(request: Request, db: DbDep) -> Response:
    actor, _ = _actor(request, db)
    now = workbench(request).now()
    rows = export_rows(db, actor, "tasks", today_cst(now))
    audit.record_export(db, actor, now, "tasks", rows, client_of(request))
    db.commit()
    return Response(exports.tasks_xlsx(rows), media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="tasks.xlsx"'})


def _task_context(db: Session, actor: Actor, task: Task, alert: Alert, today: date) -> dict:
    view = _task_views(db, [task], today)[0]
    candidates = [dict(views.user_view(u), load=tasks.open_load(db, u.username)) for u in tasks.eligible_assignees(db, alert)] \
        if access.can(actor, "task.assign", task.division_code, kind=task.kind, recusal_staff_ids=alert.recusal_staff_ids) \
        else []
    return {"task": view, "alert": views.alert_view(alert, task, division_names.names_for(db, [alert.division_code])),
            "candidates": candidates,
            "may_visit": task.status == "assigned" and task.assignee == actor.username
            and access.can(actor, "task.visit", task.division_code, kind=task.kind, recusal_staff_ids=alert.recusal_staff_ids),
            "may_assign": bool(candidates) and task.status != "done",
            # 待分派 with nobody to give it to: say why and what to do; a county-level task is placed first
            "assign_blocked": not candidates and task.status != "done" and access.can(
                actor, "task.assign", task.division_code, kind=task.kind, recusal_staff_ids=alert.recusal_staff_ids),
            "needs_place": divisions.level(task.division_code) != "community" and task.kind != "filed_relative_check"
            and task.status != "done" and access.can(actor, "task.assign", task.division_code, kind=task.kind,
                                                      recusal_staff_ids=alert.recusal_staff_ids),
            "community_names": _suggestions(db, actor)["community_names"],
            "may_extend": task.status != "done" and not task.extended
            and access.can(actor, "task.extend", task.division_code, kind=task.kind, recusal_staff_ids=alert.recusal_staff_ids),
            "may_reveal": access.can(actor, "personal.reveal", task.division_code, kind=task.kind,
                                     recusal_staff_ids=alert.recusal_staff_ids)
            and (view["visit"] is not None or view["household_id"].startswith("person:")),
            "may_review": task.status == "review" and access.can(actor, "task.review", task.division_code, kind=task.kind,
                                                                  recusal_staff_ids=alert.recusal_staff_ids),
            "reviews": [views.review_view(r) for r in tasks.reviews_of(db, task.id)],
            "has_letter": task.status == "done" and view["visit"] is not None
            and (view["visit"]["result"] == "refuted" or task.kind in letters.EXIT_KINDS)
            and access.can(actor, "letter.print", task.division_code, kind=task.kind),
            # the door: the roster's address and contact phone (masked; revealed by the task holder, audited)
            "roster": roster.household_roster(db, actor, alert.household_id, datetime.combine(today, time(12), CST),
                                              alert_ids=[alert.alert_id], recusal_staff_ids=alert.recusal_staff_ids)}


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(task_id: int, request: Request, db: DbDep) -> Response:
    actor, user = _actor(request, db)
    task, alert = tasks.get_task(db, actor, task_id)
    return _render(request, "task.html", user, **_task_context(db, actor, task, alert, today_cst(workbench(request).now())))


@router.post("/tasks/{task_id}/visit")
def task_visit(task_id: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
               method: Annotated[str, Form()] = "", finding: Annotated[str, Form(max_length=4000)] = "",
               result: Annotated[str, Form()] = "", reason: Annotated[str, Form(max_length=4000)] = "",
               new_coverage: Annotated[str, Form()] = "", contact_phone: Annotated[str, Form(max_length=32)] = "",
               bank_card: Annotated[str, Form(max_length=32)] = "", category: Annotated[str, Form(max_length=32)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, user = _actor(request, db)
    wb = workbench(request)
    try:
        tasks.record_visit(db, actor, task_id, method=method, finding=finding, result=result, now=wb.now(),
                           reason=reason, new_coverage=new_coverage or None, contact_phone=contact_phone,
                           bank_card=bank_card, client=client_of(request), category=category or None)
    except Invalid as exc:
        db.rollback()
        task, alert = tasks.get_task(db, actor, task_id)
        return _render(request, "task.html", user, status_code=422, form_error=exc.message,
                       form={"method": method, "finding": finding, "result": result, "reason": reason,
                             "contact_phone": contact_phone, "bank_card": bank_card, "category": category},
                       **_task_context(db, actor, task, alert, today_cst(wb.now())))
    db.commit()
    wb.committed()
    wb.metrics.decisions.labels(f"visit_{result}").inc()
    _flash(request, "走访结果已登记，待街道复核后上报")
    return _back(f"/tasks/{task_id}")


@router.post("/tasks/{task_id}/assign")
def task_assign(task_id: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                assignee: Annotated[str, Form(max_length=64)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    tasks.assign(db, actor, task_id, assignee, workbench(request).now(), client_of(request))
    db.commit()
    _flash(request, "任务已分派")
    return _back(f"/tasks/{task_id}")


@router.post("/tasks/{task_id}/place")
def task_place(task_id: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
               community: Annotated[str, Form(max_length=64)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    code = division_names.resolve(db, actor, community, "community", "community")
    task = tasks.place(db, actor, task_id, code or "", workbench(request).now(), client_of(request))
    db.commit()
    _flash(request, "已落实所在社区" + ("并分派" if task.assignee else "；该社区暂无民政专干账号，请联系系统管理员开通"))
    return _back(f"/tasks/{task_id}")


@router.post("/tasks/{task_id}/review")
def task_review(task_id: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                decision: Annotated[str, Form(max_length=16)] = "", note: Annotated[str, Form(max_length=4000)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, user = _actor(request, db)
    wb = workbench(request)
    try:
        tasks.review(db, actor, task_id, decision, wb.now(), note, client_of(request))
    except Invalid as exc:
        db.rollback()
        task, alert = tasks.get_task(db, actor, task_id)
        return _render(request, "task.html", user, status_code=422, review_error=exc.message, note=note,
                       **_task_context(db, actor, task, alert, today_cst(wb.now())))
    db.commit()
    wb.committed()
    _flash(request, "复核通过，结果已上报" if decision == "approve" else "已退回专干重新核查")
    return _back(f"/tasks/{task_id}")


@router.get("/tasks/{task_id}/letter.pdf")
def task_letter(task_id: int, request: Request, db: DbDep) -> Response:
    actor, _ = _actor(request, db)
    content, name = letters.for_task(db, actor, task_id, workbench(request).now(), client_of(request))
    db.commit()
    return Response(content, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/alerts/{number}/letter.pdf")
def alert_letter(number: int, request: Request, db: DbDep) -> Response:
    actor, _ = _actor(request, db)
    content, name = letters.for_alert(db, actor, number, workbench(request).now(), client_of(request))
    db.commit()
    return Response(content, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.post("/tasks/{task_id}/extend")
def task_extend(task_id: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                reason: Annotated[str, Form(max_length=4000)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    wb = workbench(request)
    tasks.extend(db, actor, task_id, reason, wb.now(), wb.calendar(db), client_of(request))
    db.commit()
    _flash(request, "已延期至 45 个工作日")
    return _back(f"/tasks/{task_id}")


@router.post("/tasks/{task_id}/reveal", response_class=HTMLResponse)
def task_reveal(task_id: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "") -> Response:
    actor, user, revealed = _disclose(request, db, csrf, lambda actor, now, client:
                                      reveal.reveal_task(db, actor, task_id, now, client))
    task, alert = tasks.get_task(db, actor, task_id)
    return _render(request, "task.html", user, revealed=revealed, **_task_context(db, actor, task, alert,
                                                                                  today_cst(workbench(request).now())))


@router.post("/tasks/{task_id}/contact", response_class=HTMLResponse)
def task_contact(task_id: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "") -> Response:
    """The roster's contact phone in full for the officer holding the task (audited)."""
    actor, user, contact = _disclose(request, db, csrf, lambda actor, now, client: roster.reveal_contact(
        db, actor, tasks.get_task(db, actor, task_id)[1].number, now, client))  # the task's access check first
    task, alert = tasks.get_task(db, actor, task_id)
    return _render(request, "task.html", user, contact=contact, **_task_context(db, actor, task, alert,
                                                                                today_cst(workbench(request).now())))


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, db: DbDep) -> Response:
    _, user = _actor(request, db)
    return _render(request, "account.html", user)


@router.post("/account", response_class=HTMLResponse)
def account_change(request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                   current: Annotated[str, Form(max_length=128)] = "", new: Annotated[str, Form(max_length=128)] = "",
                   again: Annotated[str, Form(max_length=128)] = "") -> Response:
    _check_csrf(request, csrf)
    _, user = _actor(request, db)
    try:
        if new != again:
            raise Invalid("两次输入的新密码不一致", "MISMATCH", "again")
        users.change_password(db, user, current, new, workbench(request).now(), client_of(request))
    except Invalid as exc:
        db.rollback()
        return _render(request, "account.html", user, status_code=422, form_error=exc.message)
    db.commit()
    request.session["ver"] = user.session_version  # this session goes on; every other one of the user ends
    _flash(request, "密码已修改")
    return _back("/account")


# --- statistics, audit, administration --------------------------------------------------------


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, db: DbDep) -> Response:
    actor, user = _actor(request, db)
    if not access.allowed(actor.role, "stats.read"):
        raise Forbidden("您的角色不能查看统计", "ROLE_FORBIDDEN")
    today = today_cst(workbench(request).now())
    figures = stats_view(stats.figures(db, today, actor))
    confirmation = stats.visit_confirmation(db, actor)  # by kind, level and model score band
    places = _place_view(db, actor, today)
    drawn = charts.charts(places, {row["key"]: row["name"] for row in places["streets"] if row["name"]})
    return _render(request, "stats.html", user, figures=figures, places=places, confirmation=confirmation,
                   charts=drawn, may_export_training=access.allowed(actor.role, "training.export"))


@router.get("/training.zip")
def training_export(request: Request, db: DbDep) -> Response:
    """The next training set of the learned model (bureau only; masked; audited as training_exported)."""
    actor, _ = _actor(request, db)
    return training_download(db, actor, workbench(request).now(), client_of(request))


def _place_view(db: Session, actor: Actor, today: date) -> dict:
    """Statistics by street, community and month, with the divisions' names and each row's share of the largest."""
    places = stats_places.place_figures(db, actor, today)
    names = division_names.names_for(db, [r["key"] for r in places["communities"]])
    for group in places.values():
        top = max((r["alerts"] for r in group), default=0) or 1
        for row in group:
            row["name"] = division_names.label(names, row["key"]) if row["key"][:1].isdigit() and len(row["key"]) == 12 \
                else None
            row["bar"] = round(100 * row["alerts"] / top)
    return places


AUDIT_PAGE = 100


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, db: DbDep, action: str = "", who: str = "", since: str = "", until: str = "",
               page: int = 1) -> Response:
    """The audit log in sentences, filtered by date (CST days, inclusive), person and action, paged to its start."""
    actor, user = _actor(request, db)
    if not access.allowed(actor.role, "audit.read"):
        raise Forbidden("只有纪检监督人员可以查看审计日志", "ROLE_FORBIDDEN")
    first, last = _day(since, "since"), _day(until, "until")
    start = datetime.combine(first, time.min, CST) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, CST) if last else None
    page = max(1, min(page, 1_000_000))
    filters = {"action": action[:64] or None, "actor": who[:64] or None, "since": start, "until": end}
    total = audit.count(db, actor, **filters)
    rows = audit.entries(db, actor, limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE, **filters)
    query = urlencode({k: v for k, v in (("action", action), ("who", who), ("since", since), ("until", until)) if v})
    return _render(request, "audit.html", user, items=[views.audit_view(e) for e in rows], action=action, who=who,
                   since=since, until=until, total=total, page=page, pages=max(1, -(-total // AUDIT_PAGE)), query=query)


def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise Invalid("日期须为 YYYY-MM-DD", "BAD_DATE", field) from None


@router.get("/audit.xlsx")
def audit_export(request: Request, db: DbDep, action: str = "", who: str = "", since: str = "", until: str = "") -> Response:
    actor, _ = _actor(request, db)
    first, last = _day(since, "since"), _day(until, "until")
    filters = {"action": action[:64] or None, "actor": who[:64] or None,
               "since": datetime.combine(first, time.min, CST) if first else None,
               "until": datetime.combine(last + timedelta(days=1), time.min, CST) if last else None}
    workbook = exports.audit_export(db, actor, workbench(request).now(), client_of(request), filters)
    return Response(workbook, media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="audit.xlsx"'})


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, db: DbDep) -> Response:
    actor, user = _actor(request, db)
    return _render(request, "users.html", user, items=[views.user_view(u) for u in users.list_users(db, actor)])


@router.post("/admin/users")
def users_create(request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                 username: Annotated[str, Form(max_length=64)] = "", display_name: Annotated[str, Form(max_length=64)] = "",
                 role: Annotated[str, Form()] = "", scopes: Annotated[str, Form(max_length=400)] = "",
                 password: Annotated[str, Form(max_length=128)] = "", staff_id: Annotated[str, Form(max_length=64)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    if not access.allowed(actor.role, "users.manage"):
        raise Forbidden("只有系统管理员可以管理用户", "ROLE_FORBIDDEN")
    users.create_user(db, actor, username=username, display_name=display_name, role=role,
                      scopes=[s for s in scopes.replace("，", ",").replace(" ", ",").split(",") if s], password=password,
                      staff_id=staff_id or None, now=workbench(request).now())
    db.commit()
    _flash(request, f"已创建用户 {username}")
    return _back("/admin/users")


@router.get("/admin/calendar", response_class=HTMLResponse)
def calendar_page(request: Request, db: DbDep) -> Response:
    actor, user = _actor(request, db)
    if not access.allowed(actor.role, "calendar.manage"):
        raise Forbidden("只有系统管理员可以维护节假日", "ROLE_FORBIDDEN")
    return _render(request, "calendar.html", user, items=calendar_store.days_for(db, actor))


@router.post("/admin/calendar")
def calendar_set(request: Request, db: DbDep, csrf: Annotated[str, Form()] = "", day: Annotated[str, Form()] = "",
                 kind: Annotated[str, Form()] = "holiday", note: Annotated[str, Form(max_length=128)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    if not access.allowed(actor.role, "calendar.manage"):
        raise Forbidden("只有系统管理员可以维护节假日", "ROLE_FORBIDDEN")
    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise Invalid("请填写日期 YYYY-MM-DD", "BAD_DATE", "day") from None
    calendar_store.set_county_day(db, actor, when, kind == "workday", note or None, workbench(request).now())
    db.commit()
    _flash(request, f"已设置 {when.isoformat()} 为{'调休工作日' if kind == 'workday' else '节假日'}")
    return _back("/admin/calendar")


@router.get("/admin/divisions", response_class=HTMLResponse)
def divisions_page(request: Request, db: DbDep) -> Response:
    actor, user = _actor(request, db)
    if not access.allowed(actor.role, "users.manage"):
        raise Forbidden("只有系统管理员可以维护区划名称", "ROLE_FORBIDDEN")
    rows = division_names.in_scope(db, actor)
    names = {r.code: r.name for r in rows}
    items = [{"code": r.code, "name": r.name, "label": division_names.label(names, r.code),
              "level": division_names.LEVEL_LABELS.get(divisions.level(r.code), "县级"), "updated_by": r.updated_by}
             for r in rows]
    return _render(request, "divisions.html", user, items=items)


@router.post("/admin/divisions")
def divisions_set(request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                  code: Annotated[str, Form(max_length=12)] = "", name: Annotated[str, Form(max_length=64)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    division_names.set_name(db, actor, code.strip(), name, workbench(request).now(), client_of(request))
    db.commit()
    _flash(request, f"已设置 {code.strip()} 的名称为“{name.strip()}”")
    return _back("/admin/divisions")


@router.post("/admin/divisions/import")
def divisions_import(request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                     file: Annotated[str, Form(max_length=200_000)] = "") -> Response:
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    count = division_names.import_for(db, actor, file, workbench(request).now(), client_of(request))
    db.commit()
    _flash(request, f"已导入 {count} 个区划名称")
    return _back("/admin/divisions")


# --- the household file (户档案) -----------------------------------------------------------------


@router.get("/households", response_class=HTMLResponse)
def households_page(request: Request, db: DbDep) -> Response:
    actor, user = _actor(request, db)
    if not access.allowed(actor.role, "alert.read"):
        raise Forbidden("您的角色不能查阅户档案", "ROLE_FORBIDDEN")
    return _render(request, "households.html", user, hits=None)


@router.post("/households", response_class=HTMLResponse)
def households_search(request: Request, db: DbDep, csrf: Annotated[str, Form()] = "",
                      q: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Search by POST, so a resident ID never stands in an address, a history or an access log."""
    _check_csrf(request, csrf)
    actor, user = _actor(request, db)
    try:
        hits = households.search(db, actor, q, workbench(request).now(), client_of(request))
    except Invalid as exc:
        db.rollback()
        return _render(request, "households.html", user, status_code=422, hits=None, form_error=exc.message)
    db.commit()
    if len(hits) == 1:
        return _back(hits[0]["url"])
    return _render(request, "households.html", user, hits=hits)


@router.get("/households/{household_id}", response_class=HTMLResponse)
def roster_household_page(household_id: Annotated[str, Path(max_length=128)], request: Request, db: DbDep) -> Response:
    """The file of a roster household with no alert in the reader's divisions: the roster section alone."""
    actor, user = _actor(request, db)
    file = households.roster_file(db, actor, household_id, workbench(request).now())
    names = division_names.names_for(db, [file["division_code"]])
    return _render(request, "household.html", user, file=file, place=division_names.label(names, file["division_code"]))


@router.get("/alerts/{number}/household", response_class=HTMLResponse)
def household_page(number: int, request: Request, db: DbDep) -> Response:
    actor, user = _actor(request, db)
    return _household_page(request, db, actor, user, number)


def _household_page(request: Request, db: Session, actor: Actor, user: User, number: int, **extra: object) -> Response:
    """The household file of alert `number`'s household, with the division's name."""
    alert = queue.get_alert(db, actor, number)
    names = division_names.names_for(db, [alert.division_code])
    file = households.household_file(db, actor, number, names, workbench(request).now())
    return _render(request, "household.html", user, file=file, place=division_names.label(names, alert.division_code),
                   **extra)


@router.post("/alerts/{number}/household/reveal", response_class=HTMLResponse)
def household_reveal(number: int, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "") -> Response:
    """The roster's contact phone in full (bureau, or the officer holding an open task of the household; audited)."""
    actor, user, contact = _disclose(request, db, csrf, lambda actor, now, client:
                                     roster.reveal_contact(db, actor, number, now, client))
    return _household_page(request, db, actor, user, number, contact=contact)


@router.get("/digest", response_class=HTMLResponse)
def digest_page(request: Request, db: DbDep) -> Response:
    actor, user = _actor(request, db)
    if not access.allowed(actor.role, "task.read"):
        raise Forbidden("您的角色没有待办事项", "ROLE_FORBIDDEN")
    return _render(request, "digest.html", user, digest=digest.digest(db, actor, today_cst(workbench(request).now())))


@router.get("/filings", response_class=HTMLResponse)
def filings_page(request: Request, db: DbDep) -> Response:
    actor, user = _actor(request, db)
    items = filings.register(db, actor, today_cst(workbench(request).now()))
    names = division_names.names_for(db, [i["division_code"] for i in items])
    for item in items:
        item["division_name"] = division_names.label(names, item["division_code"])
    return _render(request, "filings.html", user, items=items, may_check=actor.role in filings.CHECK,
                   check_days=filings.CHECK_PERIOD_DAYS)


@router.post("/filings/{staff_id}/check")
def filing_check(staff_id: str, request: Request, db: DbDep, csrf: Annotated[str, Form()] = "") -> Response:
    _check_csrf(request, csrf)
    actor, _ = _actor(request, db)
    wb = workbench(request)
    filings.record_check(db, actor, staff_id, today_cst(wb.now()), wb.now(), client_of(request))
    db.commit()
    _flash(request, f"已登记 {staff_id[:64]} 的定期核查")
    return _back("/filings")
