"""Input validation: resident IDs, event types and attributes, money, times, division codes, reason codes."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.resident_id import check_digit, make_resident_id, mask_resident_id, normalize_resident_id
from models.validation import (
    EVENT_TYPES,
    Rejected,
    _fast_event,
    decode_event,
    decode_json,
    parse_time,
    validate_event,
    validate_filing,
    validate_outcome,
    validate_registry,
)
from tests.builders import event, filing, household, person


def reason_of(call, *args) -> str:
    with pytest.raises(Rejected) as caught:
        call(*args)
    assert caught.value.message  # every rejection says what is wrong and what to do
    return caught.value.code


def test_known_check_digits():
    # GB 11643 examples: 11010519491231002X and 440524188001010014
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"
    assert normalize_resident_id("11010519491231002x") == "11010519491231002X"


def test_unknown_area_codes_are_accepted():
    # Wuchang, 420106, is missing from some area tables; a code no table knows is accepted as well
    for area in ("420106", "429999", "990101"):
        rid = make_resident_id(area, date(1980, 1, 1), 7)
        assert normalize_resident_id(rid) == rid


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("42010619800101", "RESIDENT_ID_LENGTH"),
        ("420106800101123", "RESIDENT_ID_LENGTH"),  # an old 15-digit ID
        ("42010619800101123A", "RESIDENT_ID_CHARACTERS"),
        ("420106198002301234", "RESIDENT_ID_BIRTH_DATE"),  # 30 February
        ("420106209901011234", "RESIDENT_ID_BIRTH_DATE"),  # born in the future
        (12345, "RESIDENT_ID_NOT_TEXT"),
    ],
)
def test_bad_resident_ids(value, code):
    assert reason_of(validate_event, event("death", "x") | {"person_id": value}) == code


def test_broken_check_digit():
    good = make_resident_id("420106", date(1975, 4, 3), 12)
    broken = good[:17] + ("0" if good[17] != "0" else "1")
    assert reason_of(validate_event, event("death", broken)) == "RESIDENT_ID_CHECK_DIGIT"


def test_mask():
    assert mask_resident_id("420106198001011234") == "420106********1234"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"type": "lottery_win"}, "UNKNOWN_EVENT_TYPE"),
        ({"attributes": {"out_of_pocket_yuan": -1}}, "NEGATIVE_MONEY"),
        ({"attributes": {"out_of_pocket_yuan": "35000"}}, "BAD_MONEY"),
        ({"attributes": {"out_of_pocket_yuan": True}}, "BAD_MONEY"),
        ({"attributes": {"out_of_pocket_yuan": 5e10}}, "MONEY_TOO_LARGE"),
        ({"attributes": {}}, "MISSING_ATTRIBUTE"),
        ({"attributes": []}, "BAD_ATTRIBUTES"),
        ({"occurred_at": "2026-11-01T10:00:00"}, "TIMESTAMP_WITHOUT_OFFSET"),
        ({"occurred_at": "yesterday"}, "BAD_TIMESTAMP"),
        ({"occurred_at": "2026-02-30"}, "BAD_TIMESTAMP"),
        ({"source": "Medical Insurance"}, "BAD_SOURCE"),
        ({"event_id": ""}, "MISSING_FIELD"),
        ({"person_id": None}, "MISSING_FIELD"),
    ],
)
def test_bad_events(changes, code):
    record = event("medical_bill", person(), out_of_pocket_yuan=100) | changes
    assert reason_of(validate_event, record) == code


def test_not_an_object():
    assert reason_of(validate_event, ["a", "list"]) == "NOT_AN_OBJECT"


def test_bare_date_is_china_standard_time():
    assert parse_time("2026-11-01", "t") == parse_time("2026-11-01T00:00:00+08:00", "t")
    assert parse_time("2026-10-31T16:00:00Z", "t") == parse_time("2026-11-01", "t")


def test_valid_event_is_normalised():
    pid = person()
    record = validate_event(event("disability_certified", pid.lower(), category="mental", grade=3, note="extra"))
    assert record["person_id"] == pid.upper()
    assert record["attributes"] == {"category": "mental", "grade": 3, "note": "extra"}
    assert isinstance(record["t"], int)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"division_code": "42010600200"}, "BAD_DIVISION_CODE"),
        ({"coverage": "vip"}, "BAD_COVERAGE"),
        ({"members": []}, "BAD_MEMBERS"),
        ({"monthly_income_yuan": -10}, "NEGATIVE_MONEY"),
        ({"household_id": "person:123"}, "BAD_IDENTIFIER"),
        ({"dibao_standard_yuan": 0}, "BAD_MONEY"),
    ],
)
def test_bad_registry_records(changes, code):
    record = household("H-1", [(person(), "head")]) | changes
    assert reason_of(validate_registry, record) == code


def test_registry_member_checks():
    pid = person("1980-01-01")
    record = household("H-2", [(pid, "head"), (pid, "spouse")])
    assert reason_of(validate_registry, record) == "DUPLICATE_MEMBER"
    record = household("H-3", [(pid, "head")])
    record["members"][0]["birth_date"] = "1981-01-01"
    assert reason_of(validate_registry, record) == "BIRTH_DATE_MISMATCH"


def test_filing_and_outcome_checks():
    assert reason_of(validate_filing, filing("s-1", [person()], role="mayor")) == "BAD_ROLE"
    assert validate_filing(filing("s-1", [person()]))["staff_id"] == "s-1"
    base = {"outcome_id": "o1", "alert_id": "H/missed_coverage/1", "household_id": "H", "decided_by": "u",
            "decided_at": "2026-06-01"}
    assert reason_of(validate_outcome, base | {"decision": "dismissed"}) == "MISSING_REASON"
    assert reason_of(validate_outcome, base | {"decision": "dismissed", "reason": "  "}) == "MISSING_REASON"
    assert reason_of(validate_outcome, base | {"decision": "maybe"}) == "BAD_DECISION"
    assert validate_outcome(base | {"decision": "confirmed", "visit_method": "home_visit"})["decision"] == "confirmed"


# --- decode_event: decoding and validating in one pass gives what json.loads + validate_event give ---


def _outcome(call, *args):
    """The normalised record as JSON text, or the rejection's code, message and field."""
    try:
        return json.dumps(call(*args), ensure_ascii=False)
    except Rejected as rejected:
        return (rejected.code, rejected.message, rejected.field)


