"""The workbench's "should fix" items of issue 13: sessions that sign-out and a password change end, throttling per
client instead of a lockout anyone can cause, CSP and HSTS, no 500 from odd input, password strength, unique
ASCII usernames and staff ids, X-Forwarded-For only from configured proxies, connector metrics on the loopback."""

from __future__ import annotations

import json
import re
import socket
from contextlib import closing

import pytest
from fastapi.testclient import TestClient

from tests.workbench_fixtures import DIVISION, PASSWORD, env_on, make_alert, resident


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _login(client, username: str, password: str = PASSWORD):  # noqa: ANN001, ANN202
    token = _csrf(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf": token, "next": "/"},
                       follow_redirects=False)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sign_out_and_password_change_end_copied_sessions(backend, tmp_path):
    with env_on(backend, tmp_path) as env:
        client = env.client
        assert _login(client, "bureau").status_code == 303
        copied = dict(client.cookies)
        token = _csrf(client.get("/account").text)
        client.post("/logout", data={"csrf": token})
        with TestClient(env.app, cookies=copied) as thief:  # the cookie as it was before sign-out
            assert thief.get("/queue", follow_redirects=False).status_code == 303

        first, second = TestClient(env.app), TestClient(env.app)
        with first, second:
            assert _login(first, "street").status_code == 303 and _login(second, "street").status_code == 303
            token = _csrf(first.get("/account").text)
            changed = first.post("/account", data={"csrf": token, "current": PASSWORD, "new": "a-new-passphrase-7",
                                                   "again": "a-new-passphrase-7"}, follow_redirects=False)
            assert changed.status_code == 303, changed.text
            assert first.get("/queue", follow_redirects=False).status_code == 200  # the changer goes on
            assert second.get("/queue", follow_redirects=False).status_code == 303  # every other session ends


