"""Every policy rule of DESIGN.md through the core: the alert kinds raised, and the cases that raise nothing."""

from __future__ import annotations

import pytest

from models.validation import VALIDATORS
from scoring.monitor import Monitor
from tests.builders import event, filing, household, outcome, person

STANDARD = 1070.0  # Wuchang's dibao standard in the bundled policy


def run(*inputs: tuple[str, dict], monitor: Monitor | None = None) -> list[dict]:
    monitor = monitor or Monitor()
    alerts: list[dict] = []
    for stream, record in inputs:
        alerts.extend(monitor.feed(stream, VALIDATORS[stream](record)))
    return alerts


def kinds(alerts: list[dict]) -> list[str]:
    return [a["kind"] for a in alerts]


def codes(alert: dict) -> set[str]:
    return {r["code"] for r in alert["reasons"]}


def family(coverage: str, income_per_capita_ratio: float, ages=("1975-02-01", "1977-03-01", "2012-06-01")):
    ids = [person(born) for born in ages]
    relations = ["head", "spouse", "child", "parent", "other"][: len(ids)]
    income = income_per_capita_ratio * STANDARD * len(ids)
    return ids, household(f"H-{ids[0][-6:]}", list(zip(ids, relations, strict=False)), coverage, income)


# --- medical costs (个人自付医疗费用超过3万元) ------------------------------------------------------


def test_edge_household_with_big_out_of_pocket_bill_is_missed_coverage():
    ids, roster = family("edge", 1.3)
    alerts = run(("registry", roster), ("events", event("medical_bill", ids[0], out_of_pocket_yuan=35000, total_yuan=60000)))
    assert kinds(alerts) == ["missed_coverage"]
    assert {"EXPENDITURE_POVERTY", "MEDICAL_OOP_OVER_LINE"} <= codes(alerts[0])
    assert alerts[0]["reasons"][0]["event_ids"]


def test_bills_add_up_over_twelve_months_but_not_beyond():
    def pair():
        return family("none", 1.2, ages=("1950-01-01", "1952-01-01"))

    ids, roster = pair()
    early = event("medical_bill", ids[1], when="2025-01-10T09:00:00+08:00", out_of_pocket_yuan=20000)
    late = event("medical_bill", ids[1], when="2026-03-01T09:00:00+08:00", out_of_pocket_yuan=22000)
    assert run(("registry", roster), ("events", early), ("events", late)) == []  # 14 months apart
    ids, roster = pair()
    early = event("medical_bill", ids[1], when="2025-06-10T09:00:00+08:00", out_of_pocket_yuan=20000)
    late = event("medical_bill", ids[1], when="2026-03-01T09:00:00+08:00", out_of_pocket_yuan=22000)
    alerts = run(("registry", roster), ("events", early), ("events", late))
    assert kinds(alerts) == ["missed_coverage"]
    assert "MEDICAL_OOP_OVER_LINE" in codes(alerts[0])


def test_well_off_household_small_bill_raises_nothing():
    ids, roster = family("none", 4.0)
    assert run(("registry", roster), ("events", event("medical_bill", ids[0], out_of_pocket_yuan=800))) == []


def test_well_off_household_even_big_bill_stays_under_the_line():
    ids, roster = family("none", 6.0)
    assert run(("registry", roster), ("events", event("medical_bill", ids[0], out_of_pocket_yuan=36000))) == []


def test_modest_uncovered_household_crosses_the_line_with_a_big_bill():
    ids, roster = family("none", 1.2, ages=("1950-01-01", "1952-01-01"))
    alerts = run(
        ("registry", roster),
        ("events", event("hospitalization", ids[0], serious_illness=True)),
        ("events", event("medical_bill", ids[0], out_of_pocket_yuan=42000)),
    )
    assert set(kinds(alerts)) == {"missed_coverage"}
    assert len({a["alert_id"] for a in alerts}) == 1  # the bill raised the level of the same alert
    assert "MEDICAL_OOP_OVER_LINE" in codes(alerts[-1])
    assert alerts[-1]["hardship_score"] >= 45


# --- disability (重度残疾，含智力、精神三级) ---------------------------------------------------------