def _both_ways(line: str):
    slow = _outcome(lambda text: validate_event(decode_json(text)), line)
    assert _outcome(decode_event, line) == slow
    return slow


_PID = make_resident_id("420106", date(1975, 3, 9), 17)
_VARIANTS = [
    event("medical_bill", _PID, out_of_pocket_yuan=100, total_yuan=250.5),
    event("medical_bill", _PID, out_of_pocket_yuan=100.25),
    event("medical_bill", _PID.lower()[:-1] + "x" if _PID.endswith("X") else " " + _PID + " ", out_of_pocket_yuan=1),
    event("medical_bill", _PID, out_of_pocket_yuan=100, total_yuan=None),
    event("medical_bill", _PID, out_of_pocket_yuan=None),
    event("medical_bill", _PID, out_of_pocket_yuan=100, note="extra"),
    event("medical_bill", _PID, out_of_pocket_yuan=100, note="bad\u0000note"),
    event("medical_bill", _PID, out_of_pocket_yuan=1_000_000_000),
    event("medical_bill", _PID, out_of_pocket_yuan=1_000_000_001),
    event("income_reported", _PID, monthly_income_yuan=0),
    event("employment_started", _PID, monthly_wage_yuan=4200),
    event("hospitalization", _PID, serious_illness=True, admitted_at="2026-02-27"),
    event("hospitalization", _PID, serious_illness=1),
    event("hospitalization", _PID, admitted_at="2026-02-30T10:00:00+08:00"),
    event("hospitalization", _PID),
    event("disability_certified", _PID, category="mental", grade=3),
    event("disability_certified", _PID, category="mental", grade=True),
    event("disability_certified", _PID, category="mental", grade=5),
    event("disability_certified", _PID, category="happy", grade=1),
    event("hotline_request", _PID, channel="12349"),
    event("hotline_request", _PID, channel=12349),
    event("death", _PID),
    event("death", _PID, when="2026-03-01"),
    event("death", _PID, when="2026-03-01T10:00:00Z"),
    event("death", _PID, when="2026-03-01T10:00:00.5+08:00"),
    event("death", _PID, when="2026-03-01T24:00:00+08:00"),
    event("death", _PID, when="2026-03-01T23:59:60+08:00"),
    event("death", _PID, when="2026-03-01T10:00:00+25:00"),
    event("death", _PID, when="1899-12-31T10:00:00+08:00"),
    event("death", _PID, when="2026-03-01T10:00:00"),
    event("death", _PID, source="Civil Registry"),
    event("death", _PID, event_id="   "),
    event("death", _PID, event_id="x" * 129),
    event("death", _PID, event_id="ev\u0085"),
    event("death", "420106197503091234"),
    {"event_id": "a", "source": "health", "type": "death", "person_id": _PID, "occurred_at": "2026-03-01"},
    {"event_id": "a", "source": "health", "type": "death", "person_id": _PID, "occurred_at": "2026-03-01", "attributes": None},
    {"event_id": "a", "source": "health", "type": "death", "person_id": _PID, "occurred_at": "2026-03-01", "extra": [1]},
    {"source": "health", "type": "death", "person_id": _PID, "occurred_at": "2026-03-01"},
    {"event_id": 7, "source": "health", "type": "death", "person_id": _PID, "occurred_at": "2026-03-01"},
    {"type": "lottery_win", "event_id": "a", "source": "health", "person_id": _PID, "occurred_at": "2026-03-01"},
    {"event_id": "a", "source": "health", "type": None, "person_id": _PID, "occurred_at": "2026-03-01"},
    {"event_id": "a", "source": "health", "type": "medical_bill", "person_id": _PID, "occurred_at": "2026-03-01",
     "attributes": {"out_of_pocket_yuan": 5}},
]


