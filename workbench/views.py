"""Rows -> plain dicts for pages, API and exports, with personal data masked (脱敏) in one place."""

from __future__ import annotations

from datetime import date

from workbench import divisions, labels
from workbench.audit_text import TARGETS, sentence
from workbench.division_names import label as division_label
from workbench.masking import is_provisional, mask_bank_card, mask_household_id, mask_phone, mask_text
from workbench.stats_places import DUE_SOON_DAYS
from workbench.tables import Alert, AuditEntry, Decision, Review, Task, TimelineEntry, User, Visit
from workbench.timeutil import iso_cst


def alert_view(alert: Alert, task: Task | None = None, names: dict[str, str] | None = None) -> dict:
    """`names` (code -> name, from division_names.names_for) adds the street's and community's names."""
    return {
        "number": alert.number,
        "alert_id": mask_text(alert.alert_id),
        "household_id": mask_household_id(alert.household_id),
        "household_provisional": is_provisional(alert.household_id),
        "division_code": alert.division_code,
        "street_code": divisions.street_of(alert.division_code),
        "division_name": division_label(names or {}, alert.division_code),
        "street_name": (names or {}).get(divisions.street_of(alert.division_code)),
        "kind": alert.kind,
        "kind_label": labels.kind(alert.kind),
        "level": alert.level,
        "level_label": labels.level(alert.level),
        "level_colour": labels.LEVEL_COLOURS.get(alert.level, "blue"),
        "hardship_score": round(alert.hardship_score, 1),
        "removal_score": round(alert.removal_score, 1),
        # 应退 is judged by the removal score (退出指数), every other kind by the hardship score (困难指数)
        "lead_score": round(alert.removal_score if alert.kind == "should_exit" else alert.hardship_score, 1),
        "lead_label": "退出指数" if alert.kind == "should_exit" else "困难指数",
        "dimensions": {name: round(float(alert.dimensions.get(name, 0)), 1) for name in labels.DIMENSIONS},
        "reasons": [{"code": r["code"], "text": mask_text(r["text"]),
                     "event_ids": [mask_text(e) for e in r.get("event_ids", [])]}  # a department's id may hold an ID
                    for r in alert.reasons],
        "recusal_count": len(alert.recusal_staff_ids or []),
        "status": alert.status,
        "status_label": labels.ALERT_STATUSES.get(alert.status, alert.status),
        "merged_into": mask_text(alert.merged_into),
        "policy_version": alert.policy_version,
        "model_version": alert.model_version,
        "model_score": None if alert.model_score is None else round(alert.model_score, 2),  # 模型核实概率
        "model_reasons": [mask_text(r) for r in alert.model_reasons or []],
        "event_time": iso_cst(alert.event_time),
        "emitted_at": iso_cst(alert.emitted_at),
        "received_at": iso_cst(alert.received_at),
        "updated_at": iso_cst(alert.updated_at),
        "versions": alert.versions,
        "task_id": task.id if task else None,
    }


def task_view(task: Task, alert: Alert, today: date, visit: Visit | None = None, assignee: User | None = None,
              names: dict[str, str] | None = None) -> dict:
    overdue = task.status != "done" and today > task.due_date
    return {
        "task_id": task.id,
        "alert_number": alert.number,
        "alert_id": mask_text(task.alert_id),
        "household_id": mask_household_id(alert.household_id),
        "division_code": task.division_code,
        "division_name": division_label(names or {}, task.division_code),
        "kind": task.kind,
        "kind_label": labels.kind(task.kind),
        "level": alert.level,
        "level_label": labels.level(alert.level),
        "level_colour": labels.LEVEL_COLOURS.get(alert.level, "blue"),
        "assignee": task.assignee,
        "assignee_name": assignee.display_name if assignee else None,
        "status": task.status,
        "status_label": labels.TASK_STATUSES.get(task.status, task.status),
        "start_date": task.start_date.isoformat(),
        "due_date": task.due_date.isoformat(),
        "due_provisional": task.due_provisional,
        "due_label": task.due_date.isoformat() + ("（暂定）" if task.due_provisional else ""),
        "extended": task.extended,
        "overdue": overdue,
        "days_overdue": (today - task.due_date).days if overdue else 0,
        # 即将到期: due within DUE_SOON_DAYS calendar days and not done
        "due_soon": task.status != "done" and not overdue and (task.due_date - today).days <= DUE_SOON_DAYS,
        "days_left": (task.due_date - today).days if task.status != "done" and not overdue else None,
        "created_by": task.created_by,
        "created_at": iso_cst(task.created_at),
        "done_at": iso_cst(task.done_at),
        "visit": visit_view(visit) if visit else None,
    }


