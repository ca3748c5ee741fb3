"""Issue 14, on SQLite and PostgreSQL: one API error shape, division names and filters by name, placing a provisional
household's task, the 待分派 explanation, the phone task cards, 应退 led by the removal score."""

from __future__ import annotations

import re

import pytest

from tests.workbench_fixtures import DIVISION, NEIGHBOUR, OTHER_STREET, env_on, make_alert, resident

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
DIVISION_FILE = """# test district
420106000000,武昌区
420106002000,积玉桥街道
420106002003,和平社区
420106002004,新河社区
420106005000,杨园街道
420106005001,和平社区
"""


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def page_login(env, username: str) -> str:  # noqa: ANN001
    from tests.workbench_fixtures import PASSWORD

    client = env.client
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/account").text)


def load_divisions(env) -> None:  # noqa: ANN001
    from workbench.division_names import import_file

    with env.wb.sessions() as session:
        assert import_file(session, DIVISION_FILE, env.clock()) == 6
        session.commit()


def assert_error_shape(response, status: int, code: str | None = None, field: str | None = None) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field"} and error["message"], error
    if code:
        assert error["code"] == code, error
    if field:
        assert error["field"] == field, error
    return error


@pytest.mark.parametrize("backend", BACKENDS)
def test_api_errors_have_one_shape(backend, tmp_path):
    """401 (no token, bad token, bad password), 422 (bad query, bad body, bad JSON), 404 and 405 of FastAPI itself:
    all {"error": {code, message, field}} like the workbench's own errors."""
    with env_on(backend, tmp_path) as env:
        assert_error_shape(env.client.get("/api/v1/alerts"), 401, "UNAUTHORIZED")
        assert_error_shape(env.client.get("/api/v1/alerts", headers={"Authorization": "Bearer nope"}), 401, "UNAUTHORIZED")
        assert_error_shape(env.client.post("/api/v1/token", json={"username": "bureau", "password": "wrong-one"}), 401)
        error = assert_error_shape(env.call("GET", "/api/v1/alerts?level=9", "bureau"), 422, "INVALID", "level")
        assert "level" in error["message"]
        assert_error_shape(env.call("POST", "/api/v1/token", json={"username": "bureau"}), 422, "INVALID", "password")
        assert_error_shape(env.client.post("/api/v1/token", content=b"{not json",
                                           headers={"content-type": "application/json"}), 422, "INVALID")
        assert_error_shape(env.call("GET", "/api/v1/no-such-thing", "bureau"), 404, "NOT_FOUND")
        assert_error_shape(env.call("DELETE", "/api/v1/alerts", "bureau"), 405, "METHOD_NOT_ALLOWED")
        assert_error_shape(env.call("GET", "/api/v1/alerts/99999", "bureau"), 404, "NOT_FOUND")
        # pages keep their own behaviour: a sign-in redirect, not JSON
        assert env.client.get("/queue", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("backend", BACKENDS)
def test_queue_filters_by_name_and_refuses_what_it_cannot_read(backend, tmp_path):
    with env_on(backend, tmp_path) as env:
        load_divisions(env)
        env.ingest(make_alert("a-home"), make_alert("a-neighbour", division=NEIGHBOUR),
                   make_alert("a-other", division=OTHER_STREET))
        # the API: a name of the table, a code, and a clear 422 for the rest
        by_name = env.call("GET", "/api/v1/alerts", "bureau", params={"street": "积玉桥街道"}).json()
        assert by_name["total"] == 2 and {i["street_name"] for i in by_name["items"]} == {"积玉桥街道"}
        assert {i["division_name"] for i in by_name["items"]} == {"积玉桥街道 和平社区", "积玉桥街道 新河社区"}
        assert env.call("GET", "/api/v1/alerts", "bureau", params={"street": "420106002"}).json()["total"] == 2
        community = env.call("GET", "/api/v1/alerts", "bureau", params={"community": "积玉桥街道 和平社区"}).json()
        assert community["total"] == 1 and community["items"][0]["division_code"] == DIVISION
        error = assert_error_shape(env.call("GET", "/api/v1/alerts", "bureau", params={"street": "42010600"}), 422,
                                   "BAD_DIVISION", "street")
        assert "9 或 12 位" in error["message"]
        assert_error_shape(env.call("GET", "/api/v1/alerts", "bureau", params={"street": "不存在街道"}), 422,
                           "UNKNOWN_DIVISION", "street")
        # "和平社区" is a community of two streets: the bureau is told to write it in full
        assert_error_shape(env.call("GET", "/api/v1/alerts", "bureau", params={"community": "和平社区"}), 422,
                           "AMBIGUOUS_DIVISION", "community")
        # a name outside the user's divisions is unknown to them (杨园街道 is not the street office's)
        assert_error_shape(env.call("GET", "/api/v1/alerts", "street", params={"street": "杨园街道"}), 422,
                           "UNKNOWN_DIVISION")
        assert env.call("GET", "/api/v1/alerts", "street", params={"community": "和平社区"}).json()["total"] == 1
        suggestions = env.call("GET", "/api/v1/divisions", "street", params={"level": "community"}).json()["items"]
        assert [s["label"] for s in suggestions] == ["积玉桥街道 和平社区", "积玉桥街道 新河社区"]

        # the page: a clear message (422) and no rows instead of every alert; names shown and suggested
        page_login(env, "bureau")
        refused = env.client.get("/queue", params={"street": "积玉桥"[:2] + "xx"})
        assert refused.status_code == 422 and 'id="filter-error"' in refused.text and "没有名为" in refused.text
        assert "没有符合条件的预警" in refused.text
        short = env.client.get("/queue", params={"street": "42010600"})
        assert short.status_code == 422 and "9 或 12 位数字" in short.text
        named = env.client.get("/queue", params={"street": "积玉桥街道"})
        assert named.status_code == 200 and "共 2 条" in named.text and "积玉桥街道 和平社区" in named.text
        assert '<datalist id="street-names"><option value="积玉桥街道">' in named.text
        assert "区民政局社会救助科 · 武昌区" in named.text  # the header names the user's division too
        assert '<option value="杨园街道 和平社区">' in named.text
        alert_page = env.client.get(env.page_url("a-home"))
        assert "积玉桥街道 和平社区" in alert_page.text and DIVISION in alert_page.text


@pytest.mark.parametrize("backend", BACKENDS)
def test_administrator_loads_and_edits_names_inside_their_divisions(backend, tmp_path):
    with env_on(backend, tmp_path) as env:
        renamed = env.call("PUT", "/api/v1/divisions/420106002003", "admin", json={"name": "积玉桥社区"})
        assert renamed.status_code == 200 and renamed.json() == {"code": "420106002003", "name": "积玉桥社区"}
        assert_error_shape(env.call("PUT", "/api/v1/divisions/420111001001", "admin", json={"name": "别处"}), 403,
                           "OUT_OF_SCOPE")
        assert_error_shape(env.call("PUT", "/api/v1/divisions/420106002003", "bureau", json={"name": "x社区"}), 403)
        assert_error_shape(env.call("PUT", "/api/v1/divisions/4201060020", "admin", json={"name": "x社区"}), 422,
                           "BAD_DIVISION")
        assert_error_shape(env.call("PUT", "/api/v1/divisions/420106002003", "admin", json={"name": "  "}), 422,
                           "MISSING_NAME")
        token = page_login(env, "admin")
        page = env.client.get("/admin/divisions")
        assert page.status_code == 200 and "积玉桥社区" in page.text
        loaded = env.client.post("/admin/divisions/import", data={"csrf": token, "file": "420106002000,积玉桥街道\n"
                                                                  "420106002004,新河社区"}, follow_redirects=True)
        assert "已导入 2 个区划名称" in loaded.text and "积玉桥街道 新河社区" in loaded.text
        outside = env.client.post("/admin/divisions/import", data={"csrf": token, "file": "420111001001,别处社区"})
        assert outside.status_code == 422 and "不在您的辖区内" in outside.text
        broken = env.client.post("/admin/divisions/import", data={"csrf": token, "file": "4201,半行"})
        assert broken.status_code == 422 and "line 1" in broken.text
        assert env.client.post("/admin/divisions", data={"code": "420106002003", "name": "x"}).status_code == 403
        audit = env.call("GET", "/api/v1/audit", "auditor", params={"action": "division_named"}).json()["items"]
        assert len(audit) == 2


def test_division_file_is_checked_line_by_line():
    from workbench.division_names import parse_file

    assert parse_file("\ufeffcode,name\n# c\n420106002000，积玉桥街道\n420106002003\t和平社区\n") == [
        ("420106002000", "积玉桥街道"), ("420106002003", "和平社区")]
    for bad in ("42010600200,短", "420106002003", "020106002003,零开头", "420000000000,省级"):
        with pytest.raises(ValueError, match="line 1"):
            parse_file(bad)


def test_the_demo_division_file_names_every_simulated_division():
    from connectors.simulator import generate
    from streams.demo import DEMO_DIVISIONS
    from workbench.division_names import parse_file

    names = dict(parse_file(DEMO_DIVISIONS.read_text(encoding="utf-8")))
    world = generate(households=300, days=5)
    codes = {record["division_code"] for record in world.registry}
    assert codes and all(code in names for code in codes)
    assert all(code[:9] + "000" in names for code in codes)
    assert names["420106002000"] == "积玉桥街道"


@pytest.mark.parametrize("backend", BACKENDS)
def test_provisional_household_task_is_placed_and_then_seen_by_the_street(backend, tmp_path):
    """A provisional household's alert carries the county (the ID's area): its task is the bureau's until placed
    in a community; then it goes to that community's officer and the street sees it."""
    household = "person:" + resident(777)
    with env_on(backend, tmp_path) as env:
        load_divisions(env)
        env.ingest(make_alert(f"{household}/missed_coverage/1", household=household, division="420106000000"))
        number = env.number(f"{household}/missed_coverage/1")
        task = env.call("POST", f"/api/v1/alerts/{number}/confirm", "bureau").json()["task"]
        assert task["status"] == "unassigned" and task["division_code"] == "420106000000"
        assert env.call("GET", "/api/v1/tasks", "street").json()["total"] == 0
        token = page_login(env, "bureau")
        page = env.client.get(f"/tasks/{task['task_id']}")
        assert 'id="place"' in page.text and "落实所在社区" in page.text and "积玉桥街道 和平社区" in page.text
        wrong = env.client.post(f"/tasks/{task['task_id']}/place", data={"csrf": token, "community": "没有这个社区"})
        assert wrong.status_code == 422 and "没有名为" in wrong.text
        assert_error_shape(env.call("POST", f"/api/v1/tasks/{task['task_id']}/place", "street",
                                    json={"community": DIVISION}), 404)
        placed = env.client.post(f"/tasks/{task['task_id']}/place", data={"csrf": token, "community": "积玉桥街道 和平社区"},
                                 follow_redirects=True)
        assert placed.status_code == 200 and "已落实所在社区并分派" in placed.text
        seen = env.call("GET", "/api/v1/tasks", "street").json()
        assert seen["total"] == 1 and seen["items"][0]["assignee"] in {"officer_a", "officer_b"}
        assert seen["items"][0]["division_name"] == "积玉桥街道 和平社区"
        assert env.call("GET", f"/api/v1/alerts/{number}", "street").status_code == 200
        assert env.call("GET", "/api/v1/tasks", "street_other").json()["total"] == 0
        assert env.call("GET", f"/api/v1/alerts/{number}", "street_other").status_code == 404
        again = env.call("POST", f"/api/v1/tasks/{task['task_id']}/place", "bureau", json={"community": NEIGHBOUR})
        assert_error_shape(again, 409, "ALREADY_PLACED")


@pytest.mark.parametrize("backend", BACKENDS)
def test_unassigned_task_says_why_and_what_to_do(backend, tmp_path):
    """A community with no officer: the street sees the task 待分派 with the reason and the next step; once an
    administrator opens an officer account there, the street assigns it on the same page."""
    with env_on(backend, tmp_path) as env:
        env.ingest(make_alert("lonely", division=NEIGHBOUR))
        task = env.call("POST", env.alert_url("lonely", "confirm"), "street").json()["task"]
        assert task["status"] == "unassigned"
        token = page_login(env, "street")
        page = env.client.get(f"/tasks/{task['task_id']}")
        assert 'id="assign-blocked"' in page.text and "暂无可分派人员" in page.text and "开通民政专干" in page.text
        created = env.call("POST", "/api/v1/users", "admin", json={
            "username": "officer_n", "display_name": "新河专干", "role": "officer", "scopes": [NEIGHBOUR],
            "password": "a-long-passphrase-9"})
        assert created.status_code == 201, created.text
        page = env.client.get(f"/tasks/{task['task_id']}")
        assert 'id="assign-blocked"' not in page.text and 'value="officer_n"' in page.text
        assert "新河专干（社区民政专干，在办 0 件）" in page.text  # the workload beside each name
        done = env.client.post(f"/tasks/{task['task_id']}/assign", data={"csrf": token, "assignee": "officer_n"},
                               follow_redirects=True)
        assert "任务已分派" in done.text and "新河专干" in done.text


@pytest.mark.parametrize("backend", BACKENDS)
def test_titles_phone_cards_and_should_exit_led_by_removal_score(backend, tmp_path):
    with env_on(backend, tmp_path) as env:
        env.ingest(make_alert("filed", kind="filed_relative_check"),
                   dict(make_alert("exit-low", kind="should_exit", level=3, score=95.0), removal_score=60.0),
                   dict(make_alert("exit-high", kind="should_exit", level=3, score=9.6), removal_score=85.4))
        env.call("POST", env.alert_url("filed", "confirm"), "bureau")
        page_login(env, "verifier")
        task_page = env.client.get("/tasks/1")
        assert "备案核查核查" not in task_page.text and "备案核查</h1>" in task_page.text
        cards = env.client.get("/tasks")
        assert 'data-label="户编号"' in cards.text and 'data-label="办结期限"' in cards.text
        # the queue: 应退 sorted by the removal score, which leads the alert page
        items = env.call("GET", "/api/v1/alerts", "bureau", params={"kind": "should_exit"}).json()["items"]
        assert [i["removal_score"] for i in items] == [85.4, 60.0]
        assert items[0]["lead_label"] == "退出指数" and items[0]["lead_score"] == 85.4
        page_login(env, "bureau")
        alert_page = env.client.get(env.page_url("exit-high")).text
        assert re.search(r'<dt>退出指数</dt><dd class="score" id="lead-score">85.4</dd>', alert_page)


def test_phone_css_turns_the_task_table_into_labelled_full_width_cards():
    from pathlib import Path

    import workbench

    css = (Path(workbench.__file__).parent / "static" / "style.css").read_text(encoding="utf-8")
    assert ".tasklist tbody" in css and "attr(data-label)" in css


@pytest.mark.parametrize("backend", BACKENDS)
def test_household_file_and_search(backend, tmp_path):
    """The household file: its alerts, the departments' events described (not bare ids), decisions, tasks and
    visits in time order; search by household id, or by resident ID (POST only, audited masked); nothing outside
    the divisions."""
    rid = resident(612)
    household = "person:" + rid
    with env_on(backend, tmp_path) as env:
        load_divisions(env)
        env.ingest(make_alert(f"{household}/missed_coverage/1", household=household),
                   make_alert(f"{household}/missed_assistance/1", household=household, kind="missed_assistance", level=2),
                   make_alert("hh-roster/should_exit/1", household="hh-roster", kind="should_exit"),
                   make_alert("far-away", household="hh-far", division=OTHER_STREET))
        first = env.number(f"{household}/missed_coverage/1")
        task = env.call("POST", f"/api/v1/alerts/{first}/confirm", "bureau").json()["task"]
        env.call("POST", f"/api/v1/tasks/{task['task_id']}/visit", task["assignee"], json={
            "method": "home_visit", "finding": "户主住院，家庭收入低", "result": "confirmed", "contact_phone": "13812345678"})
        file = env.call("GET", f"/api/v1/alerts/{first}/household", "street").json()
        assert file["household_id"] == "person:420106********" + rid[-4:] and len(file["alerts"]) == 2
        assert file["contact_phone"] == "138****5678" and rid not in str(file) and "13812345678" not in str(file)
        events = [c for c in file["chronology"] if c["what"] == "event"]
        assert events and events[0]["department"] == "医保部门" and events[0]["text"].startswith("医保部门报送：")
        whats = [c["what"] for c in file["chronology"]]
        assert whats.index("event") < whats.index("task") < whats.index("visit")
        assert [t["visit"]["result_label"] for t in file["tasks"]] == ["核实属实"]
        # search: a household id, a resident ID (audited, masked), nothing of other divisions
        assert env.call("POST", "/api/v1/households/search", "bureau", json={"q": "hh-roster"}).json()["items"][0]["alerts"] == 1
        hits = env.call("POST", "/api/v1/households/search", "street", json={"q": rid}).json()["items"]
        assert len(hits) == 1 and hits[0]["alerts"] == 2 and rid not in str(hits)
        assert env.call("POST", "/api/v1/households/search", "street", json={"q": "hh-far"}).json()["items"] == []
        assert env.call("POST", "/api/v1/households/search", "street_other", json={"q": rid}).json()["items"] == []
        assert_error_shape(env.call("POST", "/api/v1/households/search", "street", json={"q": rid[:17] + "0"
                                    if rid[-1] != "0" else rid[:17] + "1"}), 422, "BAD_RESIDENT_ID", "q")
        assert_error_shape(env.call("POST", "/api/v1/households/search", "admin", json={"q": "hh-roster"}), 403)
        assert env.call("GET", f"/api/v1/alerts/{first}/household", "street_other").status_code == 404
        searches = env.call("GET", "/api/v1/audit", "auditor", params={"action": "household_search"}).json()["items"]
        assert len(searches) == 2 and all(s["target_id"] == rid[:6] + "********" + rid[-4:] for s in searches)
        # the pages: search by POST lands on the file; the officer reads it from the task
        token = page_login(env, "street")
        landed = env.client.post("/households", data={"csrf": token, "q": rid}, follow_redirects=True)
        assert landed.status_code == 200 and 'id="chronology"' in landed.text and rid not in landed.text
        assert "积玉桥街道 和平社区" in landed.text and "医保部门报送" in landed.text
        assert env.client.post("/households", data={"csrf": token, "q": "ab"}).status_code == 422
        assert env.client.post("/households", data={"q": rid}).status_code == 403  # no CSRF token
        page_login(env, task["assignee"])
        assert env.client.get(f"/alerts/{first}/household").status_code == 200
        assert env.client.get(f"/alerts/{env.number('far-away')}/household").status_code == 404


def pdf_text(content: bytes) -> str:
    import io

    from pypdf import PdfReader

    assert content.startswith(b"%PDF-")
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).replace(" ", "").replace("\n", "")