@pytest.mark.parametrize(("category", "grade"), [("physical", 1), ("visual", 2), ("intellectual", 3), ("mental", 3)])
def test_severe_disability_in_edge_household_is_single_person_coverage(category, grade):
    ids, roster = family("edge", 1.3)
    alerts = run(("registry", roster), ("events", event("disability_certified", ids[2], category=category, grade=grade)))
    assert kinds(alerts) == ["missed_coverage"]
    assert {"SINGLE_PERSON_COVERAGE", "SEVERE_DISABILITY"} <= codes(alerts[0])


@pytest.mark.parametrize(("category", "grade"), [("physical", 4), ("hearing", 3), ("visual", 4)])
def test_mild_disability_raises_nothing(category, grade):
    ids, roster = family("edge", 1.3)
    assert run(("registry", roster), ("events", event("disability_certified", ids[2], category=category, grade=grade))) == []


# --- unemployment, death, disaster ----------------------------------------------------------------


def test_registered_unemployment_raises_the_score_and_crosses_the_line():
    ids, roster = family("none", 1.25, ages=("1980-01-01", "1950-01-01", "1952-01-01", "2015-01-01"))
    monitor = Monitor()
    assert run(("registry", roster), monitor=monitor) == []
    before = monitor.households[roster["household_id"]]
    from scoring.assess import assess

    score_before = assess(before, monitor.policy).hardship_score
    alerts = run(("events", event("unemployment_registered", ids[0])), monitor=monitor)
    assert kinds(alerts) == ["missed_coverage"]
    assert "REGISTERED_UNEMPLOYMENT" in codes(alerts[0])
    assert alerts[0]["hardship_score"] > score_before
    assert alerts[0]["dimensions"]["employment"] == 100.0


def test_employment_after_job_loss_ends_unemployment():
    ids, roster = family("none", 1.25, ages=("1980-01-01", "1950-01-01", "1952-01-01", "2015-01-01"))
    alerts = run(
        ("registry", roster),
        ("events", event("employment_started", ids[0], when="2026-02-01T09:00:00+08:00", monthly_wage_yuan=5000)),
        ("events", event("job_loss", ids[0], when="2026-01-01T09:00:00+08:00")),  # arrives late, is older
    )
    assert alerts == []


def test_death_of_a_member_raises_shock_and_can_cross_the_line():
    ids, roster = family("none", 1.1, ages=("1945-01-01", "1947-01-01"))
    alerts = run(("registry", roster), ("events", event("death", ids[0])))
    assert kinds(alerts) == ["missed_coverage"]
    assert "MEMBER_DEATH" in codes(alerts[0])
    assert alerts[0]["dimensions"]["shock"] >= 60


def test_disaster_raises_shock():
    ids, roster = family("none", 1.15, ages=("1955-01-01", "1957-01-01", "2016-01-01"))
    alerts = run(("registry", roster), ("events", event("disaster", ids[0], loss_yuan=80000)))
    assert kinds(alerts) == ["missed_coverage"]
    assert "DISASTER" in codes(alerts[0])


def test_uncovered_household_under_the_standard_is_missed_coverage():
    ids, roster = family("none", 0.8)
    alerts = run(("registry", roster))
    assert kinds(alerts) == ["missed_coverage"]
    assert "INCOME_UNDER_STANDARD" in codes(alerts[0])


# --- income bands: stays, gradual exit, should exit -----------------------------------------------


def test_covered_household_at_the_standard_stays():
    ids, roster = family("dibao", 1.0)
    assert run(("registry", roster)) == []


def test_job_that_lands_in_the_band_is_gradual_exit_not_should_exit():
    ids, roster = family("dibao", 0.6)  # 3 x 642 = 1926 yuan
    wage = (1.25 - 0.6) * STANDARD * 3  # per capita becomes 1.25x the standard
    alerts = run(("registry", roster), ("events", event("employment_started", ids[0], monthly_wage_yuan=wage)))
    assert kinds(alerts) == ["gradual_exit"]
    assert codes(alerts[0]) == {"GRADUAL_EXIT_BAND"}


def test_job_that_reaches_one_and_a_half_times_is_should_exit():
    ids, roster = family("dibao", 0.6)
    wage = (1.6 - 0.6) * STANDARD * 3
    alerts = run(("registry", roster), ("events", event("employment_started", ids[0], monthly_wage_yuan=wage)))
    assert kinds(alerts) == ["should_exit"]
    assert "INCOME_OVER_EXIT_LINE" in codes(alerts[0])