def visit_view(visit: Visit) -> dict:
    return {
        "method": visit.method,
        "method_label": labels.VISIT_METHODS.get(visit.method, visit.method),
        "finding": mask_text(visit.finding),
        "result": visit.result,
        "result_label": labels.VISIT_RESULTS.get(visit.result, visit.result),
        "reason": mask_text(visit.reason),
        "new_coverage": visit.new_coverage,
        "contact_phone": mask_phone(visit.contact_phone),
        "bank_card": mask_bank_card(visit.bank_card),
        "recorded_by": visit.recorded_by,
        "recorded_at": iso_cst(visit.recorded_at),
        "outcome_id": visit.outcome_id,
        "review_status": visit.review_status,
        "review_status_label": {"pending": "待街道复核", "approved": "复核通过"}.get(visit.review_status,
                                                                               visit.review_status),
        "reviewed_by": visit.reviewed_by,
        "reviewed_at": iso_cst(visit.reviewed_at),
        "reason_category": visit.reason_category,
        "reason_category_label": labels.REASON_CATEGORIES.get(visit.reason_category) if visit.reason_category else None,
    }


def review_view(review: Review) -> dict:
    """A review (复核) of a visit record; the record as it was reviewed, its free text masked."""
    record = review.visit or {}
    return {"decision": review.decision, "decision_label": labels.REVIEW_DECISIONS.get(review.decision, review.decision),
            "note": mask_text(review.note), "reviewed_by": review.reviewed_by, "reviewed_at": iso_cst(review.reviewed_at),
            "visit": {"method_label": labels.VISIT_METHODS.get(record.get("method"), record.get("method")),
                      "result_label": labels.VISIT_RESULTS.get(record.get("result"), record.get("result")),
                      "finding": mask_text(record.get("finding")), "reason": mask_text(record.get("reason")),
                      "recorded_by": record.get("recorded_by")}}


def timeline_view(entries: list[TimelineEntry], alert: Alert) -> list[dict]:
    """Decisions and versions from the workbench, and the departments' events named by the reasons."""
    items = [{"at": iso_cst(e.at), "what": e.what, "text": mask_text(e.text), "actor": mask_text(e.actor)}
             for e in entries]
    for reason in alert.reasons:
        for event_id in reason.get("event_ids", []):
            items.append({"at": iso_cst(alert.event_time), "what": "event",
                          "text": mask_text(f"部门数据 {event_id}：{reason['text']}"), "actor": None})
    items.sort(key=lambda item: (item["at"] or "", item["what"] != "event"))
    return items


def decision_view(decision: Decision) -> dict:
    return {"decision": decision.decision, "decision_label": labels.DECISIONS.get(decision.decision, decision.decision),
            "reason": mask_text(decision.reason), "merged_into": mask_text(decision.merged_into),
            "reason_category": decision.reason_category,
            "reason_category_label": labels.REASON_CATEGORIES.get(decision.reason_category)
            if decision.reason_category else None,
            "decided_by": decision.decided_by, "decided_at": iso_cst(decision.decided_at)}


def user_view(user: User) -> dict:
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "role_label": labels.ROLES.get(user.role, user.role), "scopes": list(user.scopes),
            "staff_id": user.staff_id, "active": user.active}


def audit_view(entry: AuditEntry) -> dict:
    # the actor of a failed sign-in is whatever was typed as the username: masked like any free text
    return {"id": entry.id, "at": iso_cst(entry.at), "actor": mask_text(entry.actor), "role": entry.role,
            "action": entry.action,
            "action_label": labels.AUDIT_ACTIONS.get(entry.action, entry.action), "target_type": entry.target_type,
            "target_id": mask_text(entry.target_id), "division_code": entry.division_code,
            "detail": mask_text(entry.detail), "client": mask_text(entry.client),
            "sentence": mask_text(sentence(entry.action, entry.target_type, entry.target_id, entry.detail)),
            "target_label": TARGETS.get(entry.target_type or "", entry.target_type)}
