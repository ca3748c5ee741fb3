"""Alert intake (预警接收): check an alert from hardship.alerts and upsert it by alert_id.

A replay of the same alert updates the stored row (and its timeline), never adds a second one;
the workbench's own status (triage, tasks) survives the update.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.validation import (
    Rejected,
    check_strings,
    parse_division_code,
    parse_identifier,
    parse_time,
    refuse_control_characters,
)
from workbench import labels
from workbench.tables import Alert, Task, TimelineEntry
from workbench.timeutil import parse_iso

DIMENSIONS = ("age_structure", "economic", "health", "disability", "employment", "shock")


def _score(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise Rejected("BAD_SCORE", f"{field} must be a number 0-100, not {value!r}", field)
    return float(value)


def validate_alert(obj: object) -> dict:
    """The alert of the wire contract -> a clean dict, or Rejected with the reason."""
    if not isinstance(obj, dict):
        raise Rejected("NOT_AN_OBJECT", "an alert must be a JSON object")
    check_strings(obj)  # no NUL or other control character anywhere (PostgreSQL cannot store NUL), bounded nesting
    for name in ("alert_id", "household_id", "division_code", "kind", "level", "hardship_score", "dimensions",
                 "removal_score", "reasons", "policy_version", "model_version", "event_time", "emitted_at"):
        if obj.get(name) is None:
            raise Rejected("MISSING_FIELD", f"the alert has no {name!r}; see the wire contract in DESIGN.md", name)
    kind = obj["kind"]
    if kind not in labels.KINDS:
        raise Rejected("BAD_KIND", f"kind must be one of {', '.join(labels.KINDS)}, not {kind!r}", "kind")
    level = obj["level"]
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 4:
        raise Rejected("BAD_LEVEL", f"level must be 1 (blue) to 4 (red), not {level!r}", "level")
    dims = obj["dimensions"]
    if not isinstance(dims, dict):
        raise Rejected("BAD_DIMENSIONS", "dimensions must be an object of six scores", "dimensions")
    dimensions = {name: _score(dims.get(name), f"dimensions.{name}") for name in DIMENSIONS}
    reasons_in = obj["reasons"]
    if not isinstance(reasons_in, list):
        raise Rejected("BAD_REASONS", "reasons must be a list of {code, text, event_ids}", "reasons")
    reasons = []
    for i, reason in enumerate(reasons_in):
        if not isinstance(reason, dict) or not isinstance(reason.get("code"), str) or not isinstance(reason.get("text"), str):
            raise Rejected("BAD_REASONS", f"reasons[{i}] needs a code and a text", f"reasons[{i}]")
        event_ids = reason.get("event_ids") or []
        if not isinstance(event_ids, list) or not all(isinstance(e, str) for e in event_ids):
            raise Rejected("BAD_REASONS", f"reasons[{i}].event_ids must be a list of strings", f"reasons[{i}].event_ids")
        for j, event_id in enumerate(event_ids):
            refuse_control_characters(event_id, f"reasons[{i}].event_ids[{j}]")
        reasons.append({"code": reason["code"], "text": reason["text"], "event_ids": event_ids})
    recusal = obj.get("recusal_staff_ids") or []
    if not isinstance(recusal, list) or not all(isinstance(s, str) for s in recusal):
        raise Rejected("BAD_RECUSAL", "recusal_staff_ids must be a list of staff ids", "recusal_staff_ids")
    for j, staff_id in enumerate(recusal):
        refuse_control_characters(staff_id, f"recusal_staff_ids[{j}]")
    parse_time(obj["event_time"], "event_time")
    parse_time(obj["emitted_at"], "emitted_at")
    model_score, model_reasons, model_features = _model_fields(obj)
    return {
        "alert_id": parse_identifier(obj["alert_id"], "alert_id"),
        "household_id": parse_identifier(obj["household_id"], "household_id"),
        "division_code": parse_division_code(obj["division_code"]),
        "kind": kind,
        "level": level,
        "hardship_score": _score(obj["hardship_score"], "hardship_score"),
        "removal_score": _score(obj["removal_score"], "removal_score"),
        "dimensions": dimensions,
        "reasons": reasons,
        "recusal_staff_ids": recusal,
        "policy_version": refuse_control_characters(str(obj["policy_version"])[:64], "policy_version"),
        "model_version": refuse_control_characters(str(obj["model_version"])[:64], "model_version"),
        "event_time": parse_iso(obj["event_time"]),
        "emitted_at": parse_iso(obj["emitted_at"]),
        "model_score": model_score,
        "model_reasons": model_reasons,
        "model_features": model_features,
    }


def _model_fields(obj: dict) -> tuple[float | None, list[str] | None, dict[str, float] | None]:
    """The learned model's optional fields (null without a model), checked."""
    score = obj.get("model_score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1):
        raise Rejected("BAD_MODEL_SCORE", f"model_score must be a number 0-1 or null, not {score!r}", "model_score")
    reasons = obj.get("model_reasons")
    if reasons is not None and (not isinstance(reasons, list) or len(reasons) > 10
                                or not all(isinstance(r, str) and len(r) <= 200 for r in reasons)):
        raise Rejected("BAD_MODEL_REASONS", "model_reasons must be a list of at most 10 short texts", "model_reasons")
    features = obj.get("model_features")
    if features is not None and (not isinstance(features, dict) or len(features) > 500 or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) for k, v in features.items())):
        raise Rejected("BAD_MODEL_FEATURES", "model_features must be an object of numbers", "model_features")
    return (None if score is None else float(score)), (list(reasons) if reasons else None), features


