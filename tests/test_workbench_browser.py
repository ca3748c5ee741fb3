"""Headless Chromium against the real server: a bureau user confirms an alert, the officer records the visit on a phone.

Screenshots go to the test's temporary folder; with HARDSHIP_UPDATE_SCREENSHOTS=1 they replace the ones
in docs/screenshots/ (on purpose only: a test run leaves the clone as it found it). Skips only when
Debian's chromium is absent and CI is not set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from streams.broker import free_port
from tests.workbench_fixtures import DIVISION, PASSWORD, make_alert, resident

CHROMIUM = os.environ.get("HARDSHIP_CHROMIUM", "/usr/bin/chromium")
DOCS_SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _require_browser():
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail(f"chromium is required in CI but not found at {CHROMIUM}: apt-get install -y chromium")
        pytest.skip(f"Debian's chromium not installed ({CHROMIUM}); apt-get install -y chromium to run this test")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("the playwright package is required in CI: pip install -e '.[dev]'")
        pytest.skip("the playwright package is not installed: pip install -e '.[dev]'")


def seed_database(url: str, users: tuple, alerts: list[dict], division_names: str | None = None) -> None:
    """Migrate the database at `url` and put in the browser tests' users (username, name, role, scopes, staff id),
    their alerts (ids as scoring/household.py makes them) and, given, a division-names file."""
    from datetime import UTC, datetime

    from workbench import db
    from workbench import division_names as names
    from workbench.alerts import upsert_alert
    from workbench.users import create_user

    engine = db.make_engine(url)
    db.upgrade(engine)
    now = datetime.now(UTC)
    with db.session_factory(engine)() as session:
        for username, name, role, scopes, staff in users:
            create_user(session, None, username=username, display_name=name, role=role, scopes=scopes, password=PASSWORD,
                        staff_id=staff, now=now)
        if division_names is not None:
            names.import_file(session, division_names, now)
        for alert in alerts:
            alert["alert_id"] = f"{alert['household_id']}/{alert['kind']}/1"
            upsert_alert(session, alert, now)
        session.commit()
    engine.dispose()


def _prepare_database(url: str) -> None:
    alerts = [
        make_alert("mc-2026-0001", level=4, score=86.5, household="person:" + resident(101)),
        make_alert("se-2026-0002", kind="should_exit", level=3, score=35, household="hh-420106002003-0415"),
        make_alert("ge-2026-0003", kind="gradual_exit", level=2, score=48, household="hh-420106002003-0233"),
        make_alert("mc-2026-0004", level=1, score=58, household="hh-420106002004-0011", division="420106002004"),
    ]
    alerts[0]["reasons"] = [
        {"code": "MEDICAL_OOP_OVER_30000", "text": "近12个月个人自付医疗费用 36,800 元，超过 30,000 元", "event_ids": ["yb-2026-000123"]},
        {"code": "SEVERE_DISABILITY", "text": "家庭成员新认定肢体残疾二级（重度）", "event_ids": ["cl-2026-004511"]},
        {"code": "INCOME_UNDER_STANDARD", "text": "扣除刚性支出后家庭人均月收入 612 元，低于低保标准 1,030 元", "event_ids": []},
    ]
    alerts[0]["dimensions"] = {"age_structure": 55, "economic": 88, "health": 92, "disability": 75, "employment": 60, "shock": 70}
    alerts[1]["reasons"] = [{"code": "PENSION_STARTED", "text": "户主新领取城镇职工养老金 3,200 元/月", "event_ids": ["sb-2026-7781"]}]
    alerts[1]["removal_score"] = 82
    seed_database(url, (("wangke", "王科长", "bureau", ["420106000000"], "S-001"),
                        ("zhangmin", "张敏", "officer", [DIVISION], "S-003")), alerts)


def test_bureau_confirms_and_officer_records_the_visit(tmp_path):
    _require_browser()
    from playwright.sync_api import sync_playwright

    from workbench.runner import start_subprocess

    url_db = f"sqlite:///{tmp_path / 'browser.sqlite3'}"
    _prepare_database(url_db)
    shots = DOCS_SHOTS if os.environ.get("HARDSHIP_UPDATE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    handle = start_subprocess(port=free_port(), database=url_db, data_dir=tmp_path, log_path=tmp_path / "serve.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            page = desk.new_page()
            page.goto(handle.url + "/queue")
            assert "/login" in page.url
            page.screenshot(path=str(shots / "01-login.png"))
            page.fill("input[name=username]", "wangke")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/queue")
            body = page.inner_text("body")
            assert "预警队列" in body and "红色" in body and "person:420106********" in body
            assert resident(101) not in page.content()
            page.screenshot(path=str(shots / "02-queue.png"), full_page=True)
            page.click("text=person:420106********")
            page.wait_for_selector("svg.radar")
            assert "六维困难画像" in page.inner_text("body")
            page.screenshot(path=str(shots / "03-alert.png"), full_page=True)
            # a dismissal without a reason is refused on the page too
            page.click("text=排除预警")
            assert "书面理由" in page.inner_text("body")
            page.click("#confirm")
            page.wait_for_selector(".flash.ok")
            assert "已确认，生成核查任务" in page.inner_text(".flash")
            page.screenshot(path=str(shots / "04-confirmed.png"), full_page=True)
            desk_page = page

            phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                        has_touch=True, locale="zh-CN")
            page = phone.new_page()
            page.goto(handle.url + "/login")
            page.fill("input[name=username]", "zhangmin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/tasks")
            page.screenshot(path=str(shots / "06-officer-tasks.png"), full_page=True)
            page.click("text=#1")
            page.wait_for_selector("#submit-visit")
            page.check("input[name=method][value=home_visit]")
            page.fill("textarea[name=finding]", "入户核实：户主因病住院两次，配偶无业，家庭人均月收入低于低保标准，情况属实。")
            page.check("input[name=result][value=confirmed]")
            page.fill("input[name=contact_phone]", "13812345678")
            page.fill("input[name=bank_card]", "6222021234567891234")
            page.screenshot(path=str(shots / "07-visit-form.png"), full_page=True)
            page.click("#submit-visit")
            page.wait_for_selector(".flash.ok")
            body = page.inner_text("body")
            assert "走访结果已登记" in body and "138****5678" in body and "13812345678" not in body
            page.screenshot(path=str(shots / "08-visit-recorded.png"), full_page=True)
            task_url = page.url
            phone.close()
            desk_page.goto(task_url)  # the review (复核): the visit counts once it is approved
            desk_page.click("#approve")
            desk_page.wait_for_selector("#review-status")
            assert "复核通过" in desk_page.inner_text("#review-status")
            desk_page.goto(handle.url + "/stats")  # the bureau's figures after the reviewed visit
            assert "100%" in desk_page.inner_text("body")
            desk_page.screenshot(path=str(shots / "05-stats.png"), full_page=True)
            desk.close()
            browser.close()
    finally:
        handle.stop()