@pytest.mark.parametrize("record", _VARIANTS)
def test_decode_event_agrees_with_validate_event(record):
    _both_ways(json.dumps(record, ensure_ascii=False))


@pytest.mark.parametrize("line", [
    "", "not json", "[1, 2]", "null", '{"event_id": "a"', '{"attributes": {"out_of_pocket_yuan": NaN}}',
    json.dumps(event("medical_bill", _PID, out_of_pocket_yuan=float("nan"))),
    json.dumps(event("medical_bill", _PID, out_of_pocket_yuan=float("inf"))),
    json.dumps(event("death", _PID, event_id="\udcff")),
    '{"event_id": "a", "event_id": "b", "source": "health", "type": "death", "person_id": "' + _PID + '", '
    '"occurred_at": "2026-03-01"}',
])
def test_decode_event_agrees_on_odd_lines(line):
    _both_ways(line)


def test_decode_event_takes_the_fast_path_for_the_usual_event():
    line = json.dumps(event("medical_bill", _PID, out_of_pocket_yuan=100))
    decode_event(line)  # the first sight of a person is validated the slow way and cached
    assert _fast_event(line) is not None
    assert _both_ways(line) == json.dumps(_fast_event(line), ensure_ascii=False)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 2_000_000_000) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@given(
    event_type=st.sampled_from(sorted(EVENT_TYPES) + ["lottery_win"]),
    attributes=st.dictionaries(
        st.sampled_from(["out_of_pocket_yuan", "total_yuan", "monthly_income_yuan", "monthly_wage_yuan",
                         "monthly_pension_yuan", "serious_illness", "admitted_at", "category", "grade", "channel",
                         "value_yuan", "loss_yuan", "other"]),
        st.one_of(_json_values, st.sampled_from([12.5, 0, 3, "mental", "12349", "2026-03-01", True])),
        max_size=4,
    ),
    when=st.sampled_from(["2026-03-01T10:00:00+08:00", "2026-03-01", "2026-13-01T10:00:00+08:00", "x", ""]),
    drop=st.sampled_from([None, "event_id", "source", "person_id", "occurred_at", "attributes"]),
)
@settings(max_examples=300, deadline=None)
def test_decode_event_agrees_with_validate_event_on_anything(event_type, attributes, when, drop):
    record = {"event_id": "ev-1", "source": "tax", "type": event_type, "person_id": _PID, "occurred_at": when,
              "attributes": attributes}
    if drop is not None:
        record.pop(drop)
    _both_ways(json.dumps(record, ensure_ascii=False))