def test_confirmed_gradual_exit_turns_into_should_exit_after_six_months():
    ids, roster = family("dibao", 0.6)
    wage = (1.25 - 0.6) * STANDARD * 3
    monitor = Monitor()
    first = run(("registry", roster), ("events", event("employment_started", ids[0], monthly_wage_yuan=wage)), monitor=monitor)
    assert run(("outcomes", outcome(first[0], "confirmed", when="2026-03-10T10:00:00+08:00")), monitor=monitor) == []
    assert run(("events", event("medical_bill", ids[1], when="2026-06-01T10:00:00+08:00", out_of_pocket_yuan=50)),
               monitor=monitor) == []
    later = run(("events", event("medical_bill", ids[1], when="2026-10-01T10:00:00+08:00", out_of_pocket_yuan=50)),
                monitor=monitor)
    assert kinds(later) == ["should_exit"]
    assert "GRADUAL_EXIT_ENDED" in codes(later[0])


def test_dibao_standard_from_the_record_overrides_the_policy():
    ids, roster = family("none", 1.2)  # 1.2 x 1070 per capita
    roster["dibao_standard_yuan"] = 1400.0
    alerts = run(("registry", roster))
    assert kinds(alerts) == ["missed_coverage"]


# --- evidence for should_exit (re-examined, not cut) ----------------------------------------------


def test_death_of_the_only_member_is_should_exit():
    pid = person("1940-01-01")
    roster = household("H-alone", [(pid, "head")], "tekun", 500)
    alerts = run(("registry", roster), ("events", event("death", pid)))
    assert kinds(alerts) == ["should_exit"]
    assert "ALL_MEMBERS_DECEASED" in codes(alerts[0])
    assert alerts[0]["removal_score"] == 100.0


@pytest.mark.parametrize(
    ("event_type", "attributes", "code"),
    [
        ("incarceration", {}, "INCARCERATION"),
        ("pension_started", {"monthly_pension_yuan": 900}, "PENSION_STARTED"),
        ("property_acquired", {"value_yuan": 800000}, "PROPERTY_ACQUIRED"),
        ("vehicle_acquired", {"value_yuan": 120000}, "VEHICLE_ACQUIRED"),
        ("business_registered", {"value_yuan": 50000}, "BUSINESS_REGISTERED"),
        ("public_servant_hired", {}, "PUBLIC_SERVANT_HIRED"),
    ],
)
def test_evidence_for_should_exit(event_type, attributes, code):
    ids, roster = family("dibao", 0.5)
    alerts = run(("registry", roster), ("events", event(event_type, ids[1], **attributes)))
    assert kinds(alerts) == ["should_exit"]
    assert code in codes(alerts[0])
    assert alerts[0]["removal_score"] >= 60


def test_a_cheap_vehicle_is_no_evidence():
    ids, roster = family("dibao", 0.5)
    assert run(("registry", roster), ("events", event("vehicle_acquired", ids[1], value_yuan=20000))) == []


def test_property_bars_missed_coverage():
    ids, roster = family("none", 1.15, ages=("1955-01-01", "1957-01-01", "2016-01-01"))
    alerts = run(
        ("registry", roster),
        ("events", event("property_acquired", ids[0], when="2026-02-01", value_yuan=900000)),
        ("events", event("disaster", ids[0], loss_yuan=80000)),
    )
    assert alerts == []  # the same disaster without the flat raises 漏保 (test_disaster_raises_shock)


# --- filed close relatives (近亲属备案, 人情保 / 关系保) -------------------------------------------------


def test_covered_household_with_a_filed_relative_is_checked_and_the_officer_recused():
    ids, roster = family("dibao", 0.7)
    alerts = run(("filings", filing("staff-007", [ids[1]])), ("registry", roster))
    assert kinds(alerts) == ["filed_relative_check"]
    assert alerts[0]["recusal_staff_ids"] == ["staff-007"]


