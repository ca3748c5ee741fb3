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

    # 2 x 1.2 x 1070 = 2,568 a month; 3,000 + 3,000 over 12 months brings it under 2 x 1,070, one alone not
    ids, roster = pair()
    early = event("medical_bill", ids[1], when="2025-01-10T09:00:00+08:00", out_of_pocket_yuan=3000)
    late = event("medical_bill", ids[1], when="2026-03-01T09:00:00+08:00", out_of_pocket_yuan=3000)
    assert run(("registry", roster), ("events", early), ("events", late)) == []  # 14 months apart
    ids, roster = pair()
    early = event("medical_bill", ids[1], when="2025-06-10T09:00:00+08:00", out_of_pocket_yuan=3000)
    late = event("medical_bill", ids[1], when="2026-03-01T09:00:00+08:00", out_of_pocket_yuan=3000)
    alerts = run(("registry", roster), ("events", early), ("events", late))
    assert kinds(alerts) == ["missed_coverage"]
    assert "EXPENDITURE_POVERTY" in codes(alerts[0])


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


def test_registered_unemployment_raises_the_score_but_not_an_alert_without_the_income_test():
    ids, roster = family("none", 1.25, ages=("1980-01-01", "1950-01-01", "1952-01-01", "2015-01-01"))
    monitor = Monitor()
    assert run(("registry", roster), monitor=monitor) == []
    from scoring.assess import assess

    score_before = assess(monitor.households[roster["household_id"]], monitor.policy).hardship_score
    assert run(("events", event("unemployment_registered", ids[0])), monitor=monitor) == []
    after = assess(monitor.households[roster["household_id"]], monitor.policy)
    assert after.hardship_score > score_before
    assert after.dimensions["employment"] == 100.0


def test_job_loss_after_reports_ends_the_wage_and_the_household_is_missed():
    worker, elder = person("1980-01-01"), person("1950-01-01")
    roster = household("H-jobloss", [(worker, "head"), (elder, "parent")], "none", 4000)
    reports = [
        ("events", event("income_reported", worker, when=f"2026-{m:02d}-05T09:00:00+08:00", source="tax",
                         monthly_income_yuan=3600))
        for m in range(2, 12)
    ]
    assert run(("registry", roster), *reports) == []  # each report is inside the roster's 4,000
    monitor = Monitor()
    run(("registry", roster), *reports, monitor=monitor)
    alerts = run(("events", event("job_loss", worker, when="2026-11-20T09:00:00+08:00", source="human_resources")),
                 monitor=monitor)
    assert kinds(alerts) == ["missed_coverage"]  # 400 yuan for two: under the standard
    assert "INCOME_UNDER_STANDARD" in codes(alerts[0])
    text = alerts[0]["reasons"][0]["text"]
    assert "人社部门" in text and "失业" in text


def test_employment_after_job_loss_ends_unemployment():
    ids, roster = family("none", 1.25, ages=("1980-01-01", "1950-01-01", "1952-01-01", "2015-01-01"))
    alerts = run(
        ("registry", roster),
        ("events", event("employment_started", ids[0], when="2026-02-01T09:00:00+08:00", monthly_wage_yuan=5000)),
        ("events", event("job_loss", ids[0], when="2026-01-01T09:00:00+08:00")),  # arrives late, is older
    )
    assert alerts == []


@pytest.mark.parametrize(
    ("event_type", "attributes"),
    [
        ("death", {}),
        ("medical_bill", {"out_of_pocket_yuan": 31000}),
        ("hospitalization", {"serious_illness": True}),
        ("disaster", {"loss_yuan": 20000}),
        ("disability_certified", {"category": "physical", "grade": 1}),
        ("hotline_request", {"channel": "12349"}),
        ("unemployment_registered", {}),
    ],
)
def test_a_single_signal_in_a_well_off_household_is_no_missed_coverage(event_type, attributes):
    ids, roster = family("none", 6.0)  # six times the standard
    for coverage in ("none", "edge"):
        if coverage == "edge" and event_type == "disability_certified":
            continue  # 单人保: the severely disabled member of an edge household is eligible on their own
        roster["coverage"] = coverage
        alerts = run(("registry", roster), ("events", event(event_type, ids[0], **attributes)))
        assert "missed_coverage" not in kinds(alerts), coverage