@pytest.mark.parametrize("backend", BACKENDS)
def test_review_send_back_then_approve_and_the_letter(backend, tmp_path):
    """复核: the officer's finding waits for the street; sent back with a reason, recorded again, approved; only then
    the outcome is queued, and the 书面告知书 PDF carries the masked household id, the reasons and how to object."""
    from sqlalchemy import func, select

    from workbench.tables import OutboxOutcome

    rid = resident(455)
    household = "person:" + rid
    with env_on(backend, tmp_path) as env:
        load_divisions(env)
        env.ingest(make_alert(f"{household}/missed_coverage/1", household=household))
        number = env.number(f"{household}/missed_coverage/1")
        task = env.call("POST", f"/api/v1/alerts/{number}/confirm", "bureau").json()["task"]
        tid, officer = task["task_id"], task["assignee"]

        def outbox() -> int:
            with env.wb.sessions() as session:
                return session.scalar(select(func.count()).select_from(OutboxOutcome)
                                      .where(OutboxOutcome.alert_id == f"{household}/missed_coverage/1"))

        first = env.call("POST", f"/api/v1/tasks/{tid}/visit", officer, json={
            "method": "home_visit", "finding": "户主在外务工", "result": "refuted", "reason": "家里有收入"})
        assert first.status_code == 200 and first.json()["visit"]["review_status"] == "pending"
        assert outbox() == 0 and env.call("GET", f"/api/v1/tasks/{tid}", "street").json()["status"] == "review"
        assert_error_shape(env.call("POST", f"/api/v1/tasks/{tid}/visit", officer, json={
            "method": "home_visit", "finding": "再次登记", "result": "confirmed"}), 409)
        # who may review: the street and the bureau of the division, not the officer, the auditor or another street
        for who, status in (("officer_a" if officer == "officer_a" else "officer_b", 403), ("auditor", 403),
                            ("street_other", 404)):
            assert env.call("POST", f"/api/v1/tasks/{tid}/review", who, json={"decision": "approve"}).status_code == status
        assert_error_shape(env.call("POST", f"/api/v1/tasks/{tid}/review", "street", json={"decision": "return"}), 422,
                           "MISSING_REASON", "note")
        # the street sends it back on the page, with its reason
        token = page_login(env, "street")
        page = env.client.get(f"/tasks/{tid}")
        assert 'id="review"' in page.text and "待街道复核" in page.text
        back = env.client.post(f"/tasks/{tid}/review", data={"csrf": token, "decision": "return",
                                                             "note": "理由过简，请写明收入来源和金额"}, follow_redirects=True)
        assert "已退回专干重新核查" in back.text and "理由过简" in back.text
        assert env.call("GET", f"/api/v1/tasks/{tid}", "street").json()["status"] == "assigned" and outbox() == 0
        # the officer sees why, and records again (refuted, with a category)
        page_login(env, officer)
        assert "复核退回记录" in env.client.get(f"/tasks/{tid}").text
        assert_error_shape(env.call("POST", f"/api/v1/tasks/{tid}/visit", officer, json={
            "method": "home_visit", "finding": "x" * 5, "result": "refuted", "reason": "y" * 5, "category": "nope"}), 422)
        again = env.call("POST", f"/api/v1/tasks/{tid}/visit", officer, json={
            "method": "home_visit", "finding": "户主在外务工，月工资 4,500 元，有劳动合同",
            "result": "refuted", "reason": "户主务工月收入 4,500 元，家庭人均收入高于本市低保标准",
            "category": "income_above_standard", "contact_phone": "13912340000"})
        assert again.status_code == 200, again.text
        # no letter before the review
        assert_error_shape(env.call("GET", f"/api/v1/tasks/{tid}/letter.pdf", "street"), 409, "NOT_DECIDED")
        approved = env.call("POST", f"/api/v1/tasks/{tid}/review", "street", json={"decision": "approve", "note": "同意"})
        assert approved.status_code == 200 and approved.json()["status"] == "done", approved.text
        assert [r["decision"] for r in approved.json()["reviews"]] == ["returned", "approved"]
        assert outbox() == 1
        assert env.call("GET", f"/api/v1/alerts/{number}", "bureau").json()["status"] == "closed"
        assert_error_shape(env.call("POST", f"/api/v1/tasks/{tid}/review", "street", json={"decision": "approve"}), 409,
                           "NOTHING_TO_REVIEW")
        # the letter: masked household id, category, reasons, the policy article, how to object
        letter = env.call("GET", f"/api/v1/tasks/{tid}/letter.pdf", "street")
        assert letter.status_code == 200 and letter.headers["content-type"] == "application/pdf"
        text = pdf_text(letter.content)
        assert "书面告知书" in text and f"person:420106********{rid[-4:]}" in text and rid not in text
        assert "家庭收入高于当地低保标准" in text and "户主务工月收入4,500元" in text
        assert "《社会救助暂行办法》《最低生活保障审核确认办法》关于审核确认的规定" in text and "行政复议" in text
        assert "60日内" in text and "第十一条" not in text  # cited by name: the seeds do not give article numbers
        assert "高于本市低保标准。" in text  # the reasons end as a sentence
        assert "积玉桥街道办事处" in text and "武昌区人民政府" in text
        assert env.call("GET", f"/api/v1/tasks/{tid}/letter.pdf", "auditor").status_code == 403
        assert env.call("GET", f"/api/v1/tasks/{tid}/letter.pdf", "street_other").status_code == 404
        page_login(env, "street")
        page = env.client.get(f"/tasks/{tid}")
        assert 'id="letter"' in page.text and "复核通过" in page.text
        assert env.client.get(f"/tasks/{tid}/letter.pdf").content.startswith(b"%PDF-")
        audit = env.call("GET", "/api/v1/audit", "auditor").json()["items"]
        actions = [e["action"] for e in audit]
        assert actions.count("visit_returned") == 1 and actions.count("visit_approved") == 1
        assert actions.count("letter_printed") == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_dismissal_and_exit_letters(backend, tmp_path):
    with env_on(backend, tmp_path) as env:
        env.ingest(make_alert("dismiss-me"), make_alert("exit-me", kind="should_exit", household="hh-exit"),
                   make_alert("cover-me", household="hh-cover"))
        dismissed = env.call("POST", env.alert_url("dismiss-me", "dismiss"), "street",
                             json={"reason": "该户已于上月纳入特困供养", "category": "already_covered"})
        assert dismissed.status_code == 200, dismissed.text
        assert_error_shape(env.call("POST", env.alert_url("cover-me", "dismiss"), "street",
                                    json={"reason": "理由理由", "category": "bogus"}), 422, "INVALID", "category")
        text = pdf_text(env.call("GET", env.alert_url("dismiss-me", "letter.pdf"), "street").content)
        assert "已纳入相应救助保障" in text and "该户已于上月纳入特困供养" in text and "hh-dismiss-me" in text
        assert "区（县）" in text  # no division table loaded: the letter still reads, without names
        assert_error_shape(env.call("GET", env.alert_url("cover-me", "letter.pdf"), "street"), 409, "NOT_DISMISSED")
        # an exit confirmed on the visit and approved: a letter of stopping assistance
        for alert_id in ("exit-me", "cover-me"):
            task = env.call("POST", env.alert_url(alert_id, "confirm"), "bureau").json()["task"]
            env.call("POST", f"/api/v1/tasks/{task['task_id']}/visit", task["assignee"], json={
                "method": "letter_evidence", "finding": "不动产登记显示新购住房一套，家庭财产超过规定", "result": "confirmed"})
            env.call("POST", f"/api/v1/tasks/{task['task_id']}/review", "bureau", json={"decision": "approve"})
            letter = env.call("GET", f"/api/v1/tasks/{task['task_id']}/letter.pdf", task["assignee"])
            if alert_id == "exit-me":
                text = pdf_text(letter.content)
                assert "停止保障" in text and "不动产登记显示新购住房一套" in text and "关于定期核查和停止保障的规定" in text
            else:  # a confirmed 漏保 is covered: no notice of refusal
                assert_error_shape(letter, 409, "NO_LETTER")