def by_alert_id(session: Session, alert_id: str) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.alert_id == alert_id))


def upsert_alert(session: Session, obj: object, now: datetime) -> tuple[Alert, bool]:
    """Insert or update one alert in the caller's transaction; returns (row, created)."""
    clean = validate_alert(obj)
    superseded_by = obj.get("superseded_by") if isinstance(obj, dict) else None
    alert, created = _upsert(session, clean, now)
    if superseded_by is not None:
        _supersede(session, alert, parse_identifier(superseded_by, "superseded_by"), now)
    return alert, created


def _supersede(session: Session, alert: Alert, household_id: str, now: datetime) -> None:
    """A provisional household's alert closed because a roster record absorbed the household (the stream
    sends it again with `superseded_by`): it leaves the queue, linked to the household's own alert of the
    same kind when there is one (else to the household), so that the workbench never keeps two for one family."""
    own = session.scalar(select(Alert).where(Alert.household_id == household_id, Alert.kind == alert.kind)
                         .order_by(Alert.number.desc()))
    target = own.alert_id if own is not None else household_id
    if alert.status == "superseded" and alert.merged_into == target:
        return
    alert.status = "superseded"
    alert.merged_into = target
    session.add(TimelineEntry(alert_id=alert.alert_id, at=now, what="superseded",
                              text="临时户已并入在册家庭，本预警由该户的预警取代"))


def _upsert(session: Session, clean: dict, now: datetime) -> tuple[Alert, bool]:
    alert = by_alert_id(session, clean["alert_id"])
    created = alert is None
    if alert is None:
        alert = Alert(**clean, received_at=now, updated_at=now, versions=1, status="new")
        session.add(alert)
        text = f"收到{labels.level(clean['level'])}{labels.kind(clean['kind'])}预警，困难指数 {clean['hardship_score']:.0f}"
        session.add(TimelineEntry(alert_id=clean["alert_id"], at=now, what="received", text=text))
        return alert, True
    if clean["emitted_at"] < alert.emitted_at:
        return alert, False  # an older version arriving late changes nothing
    changed = any(getattr(alert, key) != value for key, value in clean.items() if key not in {"emitted_at"})
    if clean["emitted_at"] == alert.emitted_at and not changed:
        return alert, False  # the same message again (a replay)
    if clean["division_code"][:6] != alert.division_code[:6]:
        open_task = session.scalar(select(Task).where(Task.alert_id == alert.alert_id, Task.status != "done"))
        if open_task is not None:  # the task, its assignee and its audit stay with the county that holds it
            raise Rejected(
                "COUNTY_CHANGE_WITH_OPEN_TASK",
                f"the alert moves from county {alert.division_code[:6]} to {clean['division_code'][:6]} while its visit "
                f"task #{open_task.id} is open there; finish or hand over the task in the workbench first, then send "
                "the alert again", "division_code")
    before = alert.level
    for key, value in clean.items():
        setattr(alert, key, value)
    alert.updated_at = now
    alert.versions += 1
    text = f"预警更新：{labels.level(before)} → {labels.level(alert.level)}，困难指数 {alert.hardship_score:.0f}"
    session.add(TimelineEntry(alert_id=alert.alert_id, at=now, what="updated", text=text))
    return alert, created
