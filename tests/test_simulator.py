"""Tests of the simulated district (connectors/simulator.py): determinism, contract, scale, truth, stream mode."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors import simulator
from connectors.simulator import (
    COVERED,
    DEFAULT_HOUSEHOLDS,
    WUCHANG_DIBAO_STANDARD_YUAN,
    Household,
    Person,
    Run,
    Spec,
    generate,
    simulate,
    write_files,
)
from models.validation import Rejected, decode_json, validate_event, validate_filing, validate_registry

SMALL = {"households": 200, "days": 30, "seed": 7}
FILES = ("registry.jsonl", "filings.jsonl", "events.jsonl", "truth.jsonl")
STANDARD = WUCHANG_DIBAO_STANDARD_YUAN


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def small_year() -> simulator.Simulation:
    """300 households over a full year: enough events of every kind, still quick."""
    return generate(households=300, days=365, seed=11)


@pytest.fixture(scope="module")
def small_year_events(small_year: simulator.Simulation) -> list[dict]:
    return list(small_year.events)


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_files(tmp_path: Path) -> None:
    write_files(tmp_path / "a", **SMALL)
    write_files(tmp_path / "b", **SMALL)
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    write_files(tmp_path / "c", **{**SMALL, "seed": 8})
    assert (tmp_path / "a" / "events.jsonl").read_bytes() != (tmp_path / "c" / "events.jsonl").read_bytes()


def test_events_iterable_repeats_and_ids_are_stable() -> None:
    simulation = generate(households=50, days=10, seed=3)
    first = list(simulation.events)
    second = list(simulation.events)
    assert first == second and first
    assert len({event["event_id"] for event in first}) == len(first)


# --- the contract --------------------------------------------------------------------------------


def test_every_record_passes_the_validators_and_events_are_time_ordered(small_year: simulator.Simulation,
                                                                        small_year_events: list[dict]) -> None:
    for record in small_year.registry:
        validate_registry(record)
    for filing in small_year.filings:
        validate_filing(filing)
    last = 0
    for event in small_year_events:
        clean = validate_event(event)
        assert event["occurred_at"].endswith("+08:00")
        assert clean["t"] >= last, event
        last = clean["t"]
    types = Counter(event["type"] for event in small_year_events)
    assert types.most_common(1)[0][0] == "medical_bill"
    for expected in ("income_reported", "hospitalization", "employment_started", "job_loss", "death", "hotline_request"):
        assert types[expected] > 0, expected
    truth = small_year.truth
    assert len([row for row in truth if not row["household_id"].startswith("person:")]) == 300


def test_district_mix(small_year: simulator.Simulation) -> None:
    registry = generate(households=3000, days=1, seed=5).registry
    coverage = Counter(record["coverage"] for record in registry)
    assert 0.06 < coverage["dibao"] / 3000 < 0.10
    assert 0.004 < coverage["tekun"] / 3000 < 0.02
    assert 0.04 < coverage["edge"] / 3000 < 0.08
    relations = Counter()
    sizes = Counter()
    for record in registry:
        assert record["division_code"].startswith("420106") and len(record["division_code"]) == 12
        assert record["recorded_at"] == "2026-01-01T00:00:00+08:00"
        sizes[len(record["members"])] += 1
        relations.update(member["relation"] for member in record["members"])
        assert record["members"][0]["relation"] == "head"
        for member in record["members"]:
            assert member["birth_date"].replace("-", "") == member["person_id"][6:14]
    assert set(sizes) == {1, 2, 3, 4, 5, 6}
    assert set(relations) == {"head", "spouse", "child", "parent", "grandchild", "other"}
    assert 2.4 < sum(n * k for n, k in sizes.items()) / 3000 < 3.1
    filings = generate(households=DEFAULT_HOUSEHOLDS, days=1).filings
    assert 280 <= len(filings) <= 320
    assert all(1 <= len(f["relative_person_ids"]) <= 4 for f in filings)


# --- scale ---------------------------------------------------------------------------------------


def test_default_scale_gives_a_million_events_a_year(small_year: simulator.Simulation,
                                                     small_year_events: list[dict]) -> None:
    # the estimate from the rate table agrees with a real run ...
    estimate = small_year.expected_events()
    assert abs(len(small_year_events) - estimate) / estimate < 0.1
    # ... and for the default district (15,000 households, 365 days, scale 1) it is over a million
    default = generate()
    assert default.spec.households == 15_000 and default.spec.days == 365
    assert default.expected_events() >= 1_000_000
    # --scale multiplies the bulk of the events
    assert generate(households=300, seed=11, scale=2.0).expected_events() > 1.6 * estimate


def test_small_run_is_fast(tmp_path: Path) -> None:
    began = time.perf_counter()
    summary = write_files(tmp_path, **SMALL)
    assert time.perf_counter() - began < 5
    assert summary.events == len(_lines(tmp_path / "events.jsonl")) > 500


# --- ground truth --------------------------------------------------------------------------------


def _hand_run() -> Run:
    return Run(Spec(households=1, days=30, seed=1))


def _household(run: Run, coverage: str, incomes: list[tuple[int, float, float]], other: float = 0.0) -> Household:
    """incomes: (age, wage, pension) per member."""
    household = Household(0, "hh-test", "420106001001", coverage, [], other_income=other)
    for index, (age, wage, pension) in enumerate(incomes):
        household.members.append(
            Person(index, f"id{index}", "1980-01-01", age, True, "head" if index == 0 else "child", household, wage, pension)
        )
    return household


def test_truth_income_rules_by_hand() -> None:
    run = _hand_run()
    t = run.start
    # an uncovered household at or under the standard per person: 漏保
    assert run.labels_of(_household(run, "none", [(40, 2140, 0), (10, 0, 0)]), t) == {"missed_coverage": ("low_income", [])}
    assert run.labels_of(_household(run, "none", [(40, 2141, 0), (10, 0, 0)]), t) == {}
    # dibao: 1.5 times the standard or more is 应退; over the standard is 渐退 (after employment: the street decides)
    exit_line = 1.5 * STANDARD * 2
    over = _household(run, "dibao", [(40, exit_line, 0), (10, 0, 0)])
    assert run.labels_of(over, t)["should_exit"][0] == "income_over_exit_line"
    band = _household(run, "dibao", [(40, exit_line - 2, 0), (10, 0, 0)])
    assert run.labels_of(band, t) == {"gradual_exit": ("income_over_standard", [])}
    band.employment_event = "rs-1"
    assert run.labels_of(band, t) == {"gradual_exit": ("income_over_standard_after_employment", ["rs-1"])}
    # every member died: 应退
    alone = _household(run, "tekun", [(80, 0, 0)], other=200)
    alone.members[0].alive = False
    assert run.labels_of(alone, t)["should_exit"][0] == "all_members_died"
    # a member in prison: 应退 whatever the income
    pair = _household(run, "dibao", [(40, 0, 0), (38, 0, 0)], other=300)
    pair.members[1].incarcerated, pair.members[1].jail_event = True, "fy-1"
    assert run.labels_of(pair, t)["should_exit"] == ("member_incarcerated", ["fy-1"])
    # a filed close relative in a covered household: 备案核查
    filed = _household(run, "dibao", [(50, 0, 0)], other=500)
    filed.filed_by.append("staff-420106001001-001")
    assert run.labels_of(filed, t) == {"filed_relative_check": ("filed_relative", [])}


def test_truth_medical_disability_and_assistance_rules_by_hand() -> None:
    run = _hand_run()
    t = run.start
    # 支出型贫困, for edge and none alike: a household of two at 1,200 per person; bills spread over 12 months
    for coverage in ("edge", "none"):
        spending = _household(run, coverage, [(60, 0, 1200), (60, 0, 1200)])
        spending.oop_yuan = 3_000  # 2,400 - 250 = 2,150 -> 1,075 per person: still over
        assert run.labels_of(spending, t) == {}
        spending.oop_yuan = 3_120  # 2,400 - 260 = 2,140 -> 1,070 per person: at the standard
        assert run.labels_of(spending, t)["missed_coverage"][0] == "medical_expense"
    # 漏救: over the line, but medical costs and disaster losses over half the annual income (28,800)
    hit = _household(run, "none", [(60, 0, 1200), (60, 0, 1200)])
    hit.oop_yuan = 2_000
    hit.disaster_losses.append((t, 12_400.0))
    assert run.labels_of(hit, t) == {}  # 14,400: exactly half
    hit.disaster_losses.append((t, 1.0))
    assert run.labels_of(hit, t)["missed_assistance"][0] == "shock_over_income_share"
    # 单人保: a severely disabled member of an edge household, whatever the income
    disabled = _household(run, "edge", [(30, 3000, 0)])
    disabled.members[0].severe_event = "cl-1"
    assert run.labels_of(disabled, t) == {"missed_coverage": ("severe_disability", ["cl-1"])}
    # severe disability in an uncovered household is not a rule of its own
    uncovered = _household(run, "none", [(30, 3000, 0)])
    uncovered.members[0].severe_event = "cl-2"
    assert run.labels_of(uncovered, t) == {}
    # a single signal does not make a well-off household eligible: a death, a big bill
    well_off = _household(run, "none", [(50, 9000, 0), (48, 0, 0)])
    well_off.members[1].alive = False
    well_off.oop_yuan = 31_000
    assert run.labels_of(well_off, t) == {}
    # exit evidence in a covered household; a pension is income, never evidence by itself
    assets = _household(run, "dibao", [(62, 0, 300), (60, 0, 0)])
    assets.exit_evidence.append(("vehicle_acquired", "cg-1"))
    assert run.labels_of(assets, t)["should_exit"] == ("vehicle_acquired", ["cg-1"])
    pension = _household(run, "tekun", [(62, 0, 270)])
    assert run.labels_of(pension, t) == {}


def test_truth_follows_what_the_income_events_reveal() -> None:
    run = _hand_run()
    # only the household total on the roster: a first report is taken as inside it
    h = _household(run, "none", [(40, 3000, 0), (10, 0, 0)], other=0)
    h.roster_income = h.obs_unattributed = 3000.0
    worker = h.members[0]
    run._observe_report(worker, 3000.0)
    assert run.observed_income(h) == 3000.0  # nothing counted twice
    worker.obs_wage = 0.0  # a job loss ends the earned income of the report
    worker.obs_report = min(worker.obs_report, worker.obs_pension_in_report)
    assert run.observed_income(h) == 0.0
    # the roster gives each member's income: a report replaces that member's share
    h2 = _household(run, "none", [(40, 2500, 0), (70, 0, 900)])
    h2.roster_income = 3400.0
    for member in h2.members:
        member.roster_share = member.obs_report = member.wage + member.pension
    assert run.observed_income(h2) == 3400.0
    run._observe_report(h2.members[0], 2800.0)
    assert run.observed_income(h2) == 3700.0
    h2.members[1].alive = False  # the deceased's pension leaves with them
    assert run.observed_income(h2) == 2800.0


def test_truth_rows_agree_with_the_events(small_year: simulator.Simulation, small_year_events: list[dict]) -> None:
    by_id = {event["event_id"]: event for event in small_year_events}
    members = {record["household_id"]: {m["person_id"] for m in record["members"]} for record in small_year.registry}
    coverage = {record["household_id"]: record["coverage"] for record in small_year.registry}
    labels = Counter()
    start = "2026-01-01T00:00:00+08:00"
    for row in small_year.truth:
        labels[row["label"]] += 1
        if row["label"] == "none":
            assert not [k for k in row["kinds"] if k["observable"]]
        for kind in row["kinds"]:
            assert kind["kind"] in simulator.LABELS
            if row["household_id"].startswith("person:"):
                person = row["household_id"].removeprefix("person:")
                assert all(pid != person for group in members.values() for pid in group)
                assert kind["reason"] in ("large_medical_bill", "severe_disability")
                bills = [e for e in small_year_events if e["person_id"] == person and e["type"] == "medical_bill"
                         and e["occurred_at"] <= kind["knowable_at"]]
                if kind["reason"] == "large_medical_bill":
                    assert sum(e["attributes"]["out_of_pocket_yuan"] for e in bills) > 30_000
                else:
                    (certificate,) = [by_id[i] for i in kind["event_ids"]]
                    assert certificate["attributes"]["grade"] <= 3
                continue
            if kind["kind"] in ("should_exit", "gradual_exit", "filed_relative_check"):
                assert coverage[row["household_id"]] in COVERED
            else:
                assert coverage[row["household_id"]] in ("none", "edge")
            times = []
            for event_id in kind["event_ids"]:
                event = by_id[event_id]
                assert event["person_id"] in members[row["household_id"]]
                times.append(event["occurred_at"])
            # knowable from the start (roster facts) or from the moment of one of its events
            assert kind["knowable_at"] == start or kind["knowable_at"] in times
    assert labels["missed_coverage"] and labels["should_exit"] and labels["none"]


def test_households_crossing_30000_out_of_pocket_are_a_few_percent(small_year_events: list[dict],
                                                                   small_year: simulator.Simulation) -> None:
    household_of = {m["person_id"]: r["household_id"] for r in small_year.registry for m in r["members"]}
    spent: Counter[str] = Counter()
    for event in small_year_events:
        if event["type"] == "medical_bill" and event["person_id"] in household_of:
            spent[household_of[event["person_id"]]] += event["attributes"]["out_of_pocket_yuan"]
    share = sum(1 for total in spent.values() if total > 30_000) / len(small_year.registry)
    assert 0.005 < share < 0.08


# --- bad records ---------------------------------------------------------------------------------


def test_bad_fraction_lines_are_rejected_by_the_validators(tmp_path: Path) -> None:
    summary = write_files(tmp_path, bad_fraction=0.05, **SMALL)
    assert sum(summary.bad_by_kind.values()) > 10
    assert set(summary.bad_by_kind) == set(simulator.BAD_KINDS)
    rejected: Counter[str] = Counter()
    validators = {"events.jsonl": validate_event, "registry.jsonl": validate_registry, "filings.jsonl": validate_filing}
    for name, validate in validators.items():
        for line in _lines(tmp_path / name):
            try:
                validate(decode_json(line))
            except Rejected as exc:
                rejected[exc.code] += 1
    assert sum(rejected.values()) == sum(summary.bad_by_kind.values())
    assert set(rejected) <= {"RESIDENT_ID_CHECK_DIGIT", "UNKNOWN_EVENT_TYPE", "BAD_COVERAGE", "NEGATIVE_MONEY", "MALFORMED_JSON",
                             "BAD_ROLE", "BAD_RELATIVES"}
    clean = write_files(tmp_path / "clean", **SMALL)
    assert clean.events == summary.events  # the good records do not change


def test_every_bad_kind_of_a_filing_is_refused() -> None:
    """A filing has no money and no coverage: each bad kind still breaks it (it crashed on a filing before)."""
    filing = {"staff_id": "S-1", "role": "social_assistance_staff", "division_code": "420106002003",
              "relative_person_ids": ["420106195804152611"]}
    bad = simulator.BadRecords(7, 1.0)
    refused: Counter[str] = Counter()
    for _ in range(200):
        with pytest.raises(Rejected) as caught:
            validate_filing(decode_json(bad.maybe(filing, "filings")))
        refused[caught.value.code] += 1
    assert sum(refused.values()) == 200 and len(refused) >= 3, refused
    assert set(bad.counts) == set(simulator.BAD_KINDS)
    validate_filing(filing)  # the good one passes


# --- command line --------------------------------------------------------------------------------


def test_cli_needs_out_or_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARDSHIP_BROKER", raising=False)
    result = CliRunner().invoke(simulate, [])
    assert result.exit_code == 2
    assert "--out" in result.output and "--broker" in result.output


def test_cli_file_mode_writes_four_files_and_a_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARDSHIP_BROKER", raising=False)
    out = tmp_path / "district"
    result = CliRunner().invoke(
        simulate, ["--out", str(out), "--households", "80", "--days", "15", "--start", "2026-03-01", "--seed", "4",
                   "--bad-fraction", "0.01", "--dibao-standard", "1100"]
    )
    assert result.exit_code == 0, result.output
    for name in FILES:
        assert (out / name).exists()
    assert "events by type" in result.output and "ground truth: alert kinds" in result.output
    registry = [json.loads(line) for line in _lines(out / "registry.jsonl") if line.startswith('{"household_id"')]
    assert all(r["dibao_standard_yuan"] == 1100 for r in registry if isinstance(r, dict))
    first = json.loads(_lines(out / "events.jsonl")[0])
    assert first["occurred_at"].startswith("2026-03-01")
    assert "--bad-fraction" in CliRunner().invoke(simulate, ["--help"]).output


# --- stream mode against the real embedded broker ------------------------------------------------


@pytest.mark.broker
def test_stream_mode_produces_to_the_embedded_broker(tmp_path: Path) -> None:
    from kafka import KafkaConsumer, TopicPartition

    from streams.broker import embedded_broker
    from streams.config import EVENTS_TOPIC, FILINGS_TOPIC, REGISTRY_TOPIC, bootstrap_servers

    with embedded_broker() as broker:
        result = CliRunner().invoke(
            simulate, ["--broker", broker.url, "--out", str(tmp_path), "--households", "60", "--days", "20", "--quiet"]
        )
        assert result.exit_code == 0, result.output
        expected = {
            EVENTS_TOPIC: len(_lines(tmp_path / "events.jsonl")),
            REGISTRY_TOPIC: len(_lines(tmp_path / "registry.jsonl")),
            FILINGS_TOPIC: len(_lines(tmp_path / "filings.jsonl")),
        }
        assert (tmp_path / "truth.jsonl").exists()
        consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(broker.url), group_id=None,
                                 enable_auto_commit=False, auto_offset_reset="earliest")
        partitions = [TopicPartition(topic, p) for topic in expected for p in range(4)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        seen: dict[str, list] = {topic: [] for topic in expected}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(len(seen[t]) < n for t, n in expected.items()):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    seen[record.topic].append(record)
        consumer.close()
    assert {topic: len(records) for topic, records in seen.items()} == expected
    key_field = {EVENTS_TOPIC: "person_id", REGISTRY_TOPIC: "household_id", FILINGS_TOPIC: "staff_id"}
    for topic, records in seen.items():
        for record in records:
            value = json.loads(record.value)
            assert record.key.decode() == value[key_field[topic]]
    # per key (person), events arrive in time order
    last: dict[bytes, str] = {}
    for record in sorted(seen[EVENTS_TOPIC], key=lambda r: (r.partition, r.offset)):
        moment = json.loads(record.value)["occurred_at"]
        assert moment >= last.get(record.key, "")
        last[record.key] = moment


def test_generate_accepts_a_string_start() -> None:
    simulation = generate(households=5, days=3, start="2026-06-01", seed=2)
    assert simulation.spec.start == date(2026, 6, 1)
    assert all(e["occurred_at"] >= "2026-06-01" for e in simulation.events)


@pytest.mark.broker
def test_stream_pacing_with_speedup_and_rate() -> None:
    from streams.broker import embedded_broker

    simulation = generate(households=40, days=10, seed=9)
    with embedded_broker() as broker:
        began = time.monotonic()
        summary = simulator.stream(simulation, broker.url, speedup=10 * 86_400)  # ten days in about one second
        paced = time.monotonic() - began
        assert summary.events > 50 and summary.send_errors == 0 and not summary.interrupted
        assert 0.7 < paced < 10
        began = time.monotonic()
        summary = simulator.stream(simulation, broker.url, rate=summary.events / 0.5)  # about half a second
        assert 0.35 < time.monotonic() - began < 10