def test_death_of_a_member_is_named_in_the_reasons_of_an_eligible_household():
    ids, roster = family("none", 1.1, ages=("1945-01-01", "1947-01-01", "1949-01-01"))
    roster["members"][0]["monthly_income_yuan"] = 2000.0  # the deceased's pension leaves with them
    roster["members"][1]["monthly_income_yuan"] = 810.0
    roster["members"][2]["monthly_income_yuan"] = 721.0
    alerts = run(("registry", roster), ("events", event("death", ids[0])))
    assert kinds(alerts) == ["missed_coverage"]
    assert {"INCOME_UNDER_STANDARD", "MEMBER_DEATH"} <= codes(alerts[0])
    assert alerts[0]["dimensions"]["shock"] >= 60


def test_disaster_over_half_the_annual_income_is_missed_assistance_not_missed_coverage():
    ids, roster = family("none", 1.15, ages=("1955-01-01", "1957-01-01", "2016-01-01"))  # 3,691 a month
    alerts = run(("registry", roster), ("events", event("disaster", ids[0], loss_yuan=20000)))
    assert alerts == []  # 20,000 is under half of 44,292 a year
    alerts = run(("registry", roster), ("events", event("disaster", ids[0], loss_yuan=20000)),
                 ("events", event("medical_bill", ids[1], out_of_pocket_yuan=3000)))
    assert kinds(alerts) == ["missed_assistance"]
    assert {"SHOCK_OVER_INCOME_SHARE", "DISASTER"} <= codes(alerts[0])


def test_medical_costs_over_half_the_income_of_a_household_over_the_line_is_missed_assistance():
    ids, roster = family("none", 2.5, ages=("1975-01-01",))  # 2,675 a month, 32,100 a year
    alerts = run(("registry", roster), ("events", event("medical_bill", ids[0], out_of_pocket_yuan=17000)))
    assert kinds(alerts) == ["missed_assistance"]  # (2,675 - 17,000/12) = 1,258 is still over 1,070
    alerts = run(("registry", roster), ("events", event("medical_bill", ids[0], out_of_pocket_yuan=16000)))
    assert alerts == []


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
    assert codes(alerts[0]) == {"GRADUAL_EXIT_AFTER_EMPLOYMENT"}  # the street office decides case by case
    assert "新就业工资" in alerts[0]["reasons"][0]["text"]


def test_income_report_in_the_band_gives_gradual_exit_directly():
    ids, roster = family("dibao", 0.6)
    report = event("income_reported", ids[0], source="tax", monthly_income_yuan=(1.25 - 0.2) * STANDARD * 3)
    roster["members"][0]["monthly_income_yuan"] = 0.4 * STANDARD * 3
    roster["members"][1]["monthly_income_yuan"] = 0.2 * STANDARD * 3
    roster["members"][2]["monthly_income_yuan"] = 0.0
    alerts = run(("registry", roster), ("events", report))
    assert kinds(alerts) == ["gradual_exit"]
    assert codes(alerts[0]) == {"GRADUAL_EXIT_BAND"}
    text = alerts[0]["reasons"][0]["text"]
    assert "税务部门" in text and "户主" in text and "在册家庭月收入" in text


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


@pytest.mark.parametrize("coverage", ["tekun", "dibao"])
def test_a_pension_is_never_exit_evidence_by_itself(coverage):
    pid = person("1958-01-01")
    roster = household("H-pension", [(pid, "head")], coverage, 300)
    alerts = run(("registry", roster), ("events", event("pension_started", pid, source="social_security",
                                                        monthly_pension_yuan=270)))
    assert alerts == []  # 570 a month: under the standard
    alerts = run(("registry", roster), ("events", event("pension_started", pid, source="social_security",
                                                        monthly_pension_yuan=1500)))
    assert kinds(alerts) == ["should_exit"]  # 1,800: the income test, not the pension, says so
    assert codes(alerts[0]) == {"INCOME_OVER_EXIT_LINE"}
    assert "社保经办机构" in alerts[0]["reasons"][0]["text"]


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


# --- income semantics (DESIGN.md: nothing is counted twice) ----------------------------------------


def test_a_report_equal_to_the_roster_income_changes_nothing():
    pid = person("1970-01-01")
    roster = household("H-one", [(pid, "head")], "dibao", 900)
    report = event("income_reported", pid, source="tax", monthly_income_yuan=900)
    assert run(("registry", roster), ("events", report)) == []


