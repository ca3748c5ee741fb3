"""Property: the router gives the replay's alerts whatever the delivery order between keys and redeliveries.

No broker: a model of the stream drives scoring.routing over per-key first-in first-out queues (Kafka
keeps the order of one key; nothing else), chooses at random which key is delivered next, and
redelivers a suffix of a key's messages as Faust does after a crash or a rebalance (the table keeps
what was written). The replay is scoring.monitor.Monitor over the same inputs in file order.

What is held fixed, and why: the inputs of one family (a household's roster records and its members'
events) are taken one after another, each once everything it sent on has been delivered. The
household core's episodes depend on the order of a household's inputs (two bills of two members in
either order can leave another last level or reason list), and a roster record still on its way
makes an event of its member look like one of a person on no roster; both are order effects of the
core and of the person index, not of the router, and are documented in docs/streams.md.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.resident_id import make_resident_id
from models.validation import VALIDATORS
from scoring import routing as R
from scoring.monitor import Monitor
from tests.test_idempotence import ATTRIBUTES

START = date(2025, 6, 1)
FAMILIES = [
    [make_resident_id("420106", date(1948 + i, 3, 1), 100 * f + i) for i in range(3)] for f in range(1, 4)
]
OUTSIDERS = [make_resident_id("420111", date(1960 + i, 2, 2), 900 + i) for i in range(2)]
STAFF = ["staff-1", "staff-2"]


@st.composite
def an_event(draw, person_id: str, number: int) -> dict:
    event_type = draw(st.sampled_from(sorted(ATTRIBUTES) + ["medical_bill"] * 6 + ["income_reported"] * 2))
    return {
        "event_id": f"ev-{number}",
        "source": "test",
        "type": event_type,
        "person_id": person_id,
        "occurred_at": (START + timedelta(days=draw(st.integers(0, 400)))).isoformat(),
        "attributes": draw(ATTRIBUTES[event_type]),
    }


@st.composite
def a_roster(draw, household_id: str, people: list[str]) -> dict:
    members = draw(st.lists(st.sampled_from(people), min_size=1, max_size=len(people), unique=True))
    return {
        "household_id": household_id,
        "division_code": "420106002003",
        "members": [{"person_id": pid, "relation": "head" if i == 0 else "other"} for i, pid in enumerate(members)],
        "coverage": draw(st.sampled_from(["none", "dibao", "tekun", "edge"])),
        "monthly_income_yuan": draw(st.sampled_from([0, 1000, 2500, 4000, 9000])),
        "recorded_at": (START + timedelta(days=draw(st.integers(0, 400)))).isoformat(),
    }


@st.composite
def a_district(draw):
    """(lanes, file): the inputs of each family in their order, and the file order of all of them."""
    filings = [
        ("filings", {"staff_id": staff, "role": "social_assistance_staff", "division_code": "420106002003",
                     "relative_person_ids": draw(st.lists(st.sampled_from([p for f in FAMILIES for p in f]),
                                                          max_size=2, unique=True)),
                     "filed_at": (START + timedelta(days=draw(st.integers(0, 400)))).isoformat()})
        for staff in draw(st.lists(st.sampled_from(STAFF), max_size=3))
    ]
    lanes: list[list[tuple[str, dict]]] = []
    number = 0
    for index, people in enumerate(FAMILIES[: draw(st.integers(1, len(FAMILIES)))]):
        lane = []
        for _ in range(draw(st.integers(1, 8))):
            if not lane or draw(st.integers(0, 4)) == 0:
                lane.append(("registry", draw(a_roster(f"H{index}", people))))
            else:
                number += 1
                lane.append(("events", draw(an_event(draw(st.sampled_from(people)), number))))
        lanes.append(lane)
    for outsider in OUTSIDERS[: draw(st.integers(0, len(OUTSIDERS)))]:
        lane = []
        for _ in range(draw(st.integers(1, 3))):
            number += 1
            lane.append(("events", draw(an_event(outsider, number))))
        lanes.append(lane)
    # the file: filings first, then the families' inputs interleaved, each family in its own order
    cursors = [0] * len(lanes)
    file = list(filings)
    while any(cursor < len(lane) for cursor, lane in zip(cursors, lanes, strict=True)):
        ready = [i for i, lane in enumerate(lanes) if cursors[i] < len(lane)]
        i = draw(st.sampled_from(ready))
        file.append(lanes[i][cursors[i]])
        cursors[i] += 1
    return filings, lanes, file


class StreamModel:
    """The Faust drivers as a model: one first-in first-out queue per (topic, key), delivered in any
    order between keys, with suffixes of a key's messages redelivered."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.monitor = Monitor()
        self.queues: dict[tuple[str, str], list] = defaultdict(list)  # (topic, key) -> [(message, lane)]
        self.cursor: dict[tuple[str, str], int] = defaultdict(int)
        self.outstanding: dict[object, int] = defaultdict(int)  # lane -> messages not yet delivered
        self.alerts: list[dict] = []

    def send(self, topic: str, key: str, message: dict, lane: object) -> None:
        self.queues[(topic, key)].append((message, lane))
        self.outstanding[lane] += 1

    def inject(self, stream: str, record: dict, lane: object) -> None:
        table, key, message = R.inbound(stream, VALIDATORS[stream](record))
        self.send("events" if stream == "events" else table, key, message, lane)

    def pending(self) -> list[tuple[str, str]]:
        return sorted(q for q, messages in self.queues.items() if self.cursor[q] < len(messages))

    def step(self) -> None:
        queue = self.draw(st.sampled_from(self.pending()))
        topic, key = queue
        message, lane = self.queues[queue][self.cursor[queue]]
        self.cursor[queue] += 1
        self.outstanding[lane] -= 1
        # the events agent reads the person index; the other agents own their table
        routed = self.monitor.deliver(R.PERSONS if topic == "events" else topic, key, message)
        assert topic != "events" or not routed.alerts
        self.alerts.extend(routed.alerts)
        for table, to_key, sent in routed.sends:
            self.send(table, to_key, sent, lane)
        if self.draw(st.integers(0, 9)) == 0:  # a crash: the last few messages of this key come again
            back = self.draw(st.integers(1, self.cursor[queue]))
            for _message, lane in self.queues[queue][self.cursor[queue] - back: self.cursor[queue]]:
                self.outstanding[lane] += 1
            self.cursor[queue] -= back

    def run(self, filings, lanes) -> list[dict]:
        for stream, record in filings:
            self.inject(stream, record, "filings")
        while self.pending():
            self.step()
        next_input = [0] * len(lanes)
        while True:
            for i, lane in enumerate(lanes):
                if self.outstanding[i] == 0 and next_input[i] < len(lane):
                    self.inject(*lane[next_input[i]], i)
                    next_input[i] += 1
            if not self.pending():
                return self.alerts
            self.step()


