"""Workbench API on SQLite and on the real PostgreSQL: alert → confirm → task → visit → outcome, dismissal, recusal, due dates."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text

from models.validation import validate_outcome
from streams.config import ALERTS_TOPIC, DEADLETTER_TOPIC, OUTCOMES_TOPIC
from tests.workbench_fixtures import DIVISION, OTHER_STREET, env_on, make_alert, produce, read_topic, resident

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def broker():
    from streams.broker import embedded_broker

    with embedded_broker() as running:
        yield running


def drain(sink, count: int, timeout: float = 40.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while sink.ingested < count:
        assert time.monotonic() < deadline, f"sink read {sink.ingested} of {count}"
        sink.poll_once(timeout_ms=500)


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_full_path_alert_to_outcome(backend, broker, tmp_path):
    """Kafka alert → sink (upsert, replay) → confirm → task → visit → confirmed outcome on hardship.outcomes."""
    from workbench.sink import AlertSink

    run = uuid.uuid4().hex[:8]
    household = "person:" + resident(int(run, 16) % 900 + 50)
    alert_id = f"{household}/missed_coverage/1"  # the form scoring/household.py gives: a resident ID and slashes
    alert = make_alert(alert_id, household=household, level=4)
    bad = dict(make_alert(f"bad-{run}"), level=9)
    with env_on(backend, tmp_path, broker=broker.url) as env:
        produce(broker.url, ALERTS_TOPIC, [(household, alert), (household, alert), ("x", bad), ("y", b"{not json")])
        sink = AlertSink(env.wb.sessions, broker.url, group_id=f"wb-test-{run}", metrics=env.wb.metrics, clock=env.clock)
        try:
            drain(sink, 4)
            # the replayed alert updated nothing and added nothing; the bad ones went to the dead letters
            from workbench.alerts import by_alert_id
            from workbench.tables import Alert

            with env.wb.sessions() as session:
                assert session.scalar(select(func.count()).select_from(Alert).where(Alert.alert_id == alert_id)) == 1
                assert by_alert_id(session, alert_id).versions == 1
                assert by_alert_id(session, f"bad-{run}") is None
            dead = read_topic(broker.url, DEADLETTER_TOPIC,
                              lambda rs: sum(1 for r in rs if f"bad-{run}" in str(r["value"].get("input"))) >= 1)
            assert any(r["value"]["reason"] == "BAD_LEVEL" for r in dead)
            # offsets were committed after the database: a new consumer of the group sees nothing left
            sink._consumer.commit()
            committed = {tp: sink._consumer.committed(tp) for tp in sink._consumer.assignment()}
            assert sum(v or 0 for v in committed.values()) >= 4
        finally:
            sink.stop()

        queue = env.call("GET", "/api/v1/alerts", "bureau")
        assert household[7:] not in queue.text  # the resident ID inside household_id and alert_id is masked
        item = next(i for i in queue.json()["items"] if i["number"] == env.number(alert_id))
        assert item["household_id"].startswith("person:420106********")
        assert item["alert_id"] == "person:" + household[7:13] + "********" + household[-4:] + "/missed_coverage/1"
        confirmed = env.call("POST", env.alert_url(alert_id, "confirm"), "bureau")
        assert confirmed.status_code == 200, confirmed.text
        task = confirmed.json()["task"]
        assert task["assignee"] in {"officer_a", "officer_b"} and task["due_date"] == "2026-11-05"
        assert env.call("POST", env.alert_url(alert_id, "confirm"), "bureau").status_code == 409
        visit = env.call("POST", f"/api/v1/tasks/{task['task_id']}/visit", task["assignee"], json={
            "method": "home_visit", "finding": "户主住院，个人自付医疗费用高，家庭收入低于标准",
            "result": "confirmed", "contact_phone": "13812345678", "bank_card": "6222021234567891234"})
        assert visit.status_code == 200, visit.text
        assert visit.json()["visit"]["contact_phone"] == "138****5678"
        assert visit.json()["visit"]["bank_card"] == "6222 **** **** 1234"
        # the outcome waits for the street office's review (复核, issue 14)
        assert visit.json()["visit"]["review_status"] == "pending"
        approved = env.call("POST", f"/api/v1/tasks/{task['task_id']}/review", "street", json={"decision": "approve"})
        assert approved.status_code == 200, approved.text
        env.wb.publisher.publish_pending()
        records = read_topic(broker.url, OUTCOMES_TOPIC, lambda rs: any(r["value"]["alert_id"] == alert_id for r in rs))
        outcome = next(r for r in records if r["value"]["alert_id"] == alert_id)
        assert outcome["key"] == household
        clean = validate_outcome(outcome["value"])
        assert clean["decision"] == "confirmed" and clean["new_coverage"] == "dibao"
        assert clean["visit_method"] == "home_visit" and clean["decided_by"] == task["assignee"]
        assert outcome["value"]["decided_at"].endswith("+08:00")
        detail = env.call("GET", env.alert_url(alert_id), "bureau").json()
        assert detail["status"] == "closed"
        assert [t["what"] for t in detail["timeline"] if t["what"] != "event"] == ["received", "confirmed", "task", "visit", "review"]


@pytest.mark.broker
@pytest.mark.parametrize("backend", BACKENDS)
def test_dismissal_needs_a_written_reason_and_sends_its_outcome(backend, broker, tmp_path):
    run = uuid.uuid4().hex[:8]
    with env_on(backend, tmp_path, broker=broker.url) as env:
        env.ingest(make_alert(f"d-{run}", kind="should_exit"))
        for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "无"}):
            refused = env.call("POST", env.alert_url(f"d-{run}", "dismiss"), "bureau", json=body)
            assert refused.status_code == 422 and refused.json()["error"]["code"] == "MISSING_REASON"
        assert env.call("GET", env.alert_url(f"d-{run}"), "bureau").json()["status"] == "new"
        reason = "经核对，该户新增收入为一次性劳务报酬，家庭人均收入仍低于低保标准"
        done = env.call("POST", env.alert_url(f"d-{run}", "dismiss"), "bureau", json={"reason": reason})
        assert done.status_code == 200
        env.wb.publisher.publish_pending()
        records = read_topic(broker.url, OUTCOMES_TOPIC, lambda rs: any(r["value"]["alert_id"] == f"d-{run}" for r in rs))
        outcome = validate_outcome(next(r["value"] for r in records if r["value"]["alert_id"] == f"d-{run}"))
        assert outcome["decision"] == "dismissed" and outcome["reason"] == reason
        decisions = env.call("GET", env.alert_url(f"d-{run}"), "auditor").json()["decisions"]
        assert decisions[0]["decided_by"] == "bureau" and decisions[0]["decided_at"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_recusal_holds(backend, tmp_path):
    """A filed close relative never gets, takes or decides the household's task (回避)."""
    with env_on(backend, tmp_path) as env:
        env.ingest(make_alert("r1", recusal=["S-OFF-A"]), make_alert("r2", recusal=["S-OFF-A", "S-OFF-B"]),
                   make_alert("r3", recusal=["S-BUREAU"]), make_alert("f1", kind="filed_relative_check", recusal=["S-OFF-A"]))
        task = env.call("POST", env.alert_url("r1", "confirm"), "bureau").json()["task"]
        assert task["assignee"] == "officer_b"
        refused = env.call("POST", f"/api/v1/tasks/{task['task_id']}/assign", "street", json={"assignee": "officer_a"})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "RECUSED"
        # both officers are relatives: nobody is assigned, and the street cannot assign either of them
        task2 = env.call("POST", env.alert_url("r2", "confirm"), "bureau").json()["task"]
        assert task2["assignee"] is None and task2["status"] == "unassigned"
        for who in ("officer_a", "officer_b"):
            assert env.call("POST", f"/api/v1/tasks/{task2['task_id']}/assign", "street",
                            json={"assignee": who}).status_code == 422
        # a recused bureau member cannot triage
        blocked = env.call("POST", env.alert_url("r3", "confirm"), "bureau")
        assert blocked.status_code == 403 and blocked.json()["error"]["code"] == "RECUSED"
        # a filed relative check goes to the county verifier
        task3 = env.call("POST", env.alert_url("f1", "confirm"), "street").json()["task"]
        assert task3["assignee"] == "verifier"
        assert env.call("POST", f"/api/v1/tasks/{task3['task_id']}/assign", "street",
                        json={"assignee": "officer_b"}).json()["error"]["code"] == "NOT_ELIGIBLE"
        # the relative cannot record the visit of a task they were never given
        assert env.call("POST", f"/api/v1/tasks/{task['task_id']}/visit", "officer_a", json={
            "method": "home_visit", "finding": "试图登记", "result": "confirmed"}).status_code in (403, 404)