def test_routine_monthly_reports_raise_nothing_and_never_a_second_alert_id():
    worker, child = person("1985-01-01"), person("2015-01-01")
    roster = household("H-routine", [(worker, "head"), (child, "child")], "none", 1800)
    reports = [("events", event("income_reported", worker, when=f"2026-{m:02d}-10T09:00:00+08:00",
                                monthly_income_yuan=1800)) for m in range(2, 13)]
    alerts = run(("registry", roster), *reports)
    assert {a["alert_id"] for a in alerts} == {"H-routine/missed_coverage/1"}  # raised by the roster once


def test_none_household_pushed_under_the_standard_by_medical_costs_is_missed_coverage():
    ids, roster = family("none", 1.3, ages=("1960-01-01", "1962-01-01"))  # 2,782 a month
    alerts = run(("registry", roster), ("events", event("medical_bill", ids[0], out_of_pocket_yuan=9000)))
    assert kinds(alerts) == ["missed_coverage"]  # (2,782 - 750) / 2 = 1,016 <= 1,070: 支出型贫困
    assert "EXPENDITURE_POVERTY" in codes(alerts[0])


def test_severe_disability_in_a_none_household_is_not_single_person_coverage():
    ids, roster = family("none", 1.3)
    assert run(("registry", roster), ("events", event("disability_certified", ids[2], category="physical", grade=1))) == []


def test_property_does_not_bar_an_eligible_household():
    ids, roster = family("none", 0.9)
    alerts = run(("registry", roster), ("events", event("property_acquired", ids[0], value_yuan=900000)))
    assert kinds(alerts) == ["missed_coverage"]  # eligibility is the income test (DESIGN.md)


def test_filed_relative_check_has_an_event_time_without_filed_at():
    ids, roster = family("dibao", 0.7)
    record = filing("staff-009", [ids[0]])
    del record["filed_at"]
    alerts = run(("filings", record), ("registry", roster))
    assert kinds(alerts) == ["filed_relative_check"]
    assert alerts[0]["event_time"] == roster["recorded_at"]
    monitor = Monitor()
    run(("registry", roster), monitor=monitor)
    later = run(("filings", record), monitor=monitor)
    assert kinds(later) == ["filed_relative_check"]
    assert later[0]["event_time"] == roster["recorded_at"]


def test_filed_relative_check_time_is_the_later_of_roster_and_filing():
    ids, roster = family("dibao", 0.7)
    record = filing("staff-010", [ids[0]], filed_at="2026-04-01T09:00:00+08:00")
    alerts = run(("registry", roster), ("filings", record))
    assert alerts[0]["event_time"] == "2026-04-01T09:00:00+08:00"


def test_roster_member_incomes_are_summed_and_a_job_loss_ends_that_share():
    worker, elder = person("1982-01-01"), person("1948-01-01")
    roster = household("H-members", [(worker, "head"), (elder, "parent")], "none", 9999)
    roster["members"][0]["monthly_income_yuan"] = 2600.0
    roster["members"][1]["monthly_income_yuan"] = 300.0
    monitor = Monitor()
    assert run(("registry", roster), monitor=monitor) == []  # 2,900 for two (the sum, not 9,999)
    alerts = run(("events", event("job_loss", worker, source="human_resources")), monitor=monitor)
    assert kinds(alerts) == ["missed_coverage"]  # 300 for two
    assert "在册家庭月收入2,900元" in alerts[0]["reasons"][0]["text"]


def test_a_new_job_then_its_reports_count_once_and_its_loss_returns_to_the_roster_income():
    worker, child = person("1984-01-01"), person("2014-01-01")
    roster = household("H-newjob", [(worker, "head"), (child, "child")], "dibao", 1200)
    monitor = Monitor()
    hired = run(("registry", roster), ("events", event("employment_started", worker, when="2026-02-01T09:00:00+08:00",
                                                       monthly_wage_yuan=1600)), monitor=monitor)
    assert kinds(hired) == ["gradual_exit"]  # (1,200 + 1,600) / 2 = 1,400: over the standard
    reports = [("events", event("income_reported", worker, when=f"2026-{m:02d}-20T09:00:00+08:00",
                                monthly_income_yuan=1600)) for m in range(2, 9)]
    assert run(*reports, monitor=monitor) == []  # the reports state the same wage: nothing moves
    state = monitor.households["H-newjob"]
    from scoring.assess import household_income_yuan

    assert household_income_yuan(state) == 2800.0
    run(("events", event("job_loss", worker, when="2026-09-01T09:00:00+08:00")), monitor=monitor)
    assert household_income_yuan(monitor.households["H-newjob"]) == 1200.0
