"""The next training set of the learned model (下一轮训练数据): visited alerts and their outcomes, as JSON Lines.

`training_set(session, actor)` returns (alerts, outcomes) in the wire contract's shapes: each alert
that has a recorded visit, with the `model_features` it came with, and the outcome of the visit with
its `visit_finding`; `hardship model train --alerts A --outcomes O` reads them as they are. Scoped
to the actor's divisions and allowed to the district bureau only (`training.export`); a provisional
household's id (which holds a resident ID) is replaced by a stable pseudonym in both files, so the
join still holds, reason texts are masked and the alerts' reason texts left out. `training_zip`
packs them as the download of /training.zip and /api/v1/exports/training.zip (audited:
training_exported).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime

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
    if not access.allowed(actor.role, "training.export"):
        raise Forbidden("只有区民政局可以导出模型训练数据", "ROLE_FORBIDDEN")
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


README = """下一轮模型训练数据（脱敏）/ the next training set of the learned model (masked)

alerts.jsonl   复核通过的走访所对应的预警及其 model_features / the visited alerts with their features
outcomes.jsonl 走访结论 visit_finding (confirmed / not_confirmed) / the visit findings

hardship model train --alerts alerts.jsonl --outcomes outcomes.jsonl --out MODEL_DIR
(several exports or districts: repeat --alerts and --outcomes)

模型只用于排序，不产生、不压制、不关闭预警 / the model only ranks alerts (docs/model.md).
"""


def training_zip(alerts: list[dict], outcomes: list[dict], now: datetime) -> bytes:
    """alerts.jsonl, outcomes.jsonl and README.txt in one zip (entries dated `now`)."""
    stamp = now.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("alerts.jsonl", jsonl(alerts)), ("outcomes.jsonl", jsonl(outcomes)), ("README.txt", README)):
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), text.encode("utf-8"), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