@pytest.mark.parametrize("backend", BACKENDS)
def test_due_dates_across_national_day(backend, tmp_path):
    """Confirmed 2026-09-18: 30 working days skip 中秋/国庆 and count the make-up Sundays → 2026-11-05; 45 → 2026-11-26."""
    with env_on(backend, tmp_path) as env:
        env.ingest(make_alert("n1"), make_alert("n2"))
        task = env.call("POST", env.alert_url("n1", "confirm"), "bureau").json()["task"]
        assert (task["start_date"], task["due_date"], task["due_provisional"]) == ("2026-09-18", "2026-11-05", False)
        extended = env.call("POST", f"/api/v1/tasks/{task['task_id']}/extend", "street", json={"reason": "当事人对核查结论有异议"})
        assert extended.json()["due_date"] == "2026-11-26" and extended.json()["extended"] is True
        # late in 2026 the count reaches 2027, which the State Council has not published: provisional, no crash
        env.clock.now = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)
        env.tokens.clear()  # tokens live 12 hours
        late = env.call("POST", env.alert_url("n2", "confirm"), "bureau").json()["task"]
        assert late["due_provisional"] is True and late["due_label"].endswith("（暂定）")
        assert date.fromisoformat(late["due_date"]) > date(2027, 1, 1)
        # overdue once the day is past
        env.clock.now = datetime(2026, 11, 6, 2, 0, tzinfo=UTC)
        env.tokens.clear()
        listed = env.call("GET", "/api/v1/tasks", "bureau").json()
        assert listed["overdue"] == 0  # extended to 11-26
        env.clock.now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
        env.tokens.clear()
        listed = env.call("GET", "/api/v1/tasks?overdue=true", "bureau").json()
        assert [i["task_id"] for i in listed["items"]] == [task["task_id"]] and listed["items"][0]["days_overdue"] == 1
        stats = env.call("GET", "/api/v1/stats", "bureau").json()
        assert stats["overdue_tasks"] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_merge_reveal_export_and_append_only_audit(backend, tmp_path):
    import io

    from openpyxl import load_workbook

    rid = resident(77)
    with env_on(backend, tmp_path) as env:
        env.ingest(make_alert("m1", household="person:" + rid, level=4),
                   make_alert("m2", household="person:" + rid, level=2, reason_text=f"身份证 {rid} 的住院记录"),
                   make_alert("x1", division=OTHER_STREET))
        assert env.call("POST", env.alert_url("m2", "merge"), "bureau", json={"into_alert_id": "x1"}).status_code == 422
        merged = env.call("POST", env.alert_url("m2", "merge"), "bureau", json={"into_alert_id": "m1"})
        assert merged.status_code == 200 and merged.json()["alert"]["merged_into"] == "m1"
        body = env.call("GET", "/api/v1/alerts?status=all", "bureau").text
        assert rid not in body and "420106********" in body
        revealed = env.call("POST", env.alert_url("m1", "reveal"), "bureau").json()
        assert revealed["household_id"] == "person:" + rid
        assert env.call("POST", env.alert_url("m1", "reveal"), "auditor").status_code == 403
        xlsx = env.call("GET", "/api/v1/exports/queue.xlsx?status=all", "bureau")
        assert xlsx.status_code == 200
        cells = [str(c.value) for row in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows() for c in row]
        assert "预警编号" in cells and not any(rid in c for c in cells)
        actions = [e["action"] for e in env.call("GET", "/api/v1/audit", "auditor").json()["items"]]
        assert {"alert_merged", "reveal", "export"} <= set(actions)
        with env.wb.engine.connect() as conn, pytest.raises(Exception, match="append-only"):  # noqa: B017
            conn.execute(text("DELETE FROM wb_audit"))
        with env.wb.engine.connect() as conn, pytest.raises(Exception, match="append-only"):  # noqa: B017
            conn.execute(text("UPDATE wb_audit SET actor = 'someone'"))


