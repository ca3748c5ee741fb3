"""The roster in the workbench (户籍名册): hardship.registry records kept version by version, for the household file.

`upsert_roster` validates a registry record with the contract's own validator and keeps each distinct version of a
household's record (its content hash is the idempotence key, so a redelivered record adds nothing); the coverage
history is the sequence of versions. `RosterSink` reads hardship.registry like the alert sink reads hardship.alerts
(database commit before offset commit, refused records to hardship.deadletter with their reason); `load_file` reads a
JSON Lines file of the same records (`hardship serve --roster FILE`). `household_roster` is what the household file
shows: members masked, coverage and its history, the roster's income against the dibao standard, the address and the
contact phone masked; `reveal_contact` gives the phone in full to the roles `access.may_reveal_contact` allows, audited.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from models.resident_id import mask_resident_id
from models.validation import Rejected, check_strings, decode_json, validate_registry
from scoring.household import roster_income_yuan
from streams.config import REGISTRY_TOPIC
from workbench import access, audit, labels
from workbench.access import Actor
from workbench.errors import Forbidden, NotFound
from workbench.masking import mask_phone, mask_text
from workbench.sink import AlertSink
from workbench.tables import RosterPerson, RosterVersion, Task
from workbench.timeutil import iso_cst, parse_iso, today_cst, utcnow

GROUP_ID = "hardship-workbench-roster"
HASHED_FIELDS = ("household_id", "division_code", "members", "coverage", "monthly_income_yuan", "dibao_standard_yuan",
                 "recorded_at", "address", "contact_phone")


def content_hash(record: dict) -> str:
    """SHA-256 of a validated record's content (the same record redelivered hashes the same)."""
    content = {name: record.get(name) for name in HASHED_FIELDS}
    return hashlib.sha256(json.dumps(content, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def _effective(version: RosterVersion) -> tuple:
    """The order of versions: the record's own time, else when it was seen; ties by arrival."""
    return (version.recorded_at or version.seen_at, version.id or 0)


def versions_of(session: Session, household_id: str) -> list[RosterVersion]:
    """A household's roster versions, oldest first."""
    return sorted(session.scalars(select(RosterVersion).where(RosterVersion.household_id == household_id)), key=_effective)


def upsert_roster(session: Session, obj: object, now: datetime) -> tuple[RosterVersion, bool]:
    """Keep a registry record as a version of its household: (version, created). Raises Rejected (with the reason)
    for a record that breaks the contract; a record already kept (redelivered) returns (it, False)."""
    check_strings(obj)
    record = validate_registry(obj)
    digest = content_hash(record)
    household_id = record["household_id"]
    query = select(RosterVersion).where(RosterVersion.household_id == household_id, RosterVersion.content_hash == digest)
    existing = session.scalar(query)
    if existing is not None:
        return existing, False
    version = RosterVersion(
        household_id=household_id, content_hash=digest, division_code=record["division_code"],
        coverage=record["coverage"], monthly_income_yuan=record["monthly_income_yuan"],
        dibao_standard_yuan=record["dibao_standard_yuan"], members=record["members"], address=record.get("address"),
        contact_phone=record.get("contact_phone"),
        recorded_at=parse_iso(record["recorded_at"]) if record["recorded_at"] else None, seen_at=now)
    try:
        with session.begin_nested():
            session.add(version)
            session.flush()
    except sa_exc.IntegrityError:  # another workbench process kept the same version a moment ago
        existing = session.scalar(query)
        if existing is None:
            raise
        return existing, False
    versions = versions_of(session, household_id)
    if versions[-1].id == version.id:  # the newest version: its members are the household's now
        session.execute(delete(RosterPerson).where(RosterPerson.household_id == household_id))
        for member in record["members"]:
            session.add(RosterPerson(person_id=member["person_id"], household_id=household_id))
        session.flush()
    return version, True


class RosterSink(AlertSink):
    """hardship.registry -> wb_roster_versions, with the alert sink's delivery (DB commit, then offsets)."""

    stream = "registry"
    thread_name = "roster-sink"

    def __init__(self, sessions: sessionmaker[Session], broker_url: str, *, group_id: str = GROUP_ID,
                 topic: str = REGISTRY_TOPIC, metrics=None, clock=utcnow) -> None:  # noqa: ANN001
        super().__init__(sessions, broker_url, group_id=group_id, topic=topic, metrics=None, clock=clock)

    def upsert(self, session: Session, obj: object, now: datetime) -> bool:
        _version, created = upsert_roster(session, obj, now)
        return created


def load_file(session: Session, text: str, now: datetime) -> dict:
    """Keep the records of a JSON Lines file (one registry record a line): {"added", "known", "refused": [(line,
    reason)]}. Refused lines are reported with their number and reason; the good ones are kept."""
    added = known = 0
    refused: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            with session.begin_nested():
                _version, created = upsert_roster(session, decode_json(line), now)
        except Rejected as exc:
            refused.append((number, f"{exc.code}: {mask_text(exc.message)}"))
            continue
        added += created
        known += not created
    return {"added": added, "known": known, "refused": refused}


@functools.cache
def _policy():  # noqa: ANN202
    from scoring.policy import load_policy

    return load_policy(os.environ.get("HARDSHIP_POLICY") or None)


def dibao_standard(version: RosterVersion) -> float | None:
    """The record's own standard, else the policy file's for its division (None if the policy cannot say)."""
    if version.dibao_standard_yuan:
        return float(version.dibao_standard_yuan)
    try:
        return _policy().dibao_standard_yuan(version.division_code)
    except Exception:  # noqa: BLE001 - a policy file that cannot be read: the page says the standard is unknown
        return None


def _age(birth: str, today: date) -> int | None:
    try:
        born = date.fromisoformat(birth)
    except (TypeError, ValueError):
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def household_income(version: RosterVersion) -> float:
    """The roster's monthly household income, by the scoring core's own rule."""
    return roster_income_yuan(version.members, version.monthly_income_yuan)


def current(session: Session, actor: Actor, household_id: str) -> RosterVersion | None:
    """The household's newest roster version, if the actor's divisions cover it (else None: nothing leaks)."""
    versions = versions_of(session, household_id)
    if not versions or not access.in_scope(actor, versions[-1].division_code):
        return None
    return versions[-1]


def addresses(session: Session, actor: Actor, household_ids: set[str]) -> dict[str, str]:
    """household_id -> the current roster version's address, for the households inside the actor's divisions."""
    if not household_ids:
        return {}
    found: dict[str, RosterVersion] = {}
    for version in session.scalars(select(RosterVersion).where(RosterVersion.household_id.in_(household_ids))):
        if version.household_id not in found or _effective(version) > _effective(found[version.household_id]):
            found[version.household_id] = version
    return {hh: mask_text(v.address) for hh, v in found.items() if v.address and access.in_scope(actor, v.division_code)}


def holds_open_task(session: Session, actor: Actor, alert_ids: list[str]) -> bool:
    """The actor is the assignee of a task of one of these alerts that is not done."""
    if not alert_ids:
        return False
    return session.scalar(select(Task.id).where(Task.alert_id.in_(alert_ids), Task.assignee == actor.username,
                                                Task.status != "done").limit(1)) is not None


def household_roster(session: Session, actor: Actor, household_id: str, now: datetime, *,
                     alert_ids: list[str] | None = None, recusal_staff_ids: list[str] | None = None) -> dict | None:
    """The roster section of the household file, masked; None when the roster does not hold the household or the
    actor's divisions do not cover it."""
    versions = versions_of(session, household_id)
    if not versions or not access.in_scope(actor, versions[-1].division_code):
        return None
    latest = versions[-1]
    today = today_cst(now)
    members = [{"person_id": mask_resident_id(m["person_id"]), "relation": m.get("relation"),
                "relation_label": labels.relation(m.get("relation")), "age": _age(m.get("birth_date"), today),
                "monthly_income_yuan": m.get("monthly_income_yuan")} for m in latest.members]
    history: list[dict] = []
    for version in versions:
        if history and history[-1]["coverage"] == version.coverage:
            continue
        history.append({"coverage": version.coverage, "coverage_label": labels.COVERAGES.get(version.coverage, version.coverage),
                        "recorded_at": iso_cst(version.recorded_at) if version.recorded_at else None,
                        "seen_at": iso_cst(version.seen_at)})
    income = household_income(latest)
    per_capita = income / len(latest.members) if latest.members else None
    standard = dibao_standard(latest)
    return {
        "division_code": latest.division_code,
        "coverage": latest.coverage,
        "coverage_label": labels.COVERAGES.get(latest.coverage, latest.coverage),
        "coverage_history": history,
        "versions": len(versions),
        "members": members,
        "monthly_income_yuan": round(income, 2),
        "per_capita_income_yuan": round(per_capita, 2) if per_capita is not None else None,
        "dibao_standard_yuan": standard,
        "per_capita_vs_standard": round(per_capita / standard, 2) if per_capita is not None and standard else None,
        "address": mask_text(latest.address),
        "contact_phone": mask_phone(latest.contact_phone),
        "may_reveal_phone": bool(latest.contact_phone) and access.may_reveal_contact(
            actor, latest.division_code, holds_open_task=holds_open_task(session, actor, alert_ids or []),
            recusal_staff_ids=recusal_staff_ids),
        "recorded_at": iso_cst(latest.recorded_at) if latest.recorded_at else None,
        "seen_at": iso_cst(latest.seen_at),
    }


def reveal_contact(session: Session, actor: Actor, number: int, now: datetime, client: str | None = None) -> dict:
    """The roster's contact phone in full (查看明文联系电话), for the household of alert `number`: only the bureau or
    the officer who holds an open task of the household (access.may_reveal_contact), never a recused user; audited."""
    from workbench import queue
    from workbench.tables import Alert

    alert = queue.get_alert(session, actor, number)
    latest = current(session, actor, alert.household_id)
    if latest is None or not latest.contact_phone:
        raise NotFound("名册没有登记该户的联系电话")
    alert_ids = list(session.scalars(select(Alert.alert_id).where(Alert.household_id == alert.household_id)))
    if not access.may_reveal_contact(actor, latest.division_code, holds_open_task=holds_open_task(session, actor, alert_ids),
                                     recusal_staff_ids=alert.recusal_staff_ids):
        raise Forbidden("只有区民政局或持有该户在办核查任务的专干可以查看联系电话明文", "ROLE_FORBIDDEN")
    audit.record(session, actor, "reveal", now, target_type="household", target_id=mask_text(alert.household_id),
                 division_code=latest.division_code, detail={"fields": ["contact_phone"]}, client=client)
    return {"number": alert.number, "household_id": mask_text(alert.household_id), "contact_phone": latest.contact_phone}
