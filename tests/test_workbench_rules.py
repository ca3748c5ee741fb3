"""The pure rules of the workbench: due dates on China's calendar, access and recusal, division codes, masking."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench import access, divisions, duedates
from workbench.access import Actor
from workbench.masking import mask_bank_card, mask_household_id, mask_phone, mask_text


@pytest.mark.parametrize(("start", "days", "due"), [
    (date(2026, 9, 18), 30, date(2026, 11, 5)),   # 中秋 9/25-27 and 国庆 10/1-7 skipped; make-up Sundays 9/20 counted
    (date(2026, 9, 30), 1, date(2026, 10, 8)),    # the day after the holiday
    (date(2026, 10, 9), 1, date(2026, 10, 10)),   # Saturday 10/10 is a make-up working day (调休上班)
    (date(2026, 9, 18), 45, date(2026, 11, 26)),
    (date(2025, 9, 26), 30, date(2025, 11, 13)),  # 2025: 国庆中秋 10/1-8, make-up 9/28 and 10/11 counted
])
def test_working_days_across_national_day(start, days, due):
    result = duedates.add_working_days(start, days)
    assert result.due == due and result.provisional is False


def test_unpublished_year_is_provisional_not_a_crash():
    result = duedates.due_date(date(2026, 12, 20))
    assert result.provisional and result.due.year == 2027
    assert duedates.is_working_day(date(2027, 1, 1)) == (False, False)  # New Year's Day is statutory
    assert duedates.is_working_day(date(2027, 1, 4)) == (True, False)
    far = duedates.due_date(date(2031, 9, 28), extended=True)
    assert far.provisional and far.due > date(2031, 11, 1)


def test_holiday_file_extends_and_corrects_the_calendar():
    days = duedates.parse_holiday_lines("""
        # 2027 春节（假设的安排）
        2027-02-08 holiday 春节
        2027-02-09 holiday
        2027-02-20 workday 调休上班
    """)
    plain = duedates.add_working_days(date(2027, 2, 5), 3)
    extended = duedates.add_working_days(date(2027, 2, 5), 3, days)
    assert plain.due == date(2027, 2, 10) and extended.due == date(2027, 2, 12)
    assert duedates.is_working_day(date(2027, 2, 20), days) == (True, False)
    with pytest.raises(ValueError, match="line 1"):
        duedates.parse_holiday_lines("2027-13-01 holiday")
    with pytest.raises(ValueError):
        duedates.parse_holiday_lines("2027-01-01 maybe")


@given(st.dates(min_value=date(2005, 1, 1), max_value=date(2040, 12, 31)), st.integers(1, 60))
def test_due_date_is_a_working_day_after_start(start, days):
    result = duedates.add_working_days(start, days)
    assert result.due > start
    assert duedates.is_working_day(result.due)[0]
    assert result.provisional == any(not duedates.published(y) for y in range(start.year, result.due.year + 1))


def test_division_levels_and_containment():
    assert divisions.prefix("420106000000") == "420106" and divisions.level("420106000000") == "county"
    assert divisions.level("420106002000") == "street" and divisions.level("420106002003") == "community"
    assert divisions.contains("420106000000", "420106002003")
    assert not divisions.contains("420106002000", "420106005001")
    assert not divisions.contains("420106002003", "420106002004")
    assert divisions.covered(["420111000000", "420106002000"], "420106002004")


def test_access_rules():
    bureau = Actor("b", "bureau", ("420106000000",), "S1")
    officer = Actor("o", "officer", ("420106002003",), "S2")
    verifier = Actor("v", "verifier", ("420106000000",), "S3")
    assert access.can(bureau, "alert.triage", "420106002003")
    assert not access.can(bureau, "alert.triage", "420111001001")
    assert not access.can(bureau, "alert.triage", "420106002003", recusal_staff_ids=["S1"])
    assert access.can(bureau, "alert.read", "420106002003", recusal_staff_ids=["S1"])  # reading is not deciding
    assert not access.can(officer, "alert.triage", "420106002003")
    assert not access.can(verifier, "alert.read", "420106002003", kind="missed_coverage")
    assert access.can(verifier, "task.visit", "420106002003", kind="filed_relative_check")
    assert not access.allowed("auditor", "personal.reveal") and access.allowed("auditor", "audit.read")


def test_who_may_receive_a_task():
    assert access.eligible_assignee("missed_coverage", "officer", ["420106002003"], "420106002003", "S2", [])
    assert not access.eligible_assignee("missed_coverage", "officer", ["420106002003"], "420106002003", "S2", ["S2"])
    assert not access.eligible_assignee("missed_coverage", "officer", ["420106002003"], "420106002004", "S2", [])
    assert not access.eligible_assignee("missed_coverage", "officer", ["420106002000"], "420106002003", "S2", [])
    assert access.eligible_assignee("filed_relative_check", "verifier", ["420106000000"], "420106002003", "S3", [])
    assert not access.eligible_assignee("filed_relative_check", "officer", ["420106002003"], "420106002003", "S2", [])
    assert not access.eligible_assignee("filed_relative_check", "verifier", ["420106002000"], "420106002003", "S3", [])
    assert not access.eligible_assignee("missed_coverage", "officer", ["420106002003"], "420106002003", "S2", [], active=False)


def test_masking():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_bank_card("6222 0212 3456 7891 234") == "6222 **** **** 1234"
    assert mask_household_id("person:420106196805040114") == "person:420106********0114"
    assert mask_household_id("hh-0001") == "hh-0001"
    assert mask_text("户主 420106196805040114 住院") == "户主 420106********0114 住院"
