"""Property: duplicated or redelivered inputs give exactly the alerts of the sequence without them."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.resident_id import make_resident_id
from models.validation import VALIDATORS
from scoring.monitor import Monitor

PEOPLE = [
    make_resident_id("420106", date(1948, 3, 1), 11),
    make_resident_id("420106", date(1951, 7, 9), 22),
    make_resident_id("420106", date(1979, 1, 30), 33),
    make_resident_id("420106", date(1982, 12, 12), 44),
    make_resident_id("420106", date(2012, 6, 1), 55),
    make_resident_id("420111", date(1966, 2, 2), 66),  # often on no roster
]
START = date(2025, 6, 1)

ATTRIBUTES = {
    "medical_bill": st.fixed_dictionaries({"out_of_pocket_yuan": st.sampled_from([50, 900, 8000, 16000, 31000])}),
    "hospitalization": st.fixed_dictionaries({"serious_illness": st.booleans()}),
    "disability_certified": st.fixed_dictionaries(
        {"category": st.sampled_from(["physical", "mental", "intellectual"]), "grade": st.integers(1, 4)}
    ),
    "job_loss": st.just({}),
    "unemployment_registered": st.just({}),
    "employment_started": st.fixed_dictionaries({"monthly_wage_yuan": st.sampled_from([1500, 3000, 6000])}),
    "income_reported": st.fixed_dictionaries({"monthly_income_yuan": st.sampled_from([0, 800, 2500])}),
    "pension_started": st.fixed_dictionaries({"monthly_pension_yuan": st.sampled_from([600, 2400])}),
    "death": st.just({}),
    "incarceration": st.just({}),
    "release": st.just({}),
    "property_acquired": st.fixed_dictionaries({"value_yuan": st.sampled_from([300000])}),
    "vehicle_acquired": st.fixed_dictionaries({"value_yuan": st.sampled_from([20000, 90000])}),
    "business_registered": st.just({}),
    "public_servant_hired": st.just({}),
    "disaster": st.fixed_dictionaries({"loss_yuan": st.sampled_from([5000, 60000])}),
    "hotline_request": st.fixed_dictionaries({"channel": st.sampled_from(["12349", "petition"])}),
}


@st.composite
def an_event(draw, number: int) -> tuple[str, dict]:
    event_type = draw(st.sampled_from(sorted(ATTRIBUTES) + ["medical_bill"] * 8 + ["hospitalization", "income_reported"] * 2))
    day = draw(st.integers(0, 500))
    return "events", {
        "event_id": f"ev-{number}",
        "source": "test",
        "type": event_type,
        "person_id": draw(st.sampled_from(PEOPLE)),
        "occurred_at": (START + timedelta(days=day)).isoformat(),
        "attributes": draw(ATTRIBUTES[event_type]),
    }


@st.composite
def a_roster(draw, number: int) -> tuple[str, dict]:
    members = draw(st.lists(st.sampled_from(PEOPLE[:5]), min_size=1, max_size=4, unique=True))
    household = draw(st.sampled_from(["H1", "H2"]))
    per_member = draw(st.booleans())  # the roster gives each member's income, or only the total
    return "registry", {
        "household_id": household,
        "division_code": "420106002003",
        "members": [
            {"person_id": pid, "relation": "head" if i == 0 else "other",
             **({"monthly_income_yuan": draw(st.sampled_from([0, 400, 1500, 3000]))} if per_member else {})}
            for i, pid in enumerate(members)
        ],
        "coverage": draw(st.sampled_from(["none", "dibao", "tekun", "edge"])),
        "monthly_income_yuan": draw(st.sampled_from([0, 1000, 2500, 4000, 9000])),
        "recorded_at": (START + timedelta(days=draw(st.integers(0, 400)))).isoformat(),
    }


@st.composite
def a_filing(draw, number: int) -> tuple[str, dict]:
    return "filings", {
        "staff_id": draw(st.sampled_from(["staff-1", "staff-2"])),
        "role": "social_assistance_staff",
        "division_code": "420106002003",
        "relative_person_ids": draw(st.lists(st.sampled_from(PEOPLE), max_size=2, unique=True)),
        "filed_at": (START + timedelta(days=draw(st.integers(0, 400)))).isoformat(),
    }


@st.composite
def inputs_with_redeliveries(draw):
    count = draw(st.integers(1, 35))
    inputs = []
    for number in range(count):
        maker = draw(st.sampled_from([an_event, an_event, an_event, an_event, a_roster, a_filing]))
        inputs.append(draw(maker(number)))
    # redeliver: copies of earlier inputs placed anywhere after the original (Faust after a rebalance,
    # a replayed file, a connector that resent rows in flight)
    with_copies = list(inputs)
    for _ in range(draw(st.integers(1, 15))):
        original = draw(st.integers(0, len(inputs) - 1))
        first = with_copies.index(inputs[original])
        position = draw(st.integers(first + 1, len(with_copies)))
        stream, record = inputs[original]
        with_copies.insert(position, (stream, dict(record)))
    return inputs, with_copies


def feed_all(monitor: Monitor, inputs) -> list[dict]:
    out = []
    for stream, record in inputs:
        out.extend(monitor.feed(stream, VALIDATORS[stream](record)))
    return out


def alerts_of(inputs, shortcut: bool = True) -> list[dict]:
    return feed_all(Monitor(shortcut=shortcut), inputs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs_with_redeliveries())
def test_redelivered_inputs_change_no_alert(pair):
    inputs, with_copies = pair
    assert alerts_of(with_copies) == alerts_of(inputs)


@settings(max_examples=100, deadline=None)
@given(inputs_with_redeliveries())
def test_a_full_replay_after_the_stream_raises_nothing_new(pair):
    inputs, _ = pair
    monitor = Monitor()
    feed_all(monitor, inputs)
    assert feed_all(monitor, inputs) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs_with_redeliveries())
def test_shortcut_changes_nothing(pair):
    """Skipping the assessment of provably quiet events gives exactly the alerts of the full path."""
    _, with_copies = pair
    assert alerts_of(with_copies, shortcut=True) == alerts_of(with_copies, shortcut=False)


@settings(max_examples=150, deadline=None)
@given(inputs_with_redeliveries())
def test_running_out_of_pocket_total_matches_the_bills(pair):
    """The `oop` total kept beside each person's bills always equals their sum."""
    _, with_copies = pair
    monitor = Monitor()
    feed_all(monitor, with_copies)
    for state in monitor.households.values():
        for facts in state["facts"].values():
            bills = facts.get("bills") or {}
            assert abs(facts.get("oop", 0.0) - sum(entry[1] for entry in bills.values())) < 1e-6
