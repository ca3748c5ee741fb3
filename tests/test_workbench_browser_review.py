"""Headless Chromium (Debian's) against `hardship serve`, issue 14's main paths: the officer's labelled full-width task
cards on a 390-px phone, the street's 复核 send-back and approval, the printed 书面告知书 (its PDF read back for the
masked household id and the reasons), the household file found by resident ID, the queue filtered by a street's name,
the household file's roster (members masked, coverage history, address, phone masked) and the officer's audited
reveal of the roster's phone on the task page.

Screenshots go to the test's temporary folder; with HARDSHIP_UPDATE_SCREENSHOTS=1 they replace those in
docs/screenshots/ (on purpose only).
"""

from __future__ import annotations

import io
import os

import pytest

from streams.broker import free_port
from tests.test_workbench_browser import CHROMIUM, DOCS_SHOTS, _require_browser, seed_database
from tests.workbench_fixtures import DIVISION, PASSWORD, make_alert, resident

pytestmark = [pytest.mark.browser, pytest.mark.slow]
RID = resident(202)
ROSTER_PHONE = "13971234567"
ROSTER_HEAD = resident(203)


def _prepare(url: str) -> None:
    alerts = [
        make_alert("a", level=4, score=86.5, household="person:" + RID),
        make_alert("b", kind="should_exit", level=3, score=9.6, household="hh-420106002003-0415"),
        make_alert("c", level=2, score=61, household="hh-420106002004-0011", division="420106002004"),
    ]
    alerts[1]["removal_score"] = 85.4
    alerts[1]["reasons"] = [{"code": "PENSION_STARTED", "text": "户主新领取城镇职工养老金 3,200 元/月",
                             "event_ids": ["sb-2026-7781"]}]
    seed_database(url, (("wangke", "王科长", "bureau", ["420106000000"], "S-001"),
                        ("lizhuren", "李主任", "street", ["420106002000"], "S-002"),
                        ("zhangmin", "张敏", "officer", [DIVISION], "S-003")), alerts,
                  "420106000000,武昌区\n420106002000,积玉桥街道\n420106002003,和平社区\n420106002004,新河社区\n")
    # the roster of the 应退 household (hardship.registry): two versions, covered since March
    from datetime import UTC, date, datetime

    from workbench import db
    from workbench.roster import upsert_roster

    engine = db.make_engine(url)
    record = {"household_id": "hh-420106002003-0415", "division_code": DIVISION, "coverage": "none",
              "monthly_income_yuan": 1800, "recorded_at": "2026-01-01T00:00:00+08:00",
              "address": "武汉市武昌区积玉桥路88号6栋2单元1203室", "contact_phone": ROSTER_PHONE,
              "members": [{"person_id": ROSTER_HEAD, "relation": "head", "monthly_income_yuan": 3200},
                          {"person_id": resident(204, date(1970, 2, 1)), "relation": "spouse", "monthly_income_yuan": 0},
                          {"person_id": resident(205, date(2012, 7, 1)), "relation": "child"}]}
    with db.session_factory(engine)() as session:
        now = datetime.now(UTC)
        upsert_roster(session, record, now)
        upsert_roster(session, dict(record, coverage="dibao", recorded_at="2026-03-01T00:00:00+08:00"), now)
        session.commit()
    engine.dispose()


def _login(browser, url: str, username: str, viewport: dict, **options):  # noqa: ANN001, ANN202
    context = browser.new_context(viewport=viewport, locale="zh-CN", **options)
    page = context.new_page()
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page