def test_notice_text_is_pure_and_refuses_what_takes_no_letter():
    from datetime import date

    from workbench.letters import notice_facts

    notice = notice_facts(number="1", household_masked="hh-1", place="某社区", kind="gradual_exit", outcome="confirmed",
                          reasons="收入超过标准", category=None, office=None, district="武昌区", day=date(2026, 11, 26))
    assert "6 个月渐退期" in notice.decision and "武昌区人民政府" in notice.objection
    with pytest.raises(ValueError):
        notice_facts(number="1", household_masked="hh-1", place="", kind="missed_coverage", outcome="confirmed",
                     reasons="", category=None, office=None, district=None, day=date(2026, 11, 26))


@pytest.mark.parametrize("backend", BACKENDS)
def test_deadlines_digest_and_statistics_by_place_and_month(backend, tmp_path):
    """Due-soon and overdue tasks highlighted and counted per street; the daily digest per user; statistics per street,
    community and month with the precision shown beside its count."""
    from datetime import timedelta

    with env_on(backend, tmp_path) as env:
        load_divisions(env)
        env.ingest(make_alert("s1"), make_alert("s2", household="hh-s2"), make_alert("s3", division=NEIGHBOUR),
                   make_alert("s4", household="hh-s4"))
        ids = {}
        for alert_id in ("s1", "s2", "s3"):
            ids[alert_id] = env.call("POST", env.alert_url(alert_id, "confirm"), "street").json()["task"]
        # s1 visited and approved (confirmed); s2 visited, waiting for review; s3 unassigned (no officer there)
        for alert_id in ("s1", "s2"):
            task = ids[alert_id]
            env.call("POST", f"/api/v1/tasks/{task['task_id']}/visit", task["assignee"], json={
                "method": "home_visit", "finding": "入户核实情况属实", "result": "confirmed"})
        env.call("POST", f"/api/v1/tasks/{ids['s1']['task_id']}/review", "street", json={"decision": "approve"})
        env.clock.now += timedelta(days=45)  # due 2026-11-05: on 11-02 the open tasks are due within 7 days
        env.tokens.clear()  # the tokens of 45 days ago have expired
        due_soon = env.call("GET", "/api/v1/tasks", "street").json()["items"]
        assert {t["task_id"]: t["due_soon"] for t in due_soon} == {ids["s1"]["task_id"]: False,
                                                                   ids["s2"]["task_id"]: True, ids["s3"]["task_id"]: True}
        digest = env.call("GET", "/api/v1/digest", "street").json()
        assert digest["to_review"] == [ids["s2"]["task_id"]] and digest["unassigned"] == [ids["s3"]["task_id"]]
        assert sorted(digest["due_soon"]) == sorted([ids["s2"]["task_id"], ids["s3"]["task_id"]])
        assert digest["to_triage"] == {"橙色": 1} and digest["overdue"] == []
        officer = env.call("GET", "/api/v1/digest", ids["s2"]["assignee"]).json()
        assert officer["to_review"] == [] and officer["to_triage"] == {}
        assert_error_shape(env.call("GET", "/api/v1/digest", "admin"), 403)
        page_login(env, "street")
        tasks_page = env.client.get("/tasks").text
        assert 'id="due-soon-count">2 件 7 天内到期' in tasks_page and 'class="due-soon"' in tasks_page
        assert "待复核" in env.client.get("/digest").text
        env.clock.now += timedelta(days=10)  # now overdue
        env.tokens.clear()
        places = env.call("GET", "/api/v1/stats/places", "street").json()
        street = places["streets"][0]
        assert street["key"] == "420106002000" and street["name"] == "积玉桥街道"
        assert (street["alerts"], street["visits"], street["confirmed"], street["overdue"]) == (4, 1, 1, 2)
        assert street["precision_label"] == "1/1（100%）"  # 100 % of one visit says it is one visit
        assert [c["key"] for c in places["communities"]] == [DIVISION, NEIGHBOUR]
        assert places["months"][0]["key"] == "2026-09" and places["months"][0]["alerts"] == 4
        page = env.client.get("/stats").text
        assert 'id="stats-streets"' in page and "1/1（100%）" in page and "积玉桥街道 新河社区" in page
        assert_error_shape(env.call("GET", "/api/v1/stats/places", ids["s2"]["assignee"]), 403)


