"""The pages: sign-in with CSRF, the queue and alert pages, triage and the visit form, masking, and `hardship serve`."""

from __future__ import annotations

import re

from click.testing import CliRunner

from tests.workbench_fixtures import PASSWORD, env_on, make_alert, resident


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(client, username: str) -> str:  # noqa: ANN001
    page = client.get("/login")
    token = csrf_of(page.text)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/tasks" if username.startswith("officer") else "/queue").text)


def test_pages_flow_with_csrf_and_masking(tmp_path):
    rid = resident(321)
    with env_on("sqlite", tmp_path) as env:
        env.ingest(make_alert("p1", household="person:" + rid, level=4), make_alert("p2", kind="should_exit"))
        client = env.client
        assert client.get("/queue", follow_redirects=False).headers["location"].startswith("/login")
        # a login without the session's CSRF token is refused
        assert client.post("/login", data={"username": "bureau", "password": PASSWORD, "csrf": "x"}).status_code == 403
        bad = client.post("/login", data={"username": "bureau", "password": "wrong-password", "csrf": csrf_of(client.get("/login").text)})
        assert bad.status_code == 401 and "用户名或密码错误" in bad.text
        token = login(client, "bureau")
        queue = client.get("/queue")
        assert "预警队列" in queue.text and "person:420106********" in queue.text and rid not in queue.text
        alert = client.get(env.page_url("p1"))
        assert "六维困难画像" in alert.text and "<svg" in alert.text and rid not in alert.text
        # forms without the token are refused; a dismissal without a reason is refused
        assert client.post(env.page_url("p2", "confirm"), data={}).status_code == 403
        refused = client.post(env.page_url("p2", "dismiss"), data={"csrf": token, "reason": ""})
        assert refused.status_code == 422 and "书面理由" in refused.text
        done = client.post(env.page_url("p2", "dismiss"), data={"csrf": token, "reason": "经核实该户养老金已计入家庭收入"},
                           follow_redirects=True)
        assert "已排除" in done.text
        confirmed = client.post(env.page_url("p1", "confirm"), data={"csrf": token}, follow_redirects=True)
        assert "已确认，生成核查任务" in confirmed.text
        revealed = client.post(env.page_url("p1", "reveal"), data={"csrf": token})
        assert rid in revealed.text
        assert client.get("/queue.xlsx").headers["content-type"].startswith("application/vnd.openxml")
        client.post("/logout", data={"csrf": token})
        assert client.get("/queue", follow_redirects=False).status_code == 303

        token = login(client, "officer_a")
        tasks = client.get("/tasks")
        assert "#1" in tasks.text and rid not in tasks.text
        assert client.get("/queue").status_code == 403  # an officer has no queue
        form = client.get("/tasks/1")
        assert "登记走访" in form.text and 'name="viewport"' in form.text
        missing = client.post("/tasks/1/visit", data={"csrf": token, "method": "home_visit", "finding": "",
                                                      "result": "confirmed"})
        assert missing.status_code == 422 and "核查情况" in missing.text
        recorded = client.post("/tasks/1/visit", data={"csrf": token, "method": "neighbour_interview",
                                                       "finding": "邻里反映户主长期卧床", "result": "confirmed",
                                                       "contact_phone": "13712345678"}, follow_redirects=True)
        assert "走访结果已登记" in recorded.text and "137****5678" in recorded.text and "13712345678" not in recorded.text
        # the officer holding the task may see the phone in full, with the form's token only, and it is audited
        assert client.post("/tasks/1/reveal", data={}).status_code == 403
        shown = client.post("/tasks/1/reveal", data={"csrf": token})
        assert shown.status_code == 200 and "13712345678" in shown.text and rid in shown.text
        client.post("/logout", data={"csrf": token})

        token = login(client, "auditor")
        audit = client.get("/audit")
        assert "审计日志" in audit.text and "查看明文" in audit.text and "登记走访" in audit.text
        assert client.get("/audit.xlsx").status_code == 200


def test_serve_command_seeds_demo_users(tmp_path):
    from workbench.cli import serve

    runner = CliRunner()
    assert "--broker" in runner.invoke(serve, ["--help"]).output
    holidays = tmp_path / "holidays.txt"
    holidays.write_text("2027-02-08 holiday 春节\n2027-02-20 workday 调休\n", encoding="utf-8")
    result = runner.invoke(serve, ["--database", f"sqlite:///{tmp_path / 'cli.sqlite3'}", "--data-dir", str(tmp_path),
                                   "--seed-users", "420106002003", "--seed-password", "demo-password-1",
                                   "--holidays", str(holidays), "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "bureau002003" in result.output and "officer002003a" in result.output and "demo-password-1" in result.output
    assert "2 day(s) imported" in result.output
    bad = runner.invoke(serve, ["--database", f"sqlite:///{tmp_path / 'cli.sqlite3'}", "--seed-users", "4201", "--no-serve"])
    assert bad.exit_code != 0 and "12-digit" in bad.output


def test_repeated_wrong_passwords_lock_the_name(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        for _ in range(5):
            assert env.client.post("/api/v1/token", json={"username": "street", "password": "wrong-one-x"}).status_code == 401
        assert env.client.post("/api/v1/token", json={"username": "street", "password": PASSWORD}).status_code == 401
        assert env.client.post("/api/v1/token", json={"username": "bureau", "password": PASSWORD}).status_code == 200
        from datetime import timedelta

        env.clock.now += timedelta(minutes=16)
        assert env.client.post("/api/v1/token", json={"username": "street", "password": PASSWORD}).status_code == 200


def test_change_own_password(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        token = login(env.client, "street")
        wrong = env.client.post("/account", data={"csrf": token, "current": "nope-nope-nope", "new": "a-new-password-2",
                                                  "again": "a-new-password-2"})
        assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
        short = env.client.post("/account", data={"csrf": token, "current": PASSWORD, "new": "short", "again": "short"})
        assert short.status_code == 422
        done = env.client.post("/account", data={"csrf": token, "current": PASSWORD, "new": "a-new-password-2",
                                                 "again": "a-new-password-2"}, follow_redirects=True)
        assert "密码已修改" in done.text
        assert env.client.post("/api/v1/token", json={"username": "street", "password": PASSWORD}).status_code == 401
        assert env.client.post("/api/v1/token", json={"username": "street", "password": "a-new-password-2"}).status_code == 200


def test_an_alert_superseded_by_a_roster_household_leaves_the_queue_linked_to_the_households_own(tmp_path):
    """A provisional household (person on no roster) absorbed by a roster record: the stream sends its alert
    again with `superseded_by`; the workbench closes it and links it to the household's own alert."""
    rid = resident(322)
    provisional = make_alert("person:" + rid + "/missed_coverage/1", household="person:" + rid)
    own = make_alert("H-own/missed_coverage/1", household="H-own")
    with env_on("sqlite", tmp_path) as env:
        env.ingest(provisional, own)
        env.ingest({**provisional, "superseded_by": "H-own", "emitted_at": "2026-09-18T10:00:00+08:00"})
        client = env.client
        login(client, "bureau")
        page = client.get(env.page_url(provisional["alert_id"]))
        assert "已由在册户预警取代" in page.text and rid not in page.text
        link = re.search(r'<a href="(/alerts/\d+)" id="superseded-by">', page.text)
        assert link and link.group(1) == env.page_url(own["alert_id"])
        queue = client.get("/queue").text
        assert "H-own" in queue and "person:420106" not in queue, "the superseded alert left the open queue"