def test_filing_after_the_roster_also_triggers_the_check():
    ids, roster = family("tekun", 0.7)
    alerts = run(("registry", roster), ("filings", filing("cadre-3", [ids[0]], role="village_committee_member")))
    assert kinds(alerts) == ["filed_relative_check"]


def test_uncovered_household_with_a_filed_relative_is_not_a_check():
    ids, roster = family("none", 3.0)
    assert run(("filings", filing("staff-008", [ids[1]])), ("registry", roster)) == []


# --- people outside the roster ------------------------------------------------------------------


def test_person_outside_the_roster_with_a_big_bill_gets_a_provisional_household():
    pid = person("1958-08-08")
    alerts = run(("events", event("medical_bill", pid, out_of_pocket_yuan=31000)))
    assert kinds(alerts) == ["missed_coverage"]
    assert alerts[0]["household_id"] == "person:" + pid
    assert alerts[0]["division_code"] == pid[:6] + "000000"
    assert "PERSON_OUTSIDE_ROSTER" in codes(alerts[0])
    assert pid not in " ".join(r["text"] for r in alerts[0]["reasons"])  # masked in the text


def test_person_outside_the_roster_with_a_small_bill_raises_nothing_but_is_kept():
    pid = person("1960-01-01")
    other = person("1962-01-01")
    monitor = Monitor()
    assert run(("events", event("medical_bill", pid, out_of_pocket_yuan=20000)), monitor=monitor) == []
    roster = household("H-later", [(pid, "head"), (other, "spouse")], "edge", 1.3 * STANDARD * 2)
    alerts = run(("registry", roster), ("events", event("medical_bill", pid, out_of_pocket_yuan=12000)), monitor=monitor)
    assert kinds(alerts) == ["missed_coverage"]
    assert alerts[0]["household_id"] == "H-later"
    assert "person:" + pid not in monitor.households


# --- outcomes -----------------------------------------------------------------------------------


def test_dismissed_alert_stays_quiet_until_new_evidence():
    ids, roster = family("edge", 1.3)
    monitor = Monitor()
    first = run(("registry", roster), ("events", event("medical_bill", ids[0], out_of_pocket_yuan=35000)), monitor=monitor)
    assert run(("outcomes", outcome(first[0], "dismissed", reason="入户核实：费用已由商业保险报销")), monitor=monitor) == []
    assert run(("events", event("income_reported", ids[1], monthly_income_yuan=1500)), monitor=monitor) == []
    again = run(("events", event("medical_bill", ids[0], when="2026-04-01T10:00:00+08:00", out_of_pocket_yuan=5000)),
                monitor=monitor)
    assert kinds(again) == ["missed_coverage"]
    assert again[0]["alert_id"].endswith("/2")


def test_confirmed_missed_coverage_covers_the_household():
    ids, roster = family("edge", 1.3)
    monitor = Monitor()
    first = run(("registry", roster), ("events", event("medical_bill", ids[0], out_of_pocket_yuan=35000)), monitor=monitor)
    run(("outcomes", outcome(first[0], "confirmed", new_coverage="dibao")), monitor=monitor)
    assert monitor.households[roster["household_id"]]["coverage"] == "dibao"
    assert run(("events", event("medical_bill", ids[0], when="2026-04-01T10:00:00+08:00", out_of_pocket_yuan=500)),
               monitor=monitor) == []


def test_same_event_twice_raises_one_alert():
    ids, roster = family("edge", 1.3)
    bill = event("medical_bill", ids[0], out_of_pocket_yuan=35000)
    alerts = run(("registry", roster), ("events", bill), ("events", dict(bill)), ("registry", roster), ("events", bill))
    assert len(alerts) == 1


def test_level_rises_with_more_hardship_under_the_same_alert_id():
    ids, roster = family("edge", 1.3, ages=("1950-01-01", "1952-01-01", "2015-01-01"))
    alerts = run(
        ("registry", roster),
        ("events", event("medical_bill", ids[0], out_of_pocket_yuan=35000)),
        ("events", event("disability_certified", ids[1], when="2026-04-01", category="mental", grade=2)),
        ("events", event("death", ids[0], when="2026-05-01")),
    )
    assert len({a["alert_id"] for a in alerts}) == 1
    assert [a["level"] for a in alerts] == sorted(a["level"] for a in alerts)
    assert len(alerts) >= 2