def test_place_statistics_are_pure_over_rows():
    from datetime import UTC, date, datetime

    from workbench.stats_places import Row, tabulate

    received = datetime(2026, 9, 30, 20, 0, tzinfo=UTC)  # 10-01 in China: counted in October
    rows = [Row(DIVISION, received, "done", date(2026, 11, 5), "refuted", datetime(2026, 10, 3, tzinfo=UTC)),
            Row(DIVISION, received, "assigned", date(2026, 10, 20)),
            Row(OTHER_STREET, received)]
    table = tabulate(rows, date(2026, 10, 15))
    assert [m["key"] for m in table["months"]] == ["2026-10"]
    home = table["communities"][0]
    assert (home["alerts"], home["visits"], home["confirmed"], home["due_soon"], home["overdue"]) == (2, 1, 0, 1, 0)
    assert home["precision_label"] == "0/1（0%）" and home["median_days_to_visit"] == 2.2
    assert table["streets"][1]["key"] == "420106005000" and table["streets"][1]["precision_label"] == "—"


@pytest.mark.parametrize("backend", BACKENDS)
def test_audit_reads_as_sentences_filtered_by_date_person_and_action_and_paged(backend, tmp_path):
    from datetime import timedelta

    with env_on(backend, tmp_path) as env:
        env.ingest(*[make_alert(f"au-{n}", household=f"hh-au-{n}") for n in range(3)])
        env.call("POST", env.alert_url("au-0", "dismiss"), "street", json={"reason": "已纳入特困供养", "category": "already_covered"})
        env.clock.now += timedelta(days=2)
        env.tokens.clear()
        task = env.call("POST", env.alert_url("au-1", "confirm"), "bureau").json()["task"]
        env.call("POST", f"/api/v1/tasks/{task['task_id']}/assign", "street", json={"assignee": "officer_b"})
        for _ in range(105):  # enough rows for a second page
            env.call("POST", env.alert_url("au-2", "reveal"), "street")
        token = page_login(env, "auditor")
        page = env.client.get("/audit")
        assert page.status_code == 200 and 'id="next-page"' in page.text and "第 1 / 2 页" in page.text
        assert env.client.get("/audit", params={"page": 2}).status_code == 200
        dismissed = env.client.get("/audit", params={"action": "alert_dismissed"}).text
        assert "排除预警 au-0，理由：已纳入特困供养" in dismissed  # sentences, not JSON
        assert '{"' not in dismissed
        assigned = env.client.get("/audit", params={"action": "task_assigned", "who": "street"}).text
        assert f"将任务 #{task['task_id']}从" in assigned and "分派给 officer_b" in assigned
        first_day = env.client.get("/audit", params={"since": "2026-09-18", "until": "2026-09-18", "who": "street"}).text
        assert "共 3 条" in first_day and "排除" in first_day and "签发接口令牌" in first_day  # not the later days
        assert env.client.get("/audit", params={"since": "2026-13-01"}).status_code == 422
        api = env.call("GET", "/api/v1/audit", "auditor", params={"since": "2026-09-20", "action": "reveal"}).json()
        assert api["total"] == 105 and len(api["items"]) == 105 and api["items"][0]["sentence"].startswith("查看预警")
        assert env.call("GET", "/api/v1/audit", "auditor", params={"until": "2026-09-19", "action": "reveal"}).json()["total"] == 0
        assert token