def test_officer_phone_review_send_back_letter_household_file(tmp_path):
    _require_browser()
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader

    from workbench.runner import start_subprocess

    url_db = f"sqlite:///{tmp_path / 'browser.sqlite3'}"
    _prepare(url_db)
    shots = DOCS_SHOTS if os.environ.get("HARDSHIP_UPDATE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    handle = start_subprocess(port=free_port(), database=url_db, data_dir=tmp_path, log_path=tmp_path / "serve.log")
    desk = {"width": 1366, "height": 900}
    phone = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            # the bureau: the queue by a street's name (a suggestion list), 应退 led by its removal score; confirm
            bureau, page = _login(browser, handle.url, "wangke", desk)
            page.fill("input[name=street]", "积玉桥街道")
            assert page.locator("#street-names option[value='积玉桥街道']").count() == 1
            page.click("form.filters button.primary")
            page.wait_for_url("**street=*")
            body = page.inner_text("body")
            assert "共 3 条" in body and "积玉桥街道 和平社区" in body and "积玉桥街道 新河社区" in body
            page.screenshot(path=str(shots / "09-queue-by-name.png"), full_page=True)
            page.fill("input[name=street]", "42010600")
            page.click("form.filters button.primary")
            assert "9 或 12 位数字" in page.inner_text("#filter-error")
            page.goto(handle.url + "/queue?kind=should_exit")
            page.click("text=hh-420106002003-0415")
            assert page.inner_text("#lead-score") == "85.4"
            page.goto(handle.url + "/queue")
            page.click("text=person:420106********")
            page.click("#confirm")
            page.wait_for_selector(".flash.ok")
            bureau.close()

            # the officer on a 390-px phone: full-width cards with labels; records a refuted visit
            officer, page = _login(browser, handle.url, "zhangmin", phone["viewport"], **{k: v for k, v in phone.items()
                                                                                            if k != "viewport"})
            page.wait_for_url("**/tasks")
            row = page.locator(".tasklist tbody tr").first
            assert row.bounding_box()["width"] > 360  # the card fills the phone's width (tbody was a table body)
            shown = row.evaluate("tr => [...tr.querySelectorAll('td')].map(td => getComputedStyle(td, '::before').content)")
            assert shown[:4] == ['"任务"', '"等级"', '"类型"', '"户编号"'] and '"办结期限"' in shown  # labelled values
            page.screenshot(path=str(shots / "10-officer-cards-390.png"), full_page=True)
            row.locator("a").click()
            page.wait_for_selector("#submit-visit")

            def record(finding: str, reason: str) -> None:
                page.check("input[name=method][value=home_visit]")
                page.fill("textarea[name=finding]", finding)
                page.check("input[name=result][value=refuted]")
                page.select_option("select[name=category]", "income_above_standard")
                page.fill("textarea[name=reason]", reason)
                page.fill("input[name=contact_phone]", "13812345678")
                page.click("#submit-visit")
                page.wait_for_selector(".flash.ok")

            record("户主在外务工", "家里有收入")
            task_url = page.url
            assert "待街道复核" in page.inner_text("#review-status")

            # the street office sends it back with its reason
            street, desk_page = _login(browser, handle.url, "lizhuren", desk)
            desk_page.goto(task_url)
            desk_page.fill("textarea[name=note]", "理由过简：请写明收入来源、金额和核对依据")
            desk_page.screenshot(path=str(shots / "11-review.png"), full_page=True)
            desk_page.click("#send-back")
            desk_page.wait_for_selector(".flash.ok")
            assert "已退回专干重新核查" in desk_page.inner_text(".flash")

            # the officer sees why and records again
            page.goto(task_url)
            assert "理由过简" in page.inner_text("#returns")
            page.screenshot(path=str(shots / "12-sent-back-390.png"), full_page=True)
            record("户主在外务工，月工资 4,500 元，有劳动合同", "户主务工月收入 4,500 元，家庭人均收入高于本市低保标准")
            officer.close()

            # approved; the letter printed, its PDF read back
            desk_page.goto(task_url)
            desk_page.click("#approve")
            desk_page.wait_for_selector("#letter")
            assert "复核通过" in desk_page.inner_text("#review-status")
            pdf = desk_page.request.get(handle.url + desk_page.locator("#letter").get_attribute("href"))
            assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
            text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages).replace(" ", "")
            assert f"person:420106********{RID[-4:]}" in text and RID not in text
            assert "户主务工月收入4,500元" in text and "家庭收入高于当地低保标准" in text and "行政复议" in text
            desk_page.screenshot(path=str(shots / "13-approved.png"), full_page=True)

            # the household file, found by resident ID (audited), with the events described
            desk_page.goto(handle.url + "/households")
            desk_page.fill("input[name=q]", RID)
            desk_page.click("form.row button.primary")
            desk_page.wait_for_selector("#chronology")
            body = desk_page.inner_text("body")
            assert "医保部门报送" in body and "街道复核退回" in body and "街道复核通过" in body and RID not in body
            assert "138****5678" in body
            desk_page.screenshot(path=str(shots / "14-household.png"), full_page=True)

            # the roster in the household file of the 应退 household: members masked, coverage history, address, phone
            desk_page.goto(handle.url + "/queue?kind=should_exit")
            desk_page.click("text=hh-420106002003-0415")
            desk_page.click("#household-link")
            desk_page.wait_for_selector("#members")
            members = desk_page.inner_text("#members")
            assert "户主" in members and "配偶" in members and "子女" in members and "3,200.00" in members
            assert ROSTER_HEAD[:6] + "********" + ROSTER_HEAD[-4:] in members and ROSTER_HEAD not in desk_page.content()
            assert "积玉桥路88号6栋2单元1203室" in desk_page.inner_text("#address")
            assert desk_page.inner_text("#coverage-history").count("\n") >= 1  # 无 -> 最低生活保障
            assert "139****4567" in desk_page.inner_text("#roster-phone") and desk_page.locator("#reveal-phone").count() == 0
            desk_page.screenshot(path=str(shots / "15-household-roster.png"), full_page=True)
            street.close()

            # the bureau confirms it; the officer finds the door: address and phone masked, revealed on purpose
            bureau, page = _login(browser, handle.url, "wangke", desk)
            page.goto(handle.url + "/queue?kind=should_exit")
            page.click("text=hh-420106002003-0415")
            page.click("#confirm")
            page.wait_for_selector(".flash.ok")
            bureau.close()
            officer, page = _login(browser, handle.url, "zhangmin", phone["viewport"], **{k: v for k, v in phone.items()
                                                                                            if k != "viewport"})
            page.wait_for_url("**/tasks")
            card = page.locator(".tasklist tbody tr", has_text="hh-420106002003-0415")
            assert "积玉桥路88号6栋2单元1203室" in card.inner_text()  # the address on the card
            card.locator("a").first.click()
            page.wait_for_selector("#task-address")
            assert "积玉桥路88号" in page.inner_text("#task-address")
            assert "139****4567" in page.inner_text("#task-phone") and ROSTER_PHONE not in page.content()
            page.click("#reveal-phone")
            page.wait_for_selector("#task-phone b.revealed")
            assert ROSTER_PHONE in page.inner_text("#task-phone")
            page.screenshot(path=str(shots / "16-officer-door-390.png"), full_page=True)
            officer.close()
            browser.close()
    finally:
        handle.stop()