def last_by_household_and_kind(alerts: list[dict]) -> dict[tuple[str, str], tuple[int, list[str]]]:
    last = {}
    for alert in alerts:
        last[(alert["household_id"], alert["kind"])] = (alert["level"], sorted({r["code"] for r in alert["reasons"]}))
    return last


# Random, as hypothesis runs by default. The one rare counterexample seen (about one in a few thousand
# examples) was a provisional household absorbed by a roster record and then re-created by an `adopt`
# delivered again after a crash: its alert went out twice at one level. Fixed in the router (membership
# changes of a person are numbered, `seq`); test_a_redelivered_adopt_does_not_raise_a_provisional_alert_again
# is that case reduced.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.large_base_example])
@given(a_district(), st.data())
def test_stream_model_gives_the_alerts_of_replay(district, data):
    filings, lanes, file = district
    replay = Monitor()
    expected = [alert for stream, record in file for alert in replay.feed(stream, VALIDATORS[stream](record))]
    streamed = StreamModel(data.draw).run(filings, lanes)
    # every household and kind alerted by one is alerted by the other, last level and reasons alike
    # (provisional `person:` households included: none that the replay does not raise)
    assert last_by_household_and_kind(streamed) == last_by_household_and_kind(expected)
    sent = [(alert["alert_id"], alert["level"]) for alert in streamed if "superseded_by" not in alert]
    assert len(sent) == len(set(sent)), "an alert sent twice at one level"


