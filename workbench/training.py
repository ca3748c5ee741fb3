"""The next training set of the learned model (下一轮训练数据): visited alerts and their outcomes, as JSON Lines.

`training_set(session, actor)` returns (alerts, outcomes) in the wire contract's shapes: each alert
that has a recorded visit, with the `model_features` it came with, and the outcome of the visit with
its `visit_finding`; `hardship model train --alerts A --outcomes O` reads them as they are. Scoped
to the actor's divisions and allowed to the roles that may export; a provisional household's id
(which holds a resident ID) is replaced by a stable pseudonym in both files, so the join still holds.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench import access
from workbench.access import Actor
from workbench.errors import Forbidden
from workbench.masking import is_provisional, mask_text
from workbench.queue import scoped
from workbench.tables import Alert, OutboxOutcome, Task, Visit
from workbench.timeutil import iso_cst


def _pseudonym(household_id: str) -> str:
    if not is_provisional(household_id):
        return household_id
    return "person:p" + hashlib.sha256(household_id.encode("utf-8")).hexdigest()[:16]


def _alert_id(alert_id: str, household_id: str) -> str:
    return _pseudonym(household_id) + alert_id[len(household_id):] if alert_id.startswith(household_id) else alert_id


def training_set(session: Session, actor: Actor) -> tuple[list[dict], list[dict]]:
    if not access.allowed(actor.role, "export"):
        raise Forbidden("您的角色不能导出数据", "ROLE_FORBIDDEN")
    query = scoped(select(Alert, Visit).join(Task, Task.alert_id == Alert.alert_id).join(Visit, Visit.task_id == Task.id)
                   .where(Visit.review_status == "approved"),  # a finding the street has not reviewed (复核) is no label
                   actor, Alert.division_code).order_by(Alert.alert_id)
    alerts: list[dict] = []
    outcomes: list[dict] = []
    for alert, visit in session.execute(query):
        household = _pseudonym(alert.household_id)
        alert_id = _alert_id(alert.alert_id, alert.household_id)
        alerts.append({
            "alert_id": alert_id, "household_id": household, "division_code": alert.division_code,
            "kind": alert.kind, "level": alert.level, "hardship_score": alert.hardship_score,
            "dimensions": alert.dimensions, "removal_score": alert.removal_score,
            "reasons": [{"code": r["code"], "text": "", "event_ids": []} for r in alert.reasons],
            "policy_version": alert.policy_version, "model_version": alert.model_version,
            "model_score": alert.model_score, "model_features": alert.model_features,
            "event_time": iso_cst(alert.event_time), "emitted_at": iso_cst(alert.emitted_at),
        })
        row = session.scalar(select(OutboxOutcome).where(OutboxOutcome.outcome_id == visit.outcome_id))
        payload = dict(row.payload) if row is not None else {}
        outcomes.append({
            "outcome_id": visit.outcome_id, "alert_id": alert_id, "household_id": household,
            "decision": payload.get("decision", "confirmed" if visit.result == "confirmed" else "dismissed"),
            "reason": mask_text(payload.get("reason") or visit.reason) or None,
            "decided_by": visit.recorded_by, "decided_at": iso_cst(visit.recorded_at),
            "visit_method": visit.method,
            "visit_finding": "confirmed" if visit.result == "confirmed" else "not_confirmed",
        })
    return alerts, outcomes


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
