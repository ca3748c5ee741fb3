"""No personal number leaks: a full workflow, then a scan of every page, API answer, export and log line it produced.

Issue 13, must fix 2. Planted: an 18-digit resident ID (also in full-width digits and in groups), an old
15-digit ID, a 残疾人证号 (the ID plus two digits) as a department's event id, phones and bank cards typed
into the visit finding and the dismissal reason, and an ID typed as a username at sign-in. The scan looks for
each planted number (ASCII, full-width, grouped) and for any number that `mask_personal` would still mask.
"""

from __future__ import annotations

import io
import json
import logging
import re
import unicodedata

import pytest

from models.privacy import find_unmasked, mask_personal, pseudonym
from tests.workbench_fixtures import PASSWORD, env_on, make_alert, resident


def _fullwidth(digits: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in digits)


def test_mask_personal_covers_the_forms_of_a_number():
    rid = resident(77)
    assert mask_personal(f"身份证{rid}号") == f"身份证{rid[:6]}********{rid[-4:]}号"
    assert rid[6:14] not in mask_personal(_fullwidth(rid))
    assert mask_personal(f"{rid[:6]} {rid[6:14]} {rid[14:]}") == f"{rid[:6]}********{rid[-4:]}"
    assert mask_personal("旧证 420106680504123") == "旧证 420106******123"
    assert mask_personal("电话 13812345678、138-1234-5678、+86 138 1234 5678") == \
        "电话 138****5678、138****5678、+86 138****5678"
    assert mask_personal("卡号 6222 0212 3456 7891 234") == "卡号 6222 **** **** 1234"
    assert mask_personal("座机 027-87654321") == "座机 027******21"
    unchanged = "区划 420106002003，2026-09-18 09:00:00，35,000 元，yb-2026-000123，hh-420106002003-00017"
    assert mask_personal(unchanged) == unchanged


def test_pseudonymous_event_ids_are_stable_keyed_and_carry_no_number():
    certificate = resident(78) + "01"
    first = pseudonym(certificate, "disabled_persons_federation", b"key-a")
    assert first == pseudonym(certificate, "disabled_persons_federation", b"key-a")  # replays stay idempotent
    assert first != pseudonym(certificate, "disabled_persons_federation", b"key-b")
    assert first.isalpha() and not any(ch.isdigit() for ch in first)


