"""The alert sink and the running server on the real embedded broker: offsets follow the database, outcomes leave by the outbox."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from streams.broker import free_port
from streams.config import ALERTS_TOPIC, OUTCOMES_TOPIC
from tests.workbench_fixtures import PASSWORD, USERS, make_alert, produce, read_topic, resident
from workbench.masking import mask_text

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture(scope="module")
def broker():
    from streams.broker import embedded_broker

    with embedded_broker() as running:
        yield running


def test_offsets_are_committed_only_after_the_database(broker, tmp_path, monkeypatch):
    from workbench import db
    from workbench import sink as sink_module
    from workbench.alerts import by_alert_id
    from workbench.sink import AlertSink

    engine = db.make_engine(f"sqlite:///{tmp_path / 'sink.sqlite3'}")
    db.upgrade(engine)
    sessions = db.session_factory(engine)
    run = uuid.uuid4().hex[:8]
    group = f"wb-crash-{run}"
    produce(broker.url, ALERTS_TOPIC, [(f"hh-{run}", make_alert(f"c-{run}"))])

    def broken(*_args, **_kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(sink_module, "upsert_alert", broken)
    first = AlertSink(sessions, broker.url, group_id=group)
    deadline = time.monotonic() + 40
    with pytest.raises(RuntimeError, match="went away"):
        while time.monotonic() < deadline:
            first.poll_once(timeout_ms=500)
    assert all(first._consumer.committed(tp) in (None, 0) for tp in first._consumer.assignment())
    first.stop()
    monkeypatch.undo()

    second = AlertSink(sessions, broker.url, group_id=group)  # the same group reads the alert again
    try:
        deadline = time.monotonic() + 40
        while second.ingested == 0:
            assert time.monotonic() < deadline
            second.poll_once(timeout_ms=500)
    finally:
        second.stop()
    with sessions() as session:
        assert by_alert_id(session, f"c-{run}") is not None
    engine.dispose()


def test_running_workbench_reads_alerts_and_sends_outcomes(broker, tmp_path):
    """`start_in_process` as `hardship demo` calls it: HTTP, the sink thread and the outcome publisher together."""
    from workbench import db
    from workbench.runner import start_in_process
    from workbench.tables import User  # noqa: F401 - tables registered before create_user
    from workbench.users import create_user

    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    with db.session_factory(engine)() as session:
        from datetime import UTC, datetime

        for username, role, scopes, staff_id in USERS[:3]:
            create_user(session, None, username=username, display_name=username, role=role, scopes=scopes,
                        password=PASSWORD, staff_id=staff_id, now=datetime.now(UTC))
        session.commit()
    engine.dispose()
    run = uuid.uuid4().hex[:8]
    household = "person:" + resident(int(run, 16) % 900 + 20)
    handle = start_in_process(port=free_port(), database=url, broker=broker.url, data_dir=tmp_path)
    try:
        alert_id = f"{household}/missed_coverage/1"
        produce(broker.url, ALERTS_TOPIC, [(household, make_alert(alert_id, household=household))])
        with httpx.Client(base_url=handle.url, timeout=10) as client:
            def token(user):  # noqa: ANN001, ANN202
                body = client.post("/api/v1/token", json={"username": user, "password": PASSWORD}).json()
                return {"Authorization": f"Bearer {body['access_token']}"}

            bureau = token("bureau")
            deadline = time.monotonic() + 40
            masked = mask_text(alert_id)
            while not (found := [i for i in client.get("/api/v1/alerts", headers=bureau).json()["items"]
                                 if i["alert_id"] == masked]):
                assert time.monotonic() < deadline, "the sink did not deliver the alert"
                time.sleep(0.3)
            task = client.post(f"/api/v1/alerts/{found[0]['number']}/confirm", headers=bureau).json()["task"]
            assert task["assignee"] == "officer_a"
            visit = client.post(f"/api/v1/tasks/{task['task_id']}/visit", headers=token("officer_a"), json={
                "method": "neighbour_interview", "finding": "邻里访问：家中无收入来源，但已由子女赡养，生活无困难",
                "result": "refuted", "reason": "经邻里访问核实，子女按月赡养，家庭人均收入高于低保标准"})
            assert visit.status_code == 200, visit.text
            approved = client.post(f"/api/v1/tasks/{task['task_id']}/review", headers=bureau, json={"decision": "approve"})
            assert approved.status_code == 200, approved.text  # the street office's review sends the outcome
            records = read_topic(broker.url, OUTCOMES_TOPIC, lambda rs: any(r["value"]["alert_id"] == alert_id for r in rs))
            outcome = next(r["value"] for r in records if r["value"]["alert_id"] == alert_id)
            assert outcome["decision"] == "dismissed" and outcome["visit_method"] == "neighbour_interview"
            assert outcome["reason"].startswith("经邻里访问核实")
            metrics = client.get("/metrics").text
            created = re.search(r'hardship_workbench_alerts_ingested_total\{result="created"\} ([0-9.]+)', metrics)
            assert created and float(created.group(1)) >= 1  # earlier tests' alerts on the topic count too
            assert "hardship_workbench_outcomes_published_total 1.0" in metrics
    finally:
        handle.stop()