# --- people outside the roster -------------------------------------------------------------------

def _deliver_all(monitor: Monitor, table: str, key: str, message: dict) -> list[dict]:
    """Deliver a message and everything it sends on, first in first out; the alerts raised."""
    queue = [(table, key, message)]
    alerts = []
    while queue:
        routed = monitor.deliver(*queue.pop(0))
        alerts.extend(routed.alerts)
        queue.extend(routed.sends)
    return alerts


def _big_bill(person_id: str) -> dict:
    return VALIDATORS["events"]({"event_id": "big-1", "source": "test", "type": "medical_bill", "person_id": person_id,
                                 "occurred_at": "2026-03-01T10:00:00+08:00", "attributes": {"out_of_pocket_yuan": 32000}})


def _roster_of(person_id: str) -> dict:
    return VALIDATORS["registry"]({"household_id": "H-late", "division_code": "420106002003", "coverage": "none",
                                   "members": [{"person_id": person_id, "relation": "head"}],
                                   "monthly_income_yuan": 9000, "recorded_at": "2026-01-01"})


def test_an_event_overtaking_its_roster_record_raises_no_provisional_alert():
    """The index does not know the person yet (their roster record is on its way): the 漏保 of the
    provisional household is held, and the roster record absorbs it before it is ever sent."""
    person_id = FAMILIES[0][0]
    monitor = Monitor()
    _, key, message = R.inbound("events", _big_bill(person_id), ingest=1000.0, hold_seconds=60)
    assert _deliver_all(monitor, R.PERSONS, key, message) == []
    assert monitor.tables[R.HOUSEHOLDS]["person:" + person_id]["pending"]["until"] == 1060.0
    alerts = monitor.feed("registry", _roster_of(person_id))
    assert all(not alert["household_id"].startswith("person:") for alert in alerts)
    assert _deliver_all(monitor, R.HOUSEHOLDS, "person:" + person_id, {"op": "release", "now": 2000.0}) == []
    assert monitor.tables[R.HOUSEHOLDS]["person:" + person_id]["forward_to"] == "H-late"


def test_a_held_alert_of_a_person_on_no_roster_is_sent_once_its_hold_is_over():
    person_id = OUTSIDERS[0]
    monitor = Monitor()
    _, key, message = R.inbound("events", _big_bill(person_id), ingest=1000.0, hold_seconds=60)
    assert _deliver_all(monitor, R.PERSONS, key, message) == []
    assert _deliver_all(monitor, R.HOUSEHOLDS, "person:" + person_id, {"op": "release", "now": 1059.0}) == []
    released = _deliver_all(monitor, R.HOUSEHOLDS, "person:" + person_id, {"op": "release", "now": 1060.0})
    assert [alert["kind"] for alert in released] == ["missed_coverage"]
    assert _deliver_all(monitor, R.HOUSEHOLDS, "person:" + person_id, {"op": "release", "now": 1061.0}) == []
    replay = Monitor().feed("events", _big_bill(person_id))
    assert last_by_household_and_kind(released) == last_by_household_and_kind(replay)


def test_a_roster_record_absorbing_a_provisional_household_supersedes_its_alerts():
    person_id = OUTSIDERS[1]
    monitor = Monitor()
    first = monitor.feed("events", _big_bill(person_id))
    assert [alert["household_id"] for alert in first] == ["person:" + person_id]
    alerts = monitor.feed("registry", _roster_of(person_id))
    superseded = [alert for alert in alerts if alert.get("superseded_by")]
    assert [(a["alert_id"], a["superseded_by"]) for a in superseded] == [(first[0]["alert_id"], "H-late")]
    assert monitor.tables[R.HOUSEHOLDS]["person:" + person_id]["forward_to"] == "H-late"


