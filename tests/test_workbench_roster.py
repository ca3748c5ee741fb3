"""The roster in the workbench, on SQLite and PostgreSQL: the roster sink on the real broker (a redelivered record adds
nothing, a bad one is dead-lettered with its reason, offsets after the database), the household file's roster
(members masked, coverage history, income against the standard, address, phone masked), the audited phone reveal for
the bureau and the task holder only, `hardship serve --roster FILE`."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from sqlalchemy import func, select

from streams.config import DEADLETTER_TOPIC, REGISTRY_TOPIC
from tests.workbench_fixtures import DIVISION, OTHER_STREET, env_on, make_alert, produce, read_topic, resident

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
PHONE = "13812341234"


def child(base: int) -> str:
    from datetime import date

    return resident(base + 1, date(2015, 3, 9))


def roster_record(household: str, coverage: str = "none", recorded_at: str = "2026-01-01T00:00:00+08:00", *,
                  division: str = DIVISION, base: int = 300, **extra) -> dict:  # noqa: ANN003
    return {"household_id": household, "division_code": division, "coverage": coverage, "monthly_income_yuan": 1500,
            "recorded_at": recorded_at, "address": "武汉市武昌区中山路12号3栋2单元501室", "contact_phone": PHONE,
            "members": [{"person_id": resident(base), "relation": "head", "monthly_income_yuan": 1000},
                        {"person_id": child(base), "relation": "child",
                         "monthly_income_yuan": 200}], **extra}


def versions(env, household: str) -> list:  # noqa: ANN001
    from workbench.roster import versions_of

    with env.wb.sessions() as session:
        return [(v.coverage, v.recorded_at is not None) for v in versions_of(session, household)]


@pytest.fixture(scope="module")
def broker():
    from streams.broker import embedded_broker

    with embedded_broker() as running:
        yield running


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_roster_sink_keeps_versions_once_and_dead_letters_bad_records(backend, broker, tmp_path):
    from workbench.roster import RosterSink
    from workbench.tables import RosterPerson, RosterVersion

    run = uuid.uuid4().hex[:8]
    household = f"hh-{run}"
    first = roster_record(household)
    changed = roster_record(household, "dibao", "2026-03-01T00:00:00+08:00")
    bad = dict(roster_record(f"bad-{run}"), coverage="rich")
    with env_on(backend, tmp_path, broker=broker.url) as env:
        produce(broker.url, REGISTRY_TOPIC, [(household, first), (household, first), (household, changed),
                                             (f"bad-{run}", bad), (f"x-{run}", b"{not json " + run.encode())])
        sink = RosterSink(env.wb.sessions, broker.url, group_id=f"wb-roster-{run}", clock=env.clock)
        try:
            deadline = time.monotonic() + 40
            while sink.ingested < 5:
                assert time.monotonic() < deadline, f"the roster sink read {sink.ingested} of 5"
                sink.poll_once(timeout_ms=500)
            committed = {tp: sink._consumer.committed(tp) for tp in sink._consumer.assignment()}
            assert sum(v or 0 for v in committed.values()) >= 5  # offsets committed after the database
        finally:
            sink.stop()
        assert versions(env, household) == [("none", True), ("dibao", True)]  # the redelivered record added nothing
        dead = read_topic(broker.url, DEADLETTER_TOPIC,
                          lambda rs: sum(1 for r in rs if run in str(r["value"].get("input"))) >= 2)
        mine = [r["value"] for r in dead if run in str(r["value"].get("input"))]
        assert sorted((d["stream"], d["reason"], d["topic"]) for d in mine) == [
            ("registry", "BAD_COVERAGE", REGISTRY_TOPIC), ("registry", "MALFORMED_JSON", REGISTRY_TOPIC)]
        # the whole topic delivered again (a new consumer group from the start): still two versions, one member set
        again = RosterSink(env.wb.sessions, broker.url, group_id=f"wb-roster-again-{run}", clock=env.clock)
        try:
            deadline = time.monotonic() + 40
            while again.ingested < 5:
                assert time.monotonic() < deadline
                again.poll_once(timeout_ms=500)
        finally:
            again.stop()
        with env.wb.sessions() as session:
            assert session.scalar(select(func.count()).select_from(RosterVersion)
                                  .where(RosterVersion.household_id == household)) == 2
            assert session.scalar(select(func.count()).select_from(RosterPerson)
                                  .where(RosterPerson.household_id == household)) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_household_file_shows_the_roster_masked(backend, tmp_path):
    """Members (IDs masked, relation, age, income), coverage now and its history, the roster's income per head
    against the standard, the address, the phone masked; a late older version does not become the current one."""
    from workbench.roster import upsert_roster

    with env_on(backend, tmp_path) as env:
        with env.wb.sessions() as session:
            upsert_roster(session, roster_record("hh-r1", "none", "2026-01-01T00:00:00+08:00"), env.clock())
            upsert_roster(session, roster_record("hh-r1", "dibao", "2026-06-01T00:00:00+08:00",
                                                 dibao_standard_yuan=1000), env.clock())
            # an older version arriving late: kept in the history, not the current one
            late, created = upsert_roster(session, roster_record("hh-r1", "edge", "2026-03-01T00:00:00+08:00"), env.clock())
            assert created
            assert upsert_roster(session, roster_record("hh-r1", "edge", "2026-03-01T00:00:00+08:00"), env.clock())[1] is False
            upsert_roster(session, roster_record("hh-far", division=OTHER_STREET, base=320), env.clock())
            session.commit()
        env.ingest(make_alert("hh-r1/missed_coverage/1", household="hh-r1"),
                   make_alert("hh-far/missed_coverage/1", household="hh-far"))  # alert here, roster of another street
        number = env.number("hh-r1/missed_coverage/1")
        body = env.call("GET", f"/api/v1/alerts/{number}/household", "street")
        assert body.status_code == 200, body.text
        assert resident(300) not in body.text and PHONE not in body.text
        roster = body.json()["roster"]
        assert roster["coverage"] == "dibao" and roster["versions"] == 3
        assert [h["coverage_label"] for h in roster["coverage_history"]] == ["无", "低保边缘", "最低生活保障"]
        assert roster["coverage_history"][0]["recorded_at"].startswith("2026-01-01")
        assert [m["person_id"] for m in roster["members"]] == [resident(300)[:6] + "********" + resident(300)[-4:],
                                                               child(300)[:6] + "********" + child(300)[-4:]]
        assert [(m["relation_label"], m["age"], m["monthly_income_yuan"]) for m in roster["members"]] == [
            ("户主", 58, 1000), ("子女", 11, 200)]
        # the members' incomes are given: the household's is their sum (1,200), 600 a head against 1,000
        assert (roster["monthly_income_yuan"], roster["per_capita_income_yuan"], roster["dibao_standard_yuan"],
                roster["per_capita_vs_standard"]) == (1200, 600, 1000, 0.6)
        assert roster["address"] == "武汉市武昌区中山路12号3栋2单元501室" and roster["contact_phone"] == "138****1234"
        assert roster["may_reveal_phone"] is False  # the street office sees it masked
        # the standard from the policy file when the record has none
        far = env.call("GET", env.alert_url("hh-far/missed_coverage/1", "household"), "bureau").json()["roster"]
        assert far["dibao_standard_yuan"] > 0 and far["may_reveal_phone"] is True
        # the street of the alert's division reads the alert but not a roster recorded in another street
        assert env.call("GET", env.alert_url("hh-far/missed_coverage/1", "household"), "street").json()["roster"] is None
        # the page
        from tests.test_workbench_bureau import page_login

        page_login(env, "street")
        page = env.client.get(f"/alerts/{number}/household").text
        assert 'id="members"' in page and "户主" in page and "子女" in page and resident(300) not in page
        assert 'id="coverage-history"' in page and "低保边缘" in page and "最低生活保障" in page
        assert "武汉市武昌区中山路12号3栋2单元501室" in page and "138****1234" in page and PHONE not in page
        assert "600.00 元（2 人）" in page and "低保标准 1,000 元/月，为标准的 60%" in page
        assert 'id="reveal-phone"' not in page  # not the street's to reveal


@pytest.mark.parametrize("backend", BACKENDS)
def test_phone_reveal_for_the_bureau_and_the_task_holder_only_audited(backend, tmp_path):
    from workbench.roster import upsert_roster

    with env_on(backend, tmp_path) as env:
        with env.wb.sessions() as session:
            upsert_roster(session, roster_record("hh-p1"), env.clock())
            upsert_roster(session, roster_record("hh-p2", base=340), env.clock())
            session.commit()
        env.ingest(make_alert("hh-p1/missed_coverage/1", household="hh-p1"),
                   make_alert("hh-p2/missed_coverage/1", household="hh-p2", recusal=["S-BUREAU"]))
        url = env.alert_url("hh-p1/missed_coverage/1", "household/reveal")
        bureau = env.call("POST", url, "bureau")
        assert bureau.status_code == 200 and bureau.json()["contact_phone"] == PHONE
        for who, status in (("street", 403), ("officer_a", 403), ("officer_b", 403), ("auditor", 403),
                            ("street_other", 404), ("bureau_far", 404)):
            refused = env.call("POST", url, who)
            assert refused.status_code == status, (who, refused.text)
            assert PHONE not in refused.text
        # a recused bureau member (回避) may not either
        assert env.call("POST", env.alert_url("hh-p2/missed_coverage/1", "household/reveal"), "bureau").status_code == 403
        # the officer who holds the open task may, on the task page, until the task is done
        task = env.call("POST", env.alert_url("hh-p1/missed_coverage/1", "confirm"), "bureau").json()["task"]
        holder = task["assignee"]
        other = "officer_b" if holder == "officer_a" else "officer_a"
        assert env.call("POST", url, holder).json()["contact_phone"] == PHONE
        assert env.call("POST", url, other).status_code == 403
        from tests.test_workbench_bureau import csrf_of, page_login

        token = page_login(env, holder)
        cards = env.client.get("/tasks").text  # the officer's card carries the address
        assert 'data-label="住址">武汉市武昌区中山路12号3栋2单元501室' in cards and PHONE not in cards
        page = env.client.get(f"/tasks/{task['task_id']}").text
        assert 'id="task-address"' in page and "中山路12号" in page and "138****1234" in page and PHONE not in page
        assert 'id="reveal-phone"' in page
        shown = env.client.post(f"/tasks/{task['task_id']}/contact", data={"csrf": token})
        assert shown.status_code == 200 and PHONE in shown.text and "已记入审计" in shown.text
        assert env.client.post(f"/tasks/{task['task_id']}/contact", data={}).status_code == 403  # no CSRF token
        env.call("POST", f"/api/v1/tasks/{task['task_id']}/visit", holder, json={
            "method": "home_visit", "finding": "入户核实情况属实", "result": "confirmed"})
        env.call("POST", f"/api/v1/tasks/{task['task_id']}/review", "street", json={"decision": "approve"})
        assert env.call("POST", url, holder).status_code == 403  # the task is done
        # the bureau on the household page
        token = page_login(env, "bureau")
        number = env.number("hh-p1/missed_coverage/1")
        page = env.client.get(f"/alerts/{number}/household").text
        assert 'id="reveal-phone"' in page and PHONE not in page
        shown = env.client.post(f"/alerts/{number}/household/reveal", data={"csrf": csrf_of(page)})
        assert shown.status_code == 200 and PHONE in shown.text
        assert token
        # every reveal audited, as a sentence, the phone itself never in the log
        audit = env.call("GET", "/api/v1/audit", "auditor", params={"action": "reveal"}).json()["items"]
        phone_reveals = [e for e in audit if e["target_type"] == "household"]
        assert len(phone_reveals) == 4 and PHONE not in str(audit)
        assert {e["actor"] for e in phone_reveals} == {"bureau", holder}
        assert phone_reveals[0]["sentence"] == "查看户 hh-p1的明文：联系电话"


@pytest.mark.parametrize("backend", BACKENDS)
def test_search_by_a_roster_members_resident_id(backend, tmp_path):
    from workbench.roster import upsert_roster

    with env_on(backend, tmp_path) as env:
        with env.wb.sessions() as session:
            upsert_roster(session, roster_record("hh-s1", base=360), env.clock())
            session.commit()
        env.ingest(make_alert("hh-s1/missed_coverage/1", household="hh-s1"))
        hits = env.call("POST", "/api/v1/households/search", "street", json={"q": child(360)}).json()["items"]
        assert [h["household_id"] for h in hits] == ["hh-s1"] and child(360) not in str(hits)
        assert env.call("POST", "/api/v1/households/search", "street_other", json={"q": child(360)}).json()["items"] == []
        # a member who left: the newer version without them no longer finds the household by their ID
        with env.wb.sessions() as session:
            record = roster_record("hh-s1", recorded_at="2026-05-01T00:00:00+08:00", base=360)
            record["members"] = record["members"][:1]
            upsert_roster(session, record, env.clock())
            session.commit()
        assert env.call("POST", "/api/v1/households/search", "street", json={"q": child(360)}).json()["items"] == []
        searches = env.call("GET", "/api/v1/audit", "auditor", params={"action": "household_search"}).json()["items"]
        assert len(searches) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_roster_household_without_alerts_has_a_file(backend, tmp_path):
    """Found by its id or a member's resident ID, its file holds the roster alone (masked); outside the reader's
    divisions, or not on the roster, it is 404 and the search finds nothing."""
    from workbench.roster import upsert_roster

    with env_on(backend, tmp_path) as env:
        with env.wb.sessions() as session:
            upsert_roster(session, roster_record("hh-q1", "dibao", base=380), env.clock())
            session.commit()
        hits = env.call("POST", "/api/v1/households/search", "street", json={"q": "hh-q1"}).json()["items"]
        assert hits == [{"number": None, "household_id": "hh-q1", "alerts": 0, "url": "/households/hh-q1"}]
        by_member = env.call("POST", "/api/v1/households/search", "street", json={"q": child(380)}).json()["items"]
        assert [h["url"] for h in by_member] == ["/households/hh-q1"] and child(380) not in str(by_member)
        body = env.call("GET", "/api/v1/households/hh-q1", "street")
        assert body.status_code == 200, body.text
        file = body.json()
        assert file["alerts"] == [] and file["roster"]["coverage"] == "dibao"
        assert resident(380) not in body.text and PHONE not in body.text and "138****1234" in body.text
        for who in ("street_other", "bureau_far"):
            assert env.call("GET", "/api/v1/households/hh-q1", who).status_code == 404
            assert env.call("POST", "/api/v1/households/search", who, json={"q": "hh-q1"}).json()["items"] == []
        missing = env.call("GET", "/api/v1/households/hh-nowhere", "street")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
        from tests.test_workbench_bureau import csrf_of, page_login

        page_login(env, "street")
        search = env.client.get("/households").text
        found = env.client.post("/households", data={"csrf": csrf_of(search), "q": "hh-q1"}, follow_redirects=True)
        assert found.status_code == 200 and 'id="members"' in found.text and "最低生活保障" in found.text
        assert "档案只有民政名册" in found.text and resident(380) not in found.text and 'id="reveal-phone"' not in found.text


def test_serve_loads_a_roster_file_and_reports_refused_lines(tmp_path):
    import json

    from click.testing import CliRunner

    from workbench.cli import serve

    lines = [json.dumps(roster_record("hh-f1"), ensure_ascii=False), json.dumps(roster_record("hh-f1")),
             json.dumps(dict(roster_record("hh-f2"), contact_phone="call me")), "{broken", "",
             json.dumps(roster_record("hh-f1", "dibao", "2026-02-01"))]
    path = tmp_path / "registry.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    database = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    result = runner.invoke(serve, ["--database", database, "--roster", str(path), "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "roster file: 2 version(s) added, 1 already known, 2 line(s) refused" in result.output
    assert re.search(r"registry\.jsonl:3: BAD_PHONE", result.output) and "registry.jsonl:4: " in result.output
    again = runner.invoke(serve, ["--database", database, "--roster", str(path), "--no-serve"])
    assert "0 version(s) added, 3 already known" in again.output
    assert "--roster" in runner.invoke(serve, ["--help"]).output


def test_registry_contact_fields_are_optional_and_checked():
    from models.validation import Rejected, validate_registry

    plain = roster_record("hh-v")
    del plain["address"], plain["contact_phone"]
    assert "address" not in validate_registry(plain) and "contact_phone" not in validate_registry(plain)
    full = validate_registry(roster_record("hh-v"))
    assert full["address"].startswith("武汉市") and full["contact_phone"] == PHONE
    assert validate_registry(dict(plain, contact_phone="027-8888 6666"))["contact_phone"] == "027-8888 6666"
    for field, value, code in (("contact_phone", "phone", "BAD_PHONE"), ("contact_phone", "12", "BAD_PHONE"),
                               ("address", "一行\n两行", "BAD_TEXT"), ("address", "长" * 201, "BAD_TEXT"),
                               ("address", "住\x00址", "CONTROL_CHARACTER")):
        with pytest.raises(Rejected) as refused:
            validate_registry(dict(plain, **{field: value}))
        assert refused.value.code == code, (field, value)


def test_simulated_roster_carries_invented_address_and_phone():
    from connectors.simulator import generate
    from models.validation import validate_registry

    world = generate(households=200, days=5)
    records = [validate_registry(r) for r in world.registry]
    assert all(r["address"].startswith("武汉市武昌区") and "单元" in r["address"] for r in records)
    phones = [r.get("contact_phone") for r in records]
    assert sum(p is not None for p in phones) > 150 and all(re.fullmatch(r"1\d{10}|027-8\d{7}", p) for p in phones if p)
    # the contacts come from a stream of their own: the rest of the record is what it was without them
    again = generate(households=200, days=5)
    assert world.registry == again.registry


@pytest.mark.broker
@pytest.mark.slow
def test_serve_with_a_broker_runs_the_roster_sink(broker, tmp_path):
    """`hardship serve --broker` (what `hardship demo` starts): the simulated district's roster reaches the household
    file, address and masked phone included."""
    import httpx

    from connectors.simulator import generate
    from streams.broker import free_port
    from streams.config import ALERTS_TOPIC
    from workbench.runner import start_subprocess

    world = generate(households=40, days=5, seed=int(uuid.uuid4().hex[:6], 16))
    record = next(r for r in world.registry if r.get("contact_phone"))
    produce(broker.url, REGISTRY_TOPIC, [(r["household_id"], r) for r in world.registry])
    alert = make_alert(f"{record['household_id']}/missed_coverage/1", household=record["household_id"],
                       division=record["division_code"])
    produce(broker.url, ALERTS_TOPIC, [(record["household_id"], alert)])
    log = tmp_path / "serve.log"
    handle = start_subprocess(port=free_port(), database=f"sqlite:///{tmp_path / 'serve.sqlite3'}", broker=broker.url,
                              data_dir=tmp_path, log_path=log,
                              extra_args=["--seed-users", record["division_code"], "--seed-password", "demo-password-42"])
    try:
        assert "roster sink: reading hardship.registry" in log.read_text(encoding="utf-8")
        bureau = next(line.split()[1] for line in log.read_text(encoding="utf-8").splitlines()
                      if line.strip().startswith("bureau "))
        token = httpx.post(handle.url + "/api/v1/token", json={"username": bureau, "password": "demo-password-42"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        deadline = time.monotonic() + 60
        roster = None
        while roster is None:
            assert time.monotonic() < deadline, "the roster did not reach the household file"
            items = httpx.get(handle.url + "/api/v1/alerts", headers=headers).json()["items"]
            if items:
                file = httpx.get(handle.url + f"/api/v1/alerts/{items[0]['number']}/household", headers=headers).json()
                roster = file["roster"]
            if roster is None:
                time.sleep(0.5)
        assert roster["address"] == record["address"] and roster["contact_phone"] != record["contact_phone"]
        assert roster["contact_phone"].endswith(record["contact_phone"][-4:]) and len(roster["members"]) == len(record["members"])
    finally:
        handle.stop()