def test_metrics_are_served_and_named(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        env.ingest(make_alert("k1"))
        env.call("POST", env.alert_url("k1", "confirm"), "bureau")
        metrics = env.client.get("/metrics").text
        for name in ("hardship_workbench_open_alerts", "hardship_workbench_tasks", "hardship_workbench_overdue_tasks",
                     "hardship_workbench_alert_to_visit_seconds_bucket", "hardship_workbench_decisions_total",
                     "hardship_workbench_logins_total"):
            assert name in metrics
        assert 'hardship_workbench_tasks{status="assigned"} 1.0' in metrics
        assert f'division_code="{DIVISION}"' not in metrics


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_match_the_models(backend, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from workbench.tables import Base

    with env_on(backend, tmp_path) as env, env.wb.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_a_newer_version_updates_and_keeps_the_decision(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        env.ingest(make_alert("u1", level=2, emitted_at="2026-09-18T09:00:00+08:00"))
        env.call("POST", env.alert_url("u1", "confirm"), "bureau")
        env.ingest(make_alert("u1", level=4, score=91, emitted_at="2026-09-19T09:00:00+08:00"))
        env.ingest(make_alert("u1", level=1, score=10, emitted_at="2026-09-17T09:00:00+08:00"))  # older: ignored
        env.ingest(make_alert("u1", level=4, score=91, emitted_at="2026-09-19T09:00:00+08:00"))  # replay: no change
        detail = env.call("GET", env.alert_url("u1"), "bureau").json()
        assert (detail["status"], detail["level"], detail["hardship_score"], detail["versions"]) == ("confirmed", 4, 91.0, 2)
        assert [t["what"] for t in detail["timeline"]].count("updated") == 1
        assert env.call("GET", "/api/v1/alerts?status=all", "bureau").json()["total"] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_missed_assistance_alerts_are_queued_filtered_and_visited(backend, tmp_path):
    """漏救 (临时救助、医疗救助): queued under its own kind and label, visited by the community officer,
    and confirming it leaves the household's coverage as it was (assistance, not dibao)."""
    with env_on(backend, tmp_path) as env:
        env.ingest(make_alert("a1", kind="missed_assistance", level=2), make_alert("c1"))
        queue = env.call("GET", "/api/v1/alerts?kind=missed_assistance", "bureau").json()
        assert [item["kind"] for item in queue["items"]] == ["missed_assistance"]
        assert queue["items"][0]["kind_label"] == "漏救"
        task = env.call("POST", env.alert_url("a1", "confirm"), "bureau").json()["task"]
        assert task["assignee"] in ("officer_a", "officer_b")  # a community officer, not the county verifier
        from workbench.outcomes import CONFIRMED_COVERAGE

        assert CONFIRMED_COVERAGE["missed_assistance"] is None