def test_failed_sign_ins_throttle_the_client_not_the_account(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        attacker = TestClient(env.app, client=("198.51.100.7", 40000))
        owner = TestClient(env.app, client=("192.0.2.10", 40001))
        with attacker, owner:
            for _ in range(5):
                assert attacker.post("/api/v1/token", json={"username": "bureau", "password": "guess-guess-1"}).status_code == 401
            # the attacker is throttled, even with the right password ...
            assert attacker.post("/api/v1/token", json={"username": "bureau", "password": PASSWORD}).status_code == 401
            # ... and the owner, from elsewhere, signs in as usual
            assert owner.post("/api/v1/token", json={"username": "bureau", "password": PASSWORD}).status_code == 200
        items = env.call("GET", "/api/v1/audit?action=login_failed", "auditor").json()["items"]
        assert {i["client"] for i in items} == {"198.51.100.7"}


def test_security_headers_on_pages_and_api(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        page = env.client.get("/login")
        assert "script-src 'none'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["strict-transport-security"].startswith("max-age=")
        api = env.client.get("/api/v1/healthz")
        assert api.headers["content-security-policy"].startswith("default-src 'none'")
        assert "strict-transport-security" in api.headers


def test_odd_input_gets_an_answer_not_a_500(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        client = env.client
        # a CSRF token outside ASCII
        assert client.post("/login", data={"username": "bureau", "password": PASSWORD, "csrf": "令牌²"}).status_code == 403
        # a merge target that isdigit() but int() refuses
        env.ingest(make_alert("odd-1"), make_alert("odd-2", household="hh-odd-1"))
        assert _login(client, "bureau").status_code == 303
        token = _csrf(client.get("/account").text)
        merged = client.post(env.page_url("odd-1", "merge"), data={"csrf": token, "into": "²"})
        assert merged.status_code == 422
        odd = client.get("/queue?street=²²²²²²²²²")  # refused with a reason (issue 14), never a 500
        assert odd.status_code == 422 and "没有名为" in odd.text
        # JSON bodies nested 1,000 deep, and a body over a megabyte
        deep = "[" * 1000 + "]" * 1000
        for path in ("/api/v1/token", env.alert_url("odd-1", "dismiss")):
            answer = client.post(path, content=deep, headers={"content-type": "application/json"} | env.auth("bureau"))
            assert answer.status_code == 422 and answer.json()["error"]["code"] == "TOO_DEEP"
        nested_object = '{"reason": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}"
        assert client.post(env.alert_url("odd-1", "dismiss"), content=nested_object, headers={
            "content-type": "application/json"} | env.auth("bureau")).status_code == 422
        big = json.dumps({"reason": "x" * (1 << 20)})
        assert client.post(env.alert_url("odd-1", "dismiss"), content=big, headers={
            "content-type": "application/json"} | env.auth("bureau")).status_code == 413
        # an ordinary request still goes through the guard
        done = env.call("POST", env.alert_url("odd-1", "dismiss"), "bureau", json={"reason": "经核实，收入已计入"})
        assert done.status_code == 200, done.text


@pytest.mark.parametrize("password", [" " * 10, " " * 12 + "ab", "aaaaaaaaaaaa", "1234567890", "abababababab",
                                      "officer_new-1"])
def test_weak_passwords_are_refused(password, tmp_path):
    with env_on("sqlite", tmp_path) as env:
        answer = env.call("POST", "/api/v1/users", "admin", json={
            "username": "officer_new", "display_name": "新专干", "role": "officer", "scopes": [DIVISION],
            "password": password})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "WEAK_PASSWORD", answer.text


def test_homoglyph_usernames_and_duplicate_staff_ids_are_refused(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        def create(username: str, staff_id: str):  # noqa: ANN202
            return env.call("POST", "/api/v1/users", "admin", json={
                "username": username, "display_name": "x", "role": "officer", "scopes": [DIVISION],
                "password": "a-good-passphrase-9", "staff_id": staff_id})

        assert create("burеau", "S-NEW-1").json()["error"]["code"] == "BAD_USERNAME"  # Cyrillic е
        assert create("BUREAU", "S-NEW-2").json()["error"]["code"] == "USERNAME_TAKEN"
        assert create("officer_c", "S-OFF-A").json()["error"]["code"] == "STAFF_ID_TAKEN"  # officer_a's number
        assert create("officer_c", "S-NEW-3").status_code == 201


def test_x_forwarded_for_is_believed_only_from_configured_proxies(tmp_path):
    import httpx

    from streams.broker import free_port
    from workbench import db
    from workbench.runner import start_in_process
    from workbench.tables import AuditEntry

    url = f"sqlite:///{tmp_path / 'xff.sqlite3'}"
    for trusted, expected in ((None, "127.0.0.1"), ("127.0.0.1", "203.0.113.9")):
        handle = start_in_process(port=free_port(), database=url, data_dir=tmp_path, trusted_proxies=trusted)
        try:
            answer = httpx.post(handle.url + "/api/v1/token", json={"username": f"nobody{expected}", "password": "x" * 12},
                                headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10)
            assert answer.status_code == 401
        finally:
            handle.stop()
        engine = db.make_engine(url)
        with db.session_factory(engine)() as session:
            from sqlalchemy import select

            client = session.scalar(select(AuditEntry.client).where(AuditEntry.target_id == f"nobody{expected}"))
        engine.dispose()
        assert client == expected


def test_connector_metrics_listen_on_the_loopback_by_default(monkeypatch):
    from connectors.metrics import METRICS_HOST_ENV, serve_metrics
    from streams.broker import free_port

    monkeypatch.delenv(METRICS_HOST_ENV, raising=False)
    port = free_port()
    serve_metrics(port)
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in handle.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if int(hex_port, 16) == port and state == "0A":  # LISTEN
                    listening.append(address)
    assert listening == ["0100007F"], listening  # 127.0.0.1 only, not 0.0.0.0
    with closing(socket.create_connection(("127.0.0.1", port), timeout=5)):
        pass


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_one_countys_holiday_moves_only_its_own_due_dates(backend, tmp_path):
    """Confirmed Friday 2026-09-18, due 2026-11-05; 武昌区's admin makes 2026-10-20 a holiday: only 武昌区 moves."""
    from tests.workbench_fixtures import OTHER_COUNTY

    with env_on(backend, tmp_path) as env:
        assert env.call("PUT", "/api/v1/calendar/2026-10-20", "admin", json={"working": False, "note": "区内停工"}).status_code == 200
        env.ingest(make_alert("cal-near"), make_alert("cal-far", division=OTHER_COUNTY))
        near = env.call("POST", env.alert_url("cal-near", "confirm"), "bureau").json()["task"]
        far = env.call("POST", env.alert_url("cal-far", "confirm"), "bureau_far").json()["task"]
        assert (near["due_date"], far["due_date"]) == ("2026-11-06", "2026-11-05")
        days = env.call("GET", "/api/v1/calendar", "admin").json()["items"]
        assert [(d["day"], d["scope"]) for d in days] == [("2026-10-20", "420106000000")]
        assert env.call("GET", "/api/v1/calendar", "admin_far").json()["items"] == []
        audited = env.call("GET", "/api/v1/audit?action=calendar_changed", "auditor").json()["items"]
        assert [a["division_code"] for a in audited] == ["420106000000"]


def test_an_alert_does_not_move_to_another_county_under_an_open_task(tmp_path):
    from models.validation import Rejected
    from tests.workbench_fixtures import OTHER_COUNTY

    with env_on("sqlite", tmp_path) as env:
        env.ingest(make_alert("move-1"))
        task = env.call("POST", env.alert_url("move-1", "confirm"), "bureau").json()["task"]
        moved = make_alert("move-1", division=OTHER_COUNTY, emitted_at="2026-09-19T09:00:00+08:00")
        with pytest.raises(Rejected) as refused:
            env.ingest(moved)
        assert refused.value.code == "COUNTY_CHANGE_WITH_OPEN_TASK"
        assert env.call("GET", env.alert_url("move-1"), "bureau_far").status_code == 404
        assert env.call("GET", f"/api/v1/tasks/{task['task_id']}", "bureau").json()["division_code"] == DIVISION
        visit = env.call("POST", f"/api/v1/tasks/{task['task_id']}/visit", "officer_a", json={
            "method": "home_visit", "finding": "入户核实，情况属实", "result": "confirmed"})
        assert visit.status_code == 200, visit.text
        assert env.call("POST", f"/api/v1/tasks/{task['task_id']}/review", "street",
                        json={"decision": "approve"}).status_code == 200  # 复核 (issue 14) completes the task
        env.ingest(moved)  # the task is done: the household may move on
        assert env.call("GET", env.alert_url("move-1"), "bureau_far").status_code == 200


def test_a_multi_county_users_export_is_audited_in_every_county(tmp_path):
    from tests.workbench_fixtures import OTHER_COUNTY

    with env_on("sqlite", tmp_path) as env:
        created = env.call("POST", "/api/v1/users", "admin", json={
            "username": "city_bureau", "display_name": "市局", "role": "bureau", "scopes": ["420106000000"],
            "password": "a-good-passphrase-9"})
        assert created.status_code == 201
        from sqlalchemy import select

        from workbench.tables import User

        with env.wb.sessions() as session:  # a city-level account over two counties (set in the database)
            city = session.scalar(select(User).where(User.username == "city_bureau"))
            city.scopes, city.must_change_password = ["420106000000", "420111000000"], False
            session.commit()
        env.ingest(make_alert("exp-near"), make_alert("exp-far", division=OTHER_COUNTY))
        token = env.client.post("/api/v1/token", json={"username": "city_bureau", "password": "a-good-passphrase-9"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert env.client.get("/api/v1/exports/queue.xlsx", headers=headers).status_code == 200
        for auditor in ("auditor", "auditor_far"):
            items = env.call("GET", "/api/v1/audit?action=export", auditor).json()["items"]
            assert len(items) == 1 and json.loads(items[0]["detail"])["rows"] == 1, (auditor, items)


def test_an_account_an_administrator_created_does_nothing_before_its_own_password(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        created = env.call("POST", "/api/v1/users", "admin", json={
            "username": "newbie", "display_name": "新人", "role": "bureau", "scopes": ["420106000000"],
            "password": "admin-knows-this-1"})
        assert created.status_code == 201
        env.ingest(make_alert("person-x", household="person:" + resident(91)))
        token = env.client.post("/api/v1/token", json={"username": "newbie", "password": "admin-knows-this-1"})
        assert token.status_code == 403 and token.json()["error"]["code"] == "PASSWORD_CHANGE_REQUIRED"
        client = env.client
        assert _login(client, "newbie", "admin-knows-this-1").status_code == 303
        assert client.get(env.page_url("person-x"), follow_redirects=False).headers["location"] == "/account"
        token = _csrf(client.get("/account").text)
        assert client.post(env.page_url("person-x", "reveal"), data={"csrf": token},
                           follow_redirects=False).headers["location"] == "/account"  # no reveal with the admin's password
        changed = client.post("/account", data={"csrf": token, "current": "admin-knows-this-1",
                                                 "new": "my-own-passphrase-4", "again": "my-own-passphrase-4"},
                              follow_redirects=False)
        assert changed.status_code == 303
        assert client.get(env.page_url("person-x"), follow_redirects=False).status_code == 200
        assert env.client.post("/api/v1/token", json={"username": "newbie", "password": "my-own-passphrase-4"}).status_code == 200