def test_openapi_documents_the_one_error_shape(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        schema = env.client.get("/api/v1/openapi.json").json()
        error = schema["components"]["schemas"]["HTTPValidationError"]
        assert error["required"] == ["error"] and set(error["properties"]["error"]["properties"]) == {"code", "message", "field"}
        assert "/api/v1/tasks/{task_id}/review" in schema["paths"] and "/api/v1/households/search" in schema["paths"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_filing_register_with_flags_and_periodic_check(backend, tmp_path):
    """备案台账: the bureau files a staff member with unit, position, duties and relatives (household, support,
    relation); relatives' IDs masked; a new appointee not filed within a month is flagged; the periodic check."""
    from datetime import timedelta

    relative = resident(888)
    with env_on(backend, tmp_path) as env:
        load_divisions(env)
        body = {"role": "community_committee_member", "division_code": DIVISION, "name": "周晓梅", "gender": "女",
                "unit": "和平社区居委会", "position": "委员", "duties": "负责低保申请受理",
                "appointed_on": "2026-09-01", "filed_on": "2026-09-10",
                "relatives": [{"person_id": relative, "relation": "parent", "household_id": "hh-77", "support": "dibao"}]}
        saved = env.call("PUT", "/api/v1/filings/S-ZXM", "bureau", json=body)
        assert saved.status_code == 200, saved.text
        item = saved.json()
        assert item["relatives"][0]["person_id"] == relative[:6] + "********" + relative[-4:] and relative not in saved.text
        assert item["relatives"][0]["support_label"] == "最低生活保障" and item["flags"] == []
        late = dict(body, name="吴新", appointed_on="2026-08-01", filed_on=None, relatives=[])
        assert env.call("PUT", "/api/v1/filings/S-WX", "bureau", json=late).json()["flags"] == ["逾期备案"]
        soon = dict(body, name="郑立", appointed_on="2026-09-10", filed_on=None, relatives=[])
        assert env.call("PUT", "/api/v1/filings/S-ZL", "bureau", json=soon).json()["flags"] == ["待备案（2026-10-10 前）"]
        # who keeps and reads it
        assert_error_shape(env.call("PUT", "/api/v1/filings/S-X", "street", json=body), 403)
        assert_error_shape(env.call("PUT", "/api/v1/filings/S-X", "bureau_far", json=body), 403, "OUT_OF_SCOPE")
        assert_error_shape(env.call("PUT", "/api/v1/filings/S-X", "bureau", json=dict(body, relatives=[
            {"person_id": relative[:-1] + ("0" if relative[-1] != "0" else "1")}])), 422, "BAD_RESIDENT_ID")
        assert len(env.call("GET", "/api/v1/filings", "auditor").json()["items"]) == 3
        assert env.call("GET", "/api/v1/filings", "bureau_far").json()["items"] == []
        assert_error_shape(env.call("GET", "/api/v1/filings", "officer_a"), 403)
        # half a year on, the filed household is due for its periodic check; the verifier records it
        env.clock.now += timedelta(days=200)
        env.tokens.clear()
        due = {i["staff_id"]: i["flags"] for i in env.call("GET", "/api/v1/filings", "bureau").json()["items"]}
        assert due["S-ZXM"] == ["到期应核查"]
        checked = env.call("POST", "/api/v1/filings/S-ZXM/check", "verifier")
        assert checked.status_code == 200 and checked.json()["flags"] == [] and checked.json()["last_checked_on"]
        assert env.call("POST", "/api/v1/filings/S-ZXM/check", "bureau_far").status_code == 404
        token = page_login(env, "bureau")
        page = env.client.get("/filings").text
        assert "周晓梅" in page and "和平社区居委会" in page and "逾期备案" in page and relative not in page
        assert "积玉桥街道 和平社区" in page
        assert env.client.post("/filings/S-ZXM/check", data={"csrf": token}, follow_redirects=True).status_code == 200
        actions = [e["action"] for e in env.call("GET", "/api/v1/audit", "auditor").json()["items"]]
        assert actions.count("filing_saved") == 3 and actions.count("filing_checked") == 2


def test_filing_flags_are_pure():
    from datetime import date

    from workbench.filings import status_of

    today = date(2026, 11, 26)
    assert status_of(None, None, None, today)["flags"] == []
    assert status_of(date(2026, 11, 1), None, None, today)["flags"] == ["待备案（2026-12-01 前）"]
    assert status_of(date(2026, 10, 1), date(2026, 11, 20), date(2026, 11, 20), today)["flags"] == ["逾期备案"]
    assert status_of(date(2026, 1, 1), date(2026, 1, 5), None, today)["flags"] == ["到期应核查"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_bulk_triage_with_one_written_reason_all_or_nothing(backend, tmp_path):
    with env_on(backend, tmp_path) as env:
        env.ingest(*[make_alert(f"bulk-{n}", household=f"hh-bulk-{n}") for n in range(4)],
                   make_alert("bulk-far", division=OTHER_STREET))
        numbers = [env.number(f"bulk-{n}") for n in range(4)]
        env.call("POST", env.alert_url("bulk-3", "confirm"), "street")
        refused = env.call("POST", "/api/v1/alerts/dismiss", "street",
                           json={"numbers": numbers, "reason": "经核对均已纳入特困供养", "category": "already_covered"})
        error = assert_error_shape(refused, 409, "ALREADY_DECIDED")
        assert f"#{numbers[3]}" in error["message"] and "未排除任何预警" in error["message"]
        assert env.call("GET", "/api/v1/alerts", "street", params={"status": "dismissed"}).json()["total"] == 0
        assert_error_shape(env.call("POST", "/api/v1/alerts/dismiss", "street", json={"numbers": numbers[:3], "reason": "短"}),
                           422, "MISSING_REASON")
        assert env.call("POST", "/api/v1/alerts/dismiss", "street",
                        json={"numbers": [env.number("bulk-far")], "reason": "经核对已纳入保障"}).status_code == 404
        assert_error_shape(env.call("POST", "/api/v1/alerts/dismiss", "officer_a",
                                    json={"numbers": numbers[:1], "reason": "经核对已纳入保障"}), 403)
        done = env.call("POST", "/api/v1/alerts/dismiss", "street",
                        json={"numbers": numbers[:2], "reason": "经核对均已纳入特困供养", "category": "already_covered"})
        assert done.status_code == 200 and done.json() == {"dismissed": numbers[:2]}
        # the page: tick, one reason, one click
        token = page_login(env, "street")
        queue = env.client.get("/queue").text
        assert 'form="bulk"' in queue and 'id="bulk"' in queue
        page = env.client.post("/queue/dismiss", data={"csrf": token, "numbers": [str(numbers[2])], "reason": "已于上月迁出本辖区",
                                                        "category": "moved_or_deceased"}, follow_redirects=True)
        assert "已排除 1 条预警" in page.text
        empty = env.client.post("/queue/dismiss", data={"csrf": token, "reason": "已迁出本辖区"}, follow_redirects=True)
        assert "请勾选要排除的预警" in empty.text
        decisions = env.call("GET", env.alert_url("bulk-2"), "street").json()["decisions"]
        assert decisions[0]["reason_category_label"] == "已迁出本辖区或已去世"


@pytest.mark.parametrize("backend", BACKENDS)
def test_exports_carry_names_readable_times_and_the_audit_filters(backend, tmp_path):
    import io

    from openpyxl import load_workbook

    def sheet(response) -> list[list]:  # noqa: ANN001
        assert response.status_code == 200, response.text
        return [[c.value for c in row] for row in load_workbook(io.BytesIO(response.content)).active.iter_rows()]

    with env_on(backend, tmp_path) as env:
        load_divisions(env)
        env.ingest(make_alert("ex-1"), make_alert("ex-2", household="hh-ex-2"))
        env.call("POST", env.alert_url("ex-1", "dismiss"), "street", json={"reason": "经核对已纳入特困供养"})
        rows = sheet(env.call("GET", "/api/v1/exports/queue.xlsx", "street", params={"status": "all",
                                                                                      "community": "积玉桥街道 和平社区"}))
        header = rows[0]
        assert "区划名称" in header and {r[header.index("区划名称")] for r in rows[1:]} == {"积玉桥街道 和平社区"}
        assert rows[1][header.index("接收时间")] == "2026-09-18 10:00:00"
        audit = sheet(env.call("GET", "/api/v1/audit.xlsx", "auditor", params={"action": "alert_dismissed"}))
        assert len(audit) == 2  # the header and the one dismissal: the filter holds
        assert audit[1][audit[0].index("经过")] == "排除预警 ex-1，理由：经核对已纳入特困供养"
        assert audit[1][audit[0].index("时间")] == "2026-09-18 10:00:00"
        assert len(sheet(env.call("GET", "/api/v1/audit.xlsx", "auditor", params={"until": "2026-09-17"}))) == 1
        page_login(env, "auditor")
        assert 'href="/audit.xlsx?action=alert_dismissed"' in env.client.get("/audit", params={"action": "alert_dismissed"}).text
        assert len(sheet(env.client.get("/audit.xlsx", params={"action": "alert_dismissed"}))) == 2