# --- packing: what one agent forwards to the next -------------------------------------------------

@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from([R.HOUSEHOLDS, R.PERSONS]), st.sampled_from(["a", "b", "c", "d", "e"]),
                          st.integers(0, 10**6)), max_size=60),
       st.integers(min_value=40, max_value=400))
def test_pack_carries_every_op_once_on_its_key_partition_in_order(raw, max_bytes):
    sends = [(table, key, {"op": "event", "n": number, "pad": "x" * (number % 50)}) for table, key, number in raw]
    partition_of = {"a": 0, "b": 1, "c": 0, "d": 2, "e": 3}.__getitem__
    encode = lambda value: json.dumps(value).encode()  # noqa: E731
    packed = R.pack(sends, partition_of, encode, max_bytes)
    carried = sorted(i for _, _, _, indexes in packed for i in indexes)
    assert carried == list(range(len(sends)))
    per_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for table, partition, value, indexes in packed:
        ops = R.unpack(json.loads(value))
        assert ops == [(sends[i][1], sends[i][2]) for i in indexes]
        assert len(value) <= max_bytes or len(indexes) == 1, "split where one message would be too large"
        for key, message in ops:
            assert partition_of(key) == partition
            per_key[(table, key)].append(message)
    for (table, key), messages in per_key.items():
        assert messages == [m for t, k, m in sends if (t, k) == (table, key)], "a key's ops keep their order"
    # with room enough, one message per destination partition
    assert len(R.pack(sends, partition_of, encode, 10**9)) == len({(t, partition_of(k)) for t, k, _ in sends})


class RecordingMonitor(Monitor):
    """The replay's monitor, keeping every message it delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered: list[tuple[str, str, dict]] = []

    def deliver(self, table: str, key: str, message: dict) -> R.Routed:
        self.delivered.append((table, key, message))
        return super().deliver(table, key, message)


def test_a_redelivered_adopt_does_not_raise_a_provisional_alert_again():
    """The property test's counterexample, reduced: a person leaves their household (adopt: a provisional
    household of their own), raises a 漏保 there, joins the household again (the provisional one is
    absorbed, its alert superseded); then a crash delivers the provisional household's messages again."""
    head, other, person = FAMILIES[0]

    def roster(members: list[str], day: int) -> dict:
        return VALIDATORS["registry"]({"household_id": "H-back", "division_code": "420106002003", "coverage": "none",
                                       "monthly_income_yuan": 9000, "recorded_at": f"2026-01-{day:02d}",
                                       "members": [{"person_id": pid, "relation": "head" if i == 0 else "other"}
                                                   for i, pid in enumerate(members)]})

    monitor = RecordingMonitor()
    monitor.feed("registry", roster([head, person], 1))
    monitor.feed("registry", roster([head, other], 2))  # the person leaves: a provisional household
    first = monitor.feed("events", _big_bill(person))
    assert [(a["household_id"], a.get("superseded_by")) for a in first] == [("person:" + person, None)]
    back = monitor.feed("registry", roster([head, other, person], 3))
    assert [a["alert_id"] for a in back if a.get("superseded_by") == "H-back"] == [first[0]["alert_id"]]
    again = [m for table, key, m in monitor.delivered if (table, key) == (R.HOUSEHOLDS, "person:" + person)][-3:]
    assert [m["op"] for m in again] == ["adopt", "event", "handover"]
    redelivered = [a for m in again for a in _deliver_all(monitor, R.HOUSEHOLDS, "person:" + person, m)]
    assert [a for a in redelivered if not a.get("superseded_by")] == [], "an alert sent twice at one level"
    assert monitor.tables[R.HOUSEHOLDS]["person:" + person]["forward_to"] == "H-back"
