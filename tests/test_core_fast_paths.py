"""The core's fast paths (issue 12) change no finding: assessments without texts, the repeated income
report proven quiet, the light Routed and Step, and the replay's garbage-collector setting."""

from __future__ import annotations

import gc
import io
from dataclasses import asdict

import pytest

from connectors.simulator import write_files
from scoring import household as H
from scoring.assess import assess
from scoring.monitor import Monitor
from scoring.policy import load_policy
from scoring.routing import Routed
from streams.replay import no_cyclic_collections, replay_files
from tests.test_income import PEOPLE, income_event, roster

POLICY = load_policy()


def _without_texts(assessment) -> dict:
    figures = asdict(assessment)
    figures["kinds"] = {
        kind: [(item["code"], sorted(set(item["event_ids"]))) for item in reasons]
        for kind, reasons in figures["kinds"].items()
    }
    return figures


@pytest.fixture(scope="module")
def district_households(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("fast-paths")
    write_files(out, households=300, days=200, seed=12)
    monitor = Monitor(POLICY)
    sink = io.StringIO()
    replay_files([("registry", out / "registry.jsonl"), ("filings", out / "filings.jsonl"),
                  ("events", out / "events.jsonl")], sink, sink, monitor)
    return list(monitor.households.values())


def test_assessment_without_texts_differs_only_in_texts(district_households):
    called = 0
    for state in district_households:
        full = assess(state, POLICY)
        lean = assess(state, POLICY, texts=False)
        assert _without_texts(lean) == _without_texts(full)
        called += bool(full.kinds)
        for reasons in full.kinds.values():
            assert all(item["text"] for item in reasons)  # the texts an officer reads are all there
    assert called > 10  # the district has households that call for alerts, so the comparison means something


def _two_reports(amounts: tuple[float, float], between: str | None = None, shares: list[float] | None = None):
    record = roster(2, 2000.0, shares)
    events = [income_event(1, "income_reported", PEOPLE[0], 10, amounts[0])]
    if between is not None:
        events.append(income_event(2, between, PEOPLE[0], 20, 900.0))
    events.append(income_event(3, "income_reported", PEOPLE[0], 30, amounts[1]))
    return record, events


@pytest.mark.parametrize(
    ("amounts", "between", "shares", "same"),
    [
        ((800.0, 800.0), None, None, True),  # the routine monthly report: proven quiet from the registers
        ((800.0, 800.0), None, [1000.0, 1000.0], True),
        ((800.0, 900.0), None, None, False),  # a new amount: the full comparison decides
        ((800.0, 800.0), "employment_started", None, False),  # a wage came after the earlier report
        ((800.0, 800.0), "job_loss", None, False),
    ],
)
def test_repeated_report_shortcut(amounts, between, shares, same):
    record, events = _two_reports(amounts, between, shares)
    state = H.apply_roster(None, record, POLICY).state
    for event in events[:-1]:
        state = H.apply_event(state, event, POLICY).state
    last = events[-1]
    earlier = state["facts"][PEOPLE[0]]
    person = H.F.apply_event(earlier, last, POLICY, state["as_of"])
    assert H._same_report(earlier, person, state["roster_t"] or 0, state["member_incomes"].get(PEOPLE[0])) is same
    # whichever way it goes, the shortcut and the full assessment agree
    quick = H.apply_event(state, last, POLICY, shortcut=True)
    full = H.apply_event(state, last, POLICY, shortcut=False)
    assert quick.alerts == full.alerts
    assert {k: v for k, v in quick.state.items() if k != "quiet"} == {k: v for k, v in full.state.items() if k != "quiet"}


def test_routed_and_step_are_light_and_fresh():
    first, second = Routed("s"), Routed("s")
    assert first == second and first.alerts == [] and first.sends == []
    assert first.alerts is not second.alerts  # each its own lists
    assert Routed("s", [{"a": 1}]) != first
    with pytest.raises(AttributeError):
        first.other = 1  # slots: no stray fields
    step = H.Step({}, [])
    assert step.assessment is None and step.state == {} and step.alerts == []


def test_replay_restores_the_garbage_collector():
    assert gc.isenabled()
    with no_cyclic_collections():
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    gc.disable()
    try:
        with no_cyclic_collections():
            pass
        assert not gc.isenabled()  # as it was
    finally:
        gc.enable()


def test_a_replay_leaves_no_cyclic_garbage(tmp_path):
    """What lets the replay run without the cyclic collector: the core frees everything it makes by
    reference counting. A replay of a district with invalid lines (dead letters) and outcomes, with the
    collector off, leaves nothing for it to find."""
    write_files(tmp_path, households=200, days=120, seed=7, bad_fraction=0.02)
    sink = io.StringIO()
    gc.collect()
    gc.disable()
    try:
        summary = replay_files([(stream, tmp_path / f"{stream}.jsonl") for stream in ("registry", "filings", "events", "outcomes")],
                               sink, sink, Monitor(POLICY))
        assert summary.total_dead_letters > 0 and summary.total_alerts > 0 and summary.lines["outcomes"] > 0
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_bills_of_a_person_on_no_roster_skip_the_assessment_until_the_line(monkeypatch):
    """The provisional household's shortcut: bills that keep the person's out-of-pocket total at or under
    the line are not assessed, the bill that crosses it is, and the alerts are those of the full path."""
    from models.validation import validate_event
    from tests.builders import event, person

    outsider = person("1961-04-02", area="420111")
    bills = [validate_event(event("medical_bill", outsider, f"2026-03-{day:02d}T10:00:00+08:00", out_of_pocket_yuan=5000))
             for day in range(1, 10)]
    bills.insert(3, validate_event(event("hospitalization", outsider, "2026-03-03T12:00:00+08:00")))
    assessed: list[float] = []
    decide = H.decide

    def counting(state, policy, event_time):
        assessed.append(sum(facts.get("oop", 0.0) for facts in state["facts"].values()))
        return decide(state, policy, event_time)

    monkeypatch.setattr(H, "decide", counting)
    quick = Monitor(POLICY)
    fast = [alert for bill in bills for alert in quick.event(bill)]
    assert assessed == [5000.0, 35000.0, 40000.0, 45000.0]  # the first bill, the one over 30,000 and those after
    full = Monitor(POLICY, shortcut=False)
    slow = [alert for bill in bills for alert in full.event(bill)]
    assert fast == slow and [alert["kind"] for alert in fast] == ["missed_coverage"]
    def without_quiet(states: dict) -> dict:  # the shortcut's own note aside, the states are the same
        return {key: {name: value for name, value in state.items() if name != "quiet"} for key, state in states.items()}

    assert without_quiet(quick.households) == without_quiet(full.households)


def test_bills_of_a_household_with_its_missed_coverage_alert_open_skip_the_assessment_while_the_level_holds(monkeypatch):
    """The bound of an open 漏保 alert: a bill is assessed in full only when the hardship score it gives
    (computed with assess's own functions) raises the level, or when the date has moved a member to
    another age group; the alerts and the states are those of the full path."""
    from models.validation import validate_event, validate_registry
    from tests.builders import event, household, person

    child, parent = person("2010-03-15"), person("1975-06-01")
    roster = validate_registry(household("H-bound", [(parent, "head"), (child, "child")], income=1500.0))
    bills = [validate_event(event("medical_bill", parent if day % 2 else child, f"2026-{month:02d}-{day:02d}T10:00:00+08:00",
                                  out_of_pocket_yuan=1500))
             for month in (2, 3, 4) for day in (1, 5, 9, 13, 17, 21, 25)]
    assessed: list[str] = []
    decide = H.decide

    def counting(state, policy, event_time):
        assessed.append(event_time)
        return decide(state, policy, event_time)

    monkeypatch.setattr(H, "decide", counting)
    quick = Monitor(POLICY)
    fast = quick.registry(roster) + [alert for bill in bills for alert in quick.event(bill)]
    bill_times = [bill["occurred_at"] for bill in bills]
    assessed_bills = [t for t in assessed if t in bill_times]
    full = Monitor(POLICY, shortcut=False)
    slow = full.registry(roster) + [alert for bill in bills for alert in full.event(bill)]
    assert fast == slow
    assert [alert["level"] for alert in fast] == [1, 2]  # opened at blue, sent again when it turned yellow
    # of the 21 bills, two were assessed: the one that raised the level, and the first after the child
    # turned 16 on 15 March (the age structure and employment dimensions moved with the date)
    assert assessed_bills == [fast[1]["event_time"], "2026-03-17T10:00:00+08:00"] == \
        ["2026-03-09T10:00:00+08:00", "2026-03-17T10:00:00+08:00"]

    def without_notes(states: dict) -> dict:
        return {key: {name: value for name, value in state.items() if name not in ("quiet", "bound")}
                for key, state in states.items()}

    assert without_notes(quick.households) == without_notes(full.households)