def test_the_disabled_persons_mapping_sends_no_certificate_number():
    from connectors.mapping import load_mapping
    from models.validation import validate_event

    rid = resident(79)
    header = ["残疾人证号", "身份证号", "残疾类别", "残疾等级", "发证日期"]
    mapper = load_mapping("disabled_persons_federation").bind(header)
    record = validate_event(mapper.map_row(dict(zip(header, [rid + "01", rid, "肢体", "二级", "2026-09-01"], strict=True))))
    assert record["event_id"].startswith("cl-") and not find_unmasked(record["event_id"])
    assert rid[6:14] not in record["event_id"]
    again = validate_event(mapper.map_row(dict(zip(header, [rid + "01", rid, "肢体", "二级", "2026-09-01"], strict=True))))
    assert again["event_id"] == record["event_id"]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _page_login(client, username: str) -> str:  # noqa: ANN001
    token = _csrf(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return _csrf(client.get("/account").text)


def _xlsx_text(content: bytes) -> str:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(content))
    return "\n".join(str(cell.value) for sheet in book for row in sheet.iter_rows() for cell in row
                     if cell.value is not None)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_full_workflow_leaks_no_id_phone_or_card(backend, tmp_path, caplog):
    rid, rid2 = resident(81), resident(82)
    old_id = "420106680504123"
    phone, phone2 = "13812345678", "13998765432"
    card = "6222021234567891234"
    certificate = rid + "01"
    planted = [rid, rid2, old_id, phone, phone2, card, certificate]
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # every statement and its (hidden) parameters
    seen: list[tuple[str, str]] = []

    def keep(what: str, response) -> None:  # noqa: ANN001
        assert response.status_code < 500, (what, response.status_code, response.text[:300])
        content_type = response.headers.get("content-type", "")
        text = _xlsx_text(response.content) if "spreadsheet" in content_type else response.text
        seen.append((what, text))

    try:
        with env_on(backend, tmp_path) as env:
            household = "person:" + rid
            provisional = make_alert(f"{household}/missed_coverage/1", household=household, level=4,
                                     reason_text=f"{rid} 近12个月个人自付医疗费用 35,000 元")
            provisional["reasons"][0]["event_ids"] = ["cl-" + certificate, "yb-2026-000123"]
            other = make_alert("leak-2", reason_text=f"户主 {_fullwidth(rid2)} 新认定残疾")
            third = make_alert("leak-3", kind="should_exit")
            env.ingest(provisional, other, third)
            client = env.client
            # sign-in attempts with personal numbers as the username (API and page)
            keep("token failed", client.post("/api/v1/token", json={"username": rid, "password": "wrong-password-1"}))
            token = _csrf(client.get("/login").text)
            keep("login failed", client.post("/login", data={"username": phone, "password": "x" * 12, "csrf": token}))

            number = env.number(provisional["alert_id"])
            for path in ("/api/v1/alerts", f"/api/v1/alerts/{number}", f"/api/v1/alerts/{env.number('leak-2')}"):
                keep(path, env.call("GET", path, "bureau"))
            keep("confirm", env.call("POST", f"/api/v1/alerts/{number}/confirm", "bureau"))
            keep("dismiss", env.call("POST", f"/api/v1/alerts/{env.number('leak-3')}/dismiss", "bureau",
                                     json={"reason": f"联系电话 138 1234 5678，银行卡 6222 0212 3456 7891 234，"
                                                     f"旧身份证 {old_id}，已核实"}))
            task_id = env.call("GET", "/api/v1/tasks", "bureau").json()["items"][0]["task_id"]
            keep("visit", env.call("POST", f"/api/v1/tasks/{task_id}/visit", "officer_a", json={
                "method": "home_visit", "result": "confirmed", "new_coverage": "dibao",
                "finding": f"入户核实：户主 {_fullwidth(rid)}，电话 {phone2}，卡号 {card}，家中无收入",
                "contact_phone": phone, "bank_card": card}))
            for path in ("/api/v1/tasks", f"/api/v1/tasks/{task_id}", f"/api/v1/alerts/{number}",
                         f"/api/v1/alerts/{env.number('leak-3')}", "/api/v1/exports/queue.xlsx?status=all",
                         "/api/v1/exports/tasks.xlsx", "/api/v1/stats"):
                keep(path, env.call("GET", path, "bureau"))
            for path in ("/api/v1/audit", "/api/v1/audit.xlsx"):
                keep(path, env.call("GET", path, "auditor"))
            keep("officer tasks", env.call("GET", "/api/v1/tasks", "officer_a"))
            # the same through the pages, as bureau, officer and auditor
            _page_login(client, "bureau")
            for path in ("/queue?status=all", f"/alerts/{number}", f"/alerts/{env.number('leak-2')}",
                         f"/alerts/{env.number('leak-3')}", "/tasks", f"/tasks/{task_id}", "/stats",
                         "/queue.xlsx?status=all", "/tasks.xlsx"):
                keep(path, client.get(path))
            client.cookies.clear()
            _page_login(client, "officer_a")
            for path in ("/tasks", f"/tasks/{task_id}", f"/alerts/{number}"):
                keep("officer " + path, client.get(path))
            client.cookies.clear()
            _page_login(client, "auditor")
            for path in ("/audit", "/audit.xlsx"):
                keep("auditor " + path, client.get(path))
            # an error from the database that names a personal number (PostgreSQL's DETAIL does), logged
            from sqlalchemy import text
            from sqlalchemy.exc import IntegrityError

            with env.wb.engine.connect() as conn:
                try:
                    for _ in range(2):
                        conn.execute(text("INSERT INTO wb_calendar_days (day, working, note, updated_by, updated_at) "
                                          "VALUES ('2031-01-01', true, :note, :who, '2026-09-18 00:00:00')"),
                                     {"note": rid, "who": phone})
                except IntegrityError:
                    logging.getLogger("workbench.test").exception("calendar insert refused for %s", rid)
                conn.rollback()
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    seen.append(("logs", caplog.text + "\n".join(r.getMessage() for r in caplog.records)))

    assert any("person:420106********" in text for _, text in seen)  # the workflow really showed masked data
    assert "refused for 420106********" in caplog.text
    leaks = []
    for what, text in seen:
        normal = unicodedata.normalize("NFKC", text)
        squeezed = re.sub(r"(?<=\d)[ \-](?=\d)", "", normal)
        for value in planted:
            if value in normal or value in squeezed:
                leaks.append((what, value))
        leaks.extend((what, found) for found in find_unmasked(text))
    assert not leaks, json.dumps(leaks[:20], ensure_ascii=False)
