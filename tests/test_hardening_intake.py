"""Control characters refused at every door, and the alert sink that dead-letters what the database refuses and goes on.

Issue 13, must fix 1: an alert with a NUL byte stopped the PostgreSQL intake for good (retried every 5 s,
offsets never committed, good alerts behind it never stored). Here: the validators refuse it with
CONTROL_CHARACTER, a record the database itself refuses goes to the dead letters with DATABASE_REFUSED,
and the good alerts behind both (same key and other keys) are stored and the offsets committed, on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import uuid

import pytest

from models.validation import (
    Rejected,
    validate_event,
    validate_filing,
    validate_outcome,
    validate_registry,
)
from streams.config import DEADLETTER_TOPIC
from tests.builders import event, filing, household, person
from tests.workbench_fixtures import make_alert, produce, read_topic, resident

NUL = "\x00"


def code_of(call, record) -> Rejected:  # noqa: ANN001
    with pytest.raises(Rejected) as caught:
        call(record)
    return caught.value


@pytest.mark.parametrize("where", ["event_id", "occurred_at", "attributes.note", "attributes.key"])
def test_events_with_control_characters_are_refused(where):
    record = event("medical_bill", person(), out_of_pocket_yuan=100.0)
    if where == "attributes.note":
        record["attributes"]["note"] = "住院\x00结算"
    elif where == "attributes.key":
        record["attributes"]["no\x1bte"] = "x"
    else:
        record[where] = record[where] + NUL
    error = code_of(validate_event, record)
    assert error.code == "CONTROL_CHARACTER"
    assert "remove it at the source" in error.message and error.field


def test_registry_filing_and_outcome_with_control_characters_are_refused():
    head = person()
    assert code_of(validate_registry, household("HH-NUL" + NUL, [(head, "户主")])).code == "CONTROL_CHARACTER"
    relation = household("HH-1", [(head, "户主\x07")])
    assert code_of(validate_registry, relation).code == "CONTROL_CHARACTER"
    assert code_of(validate_filing, filing("S-1\x00", [person()])).code == "CONTROL_CHARACTER"
    outcome = {"outcome_id": "o-1", "alert_id": "a-1", "household_id": "hh-1", "decision": "dismissed",
               "reason": "经核实\x00", "decided_by": "street", "decided_at": "2026-09-18T10:00:00+08:00"}
    assert code_of(validate_outcome, outcome).field == "reason"
    outcome["reason"] = "经核实\n子女赡养\t按月"  # line breaks and tabs in a written reason are fine
    assert validate_outcome(outcome)["reason"].startswith("经核实")


@pytest.mark.parametrize("field", ["alert_id", "household_id", "policy_version", "model_version", "reason_text",
                                   "event_id", "recusal"])
def test_alerts_with_a_nul_byte_are_refused(field):
    from workbench.alerts import validate_alert

    alert = make_alert("a-1", recusal=["S-1"])
    if field == "reason_text":
        alert["reasons"][0]["text"] += NUL
    elif field == "event_id":
        alert["reasons"][0]["event_ids"] = ["yb\x00-1"]
    elif field == "recusal":
        alert["recusal_staff_ids"] = ["S-\x001"]
    else:
        alert[field] = alert[field] + NUL
    error = code_of(validate_alert, alert)
    assert error.code == "CONTROL_CHARACTER", error


def test_deeply_nested_alert_is_refused_not_crashed():
    from workbench.alerts import validate_alert

    deep: object = "x"
    for _ in range(1000):
        deep = [deep]
    alert = make_alert("a-deep")
    alert["reasons"][0]["extra"] = deep
    assert code_of(validate_alert, alert).code == "TOO_DEEP"


# --- the roster connector: a department's NUL byte never leaves the connector ------------------------


@pytest.mark.broker
def test_roster_connector_dead_letters_a_household_id_with_a_nul_byte(broker, tmp_path):
    from streams.config import REGISTRY_TOPIC
    from tests.connector_fixtures import distinct_person, settle, write_jsonl
    from tests.connector_fixtures import read_topic as read_raw

    root, state = tmp_path / "drop", tmp_path / "state"
    path = write_jsonl(root / "civil_affairs_roster" / "changes.jsonl", [
        {"household_id": "HH-NUL\u0000", "division_code": "420106002003", "coverage": "dibao",
         "monthly_income_yuan": 900, "members": [{"person_id": distinct_person(), "relation": "head"}]},
        {"household_id": "HH-GOOD", "division_code": "420106002003", "coverage": "dibao",
         "monthly_income_yuan": 900, "members": [{"person_id": distinct_person(), "relation": "head"}]},
    ])
    settle(path)
    done = subprocess.run([sys.executable, "-m", "streams.cli", "connector", "roster", "--root", str(root),
                           "--state-dir", str(state), "--broker", broker.url, "--once", "--settle", "0.5",
                           "--no-progress"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    registry = [r["key"] for r in read_raw(broker.bootstrap, REGISTRY_TOPIC, expect=1)]
    assert registry == ["HH-GOOD"]
    (letter,) = [r["value"] for r in read_raw(broker.bootstrap, DEADLETTER_TOPIC, expect=1)]
    assert letter["reason"] == "CONTROL_CHARACTER" and letter["field"] == "household_id" and letter["row"] == 1


# --- the alert sink on SQLite and PostgreSQL -------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_broker():
    from streams.broker import embedded_broker

    with embedded_broker() as running:
        yield running


def _refuse_households_in_database(engine, prefix: str) -> None:  # noqa: ANN001
    """A real refusal by the database (not by the validator): a CHECK constraint, or a trigger on SQLite."""
    from sqlalchemy import text

    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"ALTER TABLE wb_alerts ADD CONSTRAINT test_refused CHECK (household_id NOT LIKE '{prefix}%')"))
        else:
            conn.execute(text(f"CREATE TRIGGER test_refused BEFORE INSERT ON wb_alerts WHEN NEW.household_id LIKE "
                              f"'{prefix}%' BEGIN SELECT RAISE(ABORT, 'refused by the test constraint'); END"))


@pytest.mark.broker
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sink_dead_letters_the_refused_and_stores_the_good_ones_behind(shared_broker, tmp_path, backend, caplog):
    from sqlalchemy import func, select

    from streams.broker import create_topics
    from tests.workbench_fixtures import postgres_schema
    from workbench import db
    from workbench.alerts import by_alert_id
    from workbench.sink import AlertSink
    from workbench.tables import Alert

    run = uuid.uuid4().hex[:8]
    topic = f"test.alerts.{run}"
    create_topics(shared_broker.url, [topic], partitions=2)
    pid = resident(int(run, 16) % 900 + 30)
    with_nul = make_alert(f"nul-{run}", household=f"hh-a-{run}")
    with_nul["policy_version"] = "policy-2026.1\u0000"
    refused = make_alert(f"ref-{run}", household=f"hh-refused-{run}", reason_text=f"身份证 {pid} 的住院费用")
    good = [make_alert(f"good-{run}-{i}", household=f"hh-{'a' if i < 2 else 'b'}-{run}") for i in range(4)]
    records = [(with_nul["household_id"], with_nul), (good[0]["household_id"], good[0]),
               (refused["household_id"], refused), (good[1]["household_id"], good[1]),
               (good[2]["household_id"], good[2]), (good[3]["household_id"], good[3])]
    produce(shared_broker.url, topic, records)

    def check(engine, sessions) -> None:  # noqa: ANN001
        db.upgrade(engine)
        _refuse_households_in_database(engine, "hh-refused-")
        sink = AlertSink(sessions, shared_broker.url, group_id=f"wb-{run}", topic=topic)
        try:
            deadline = time.monotonic() + 60
            caplog.set_level(logging.DEBUG)
            while sink.ingested < len(records):
                assert time.monotonic() < deadline, f"only {sink.ingested} of {len(records)} alerts read"
                sink.poll_once(timeout_ms=500)  # raises if a batch fails: it must not
            consumer = sink._consumer  # (tansu's ListOffsets "latest" is not the true end: count instead)
            committed = {tp: consumer.committed(tp) or 0 for tp in consumer.assignment()}
            assert sum(committed.values()) == len(records), committed  # every offset committed, the refused too
            assert all(committed[tp] == consumer.position(tp) for tp in committed)
        finally:
            sink.stop()
        with sessions() as session:
            for alert in good:
                assert by_alert_id(session, alert["alert_id"]) is not None, alert["alert_id"]
            assert session.scalar(select(func.count()).select_from(Alert)) == len(good)
        letters = [r["value"] for r in read_topic(shared_broker.url, DEADLETTER_TOPIC,
                   lambda rs: sum(r["value"].get("topic") == topic for r in rs) >= 2) if r["value"].get("topic") == topic]
        reasons = {json.loads(letter["input"])["alert_id"]: letter["reason"] for letter in letters}
        assert reasons == {with_nul["alert_id"]: "CONTROL_CHARACTER", refused["alert_id"]: "DATABASE_REFUSED"}
        assert pid not in caplog.text  # the refusal was logged, its resident ID masked
        assert "refused by the database" in caplog.text

    if backend == "sqlite":
        engine = db.make_engine(f"sqlite:///{tmp_path / 'sink.sqlite3'}")
        check(engine, db.session_factory(engine))
        engine.dispose()
        return
    with postgres_schema() as (url, schema):
        engine = db.make_engine(url, schema=schema)
        check(engine, db.session_factory(engine))
        engine.dispose()
