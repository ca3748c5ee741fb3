"""Detection stays at the bar: `hardship simulate` -> `hardship replay` -> `hardship evaluate` on a small district."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scoring.evaluation import KINDS, evaluate, truth_entries
from streams.cli import main

RECALL_BAR = 0.95
PRECISION_BAR = 0.90
LEAD_P95_DAYS = 7.0


def hardship(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    out = tmp_path_factory.mktemp("district")
    hardship("simulate", "--households", "1200", "--seed", "31", "--out", str(out), "--files-only", "--quiet")
    hardship("replay", "--registry", str(out / "registry.jsonl"), "--filings", str(out / "filings.jsonl"),
             "--events", str(out / "events.jsonl"), "--alerts-out", str(out / "alerts.jsonl"),
             "--deadletter-out", str(out / "dead.jsonl"))
    return out


@pytest.mark.slow
def test_detection_on_a_simulated_district_is_at_the_bar(district):
    output = hardship("evaluate", "--truth", str(district / "truth.jsonl"), "--alerts", str(district / "alerts.jsonl"),
                      "--deadletter", str(district / "dead.jsonl"), "--json",
                      "--min-recall", str(RECALL_BAR), "--min-precision", str(PRECISION_BAR))
    figures = json.loads(output)
    for kind in KINDS:
        found = figures["kinds"][kind]
        assert found["true_positives"] + found["misses"] > 0, f"the district has no {kind} case to measure"
        assert found["recall"] >= RECALL_BAR, (kind, found["miss_examples"])
        assert found["precision"] >= PRECISION_BAR, (kind, found["false_alarm_examples"])
    assert figures["overall"]["lead_days_median"] == 0
    assert figures["overall"]["lead_days_p95"] < LEAD_P95_DAYS


@pytest.mark.slow
def test_evaluate_fails_below_the_bar_and_names_the_kind(district):
    alerts = [json.loads(line) for line in open(district / "alerts.jsonl", encoding="utf-8")]
    kept = [a for a in alerts if a["kind"] != "gradual_exit"]  # as if the 渐退 rule were lost
    thinned = district / "thinned.jsonl"
    thinned.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in kept), encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", "--truth", str(district / "truth.jsonl"), "--alerts", str(thinned),
                                       "--min-recall", "0.95"])
    assert result.exit_code == 1
    assert "gradual_exit recall 0.0%" in result.output


def test_evaluation_counts_updates_once_and_skips_unobservable_truth():
    truth = [
        {"household_id": "h1", "kinds": [{"kind": "missed_coverage", "knowable_at": "2026-03-01T10:00:00+08:00",
                                          "observable": True}]},
        {"household_id": "h2", "kinds": [{"kind": "should_exit", "knowable_at": "2026-03-01", "observable": False}]},
        {"household_id": "h3", "kinds": []},
        {"household_id": "h4", "label": "should_be_covered", "became_true_at": "2026-02-01T00:00:00+08:00"},
    ]
    alerts = [
        {"alert_id": "h1/missed_coverage/1", "household_id": "h1", "kind": "missed_coverage", "level": 1,
         "event_time": "2026-03-03T10:00:00+08:00", "reasons": []},
        {"alert_id": "h1/missed_coverage/1", "household_id": "h1", "kind": "missed_coverage", "level": 2,
         "event_time": "2026-03-05T10:00:00+08:00", "reasons": []},  # a level rise: the same alert
        {"alert_id": "h2/should_exit/1", "household_id": "h2", "kind": "should_exit", "level": 3,
         "event_time": "2026-03-01T10:00:00+08:00", "reasons": []},
        {"alert_id": "h3/gradual_exit/1", "household_id": "h3", "kind": "gradual_exit", "level": 1,
         "event_time": "2026-03-01T10:00:00+08:00", "reasons": [{"code": "GRADUAL_EXIT_BAND", "text": "…"}]},
    ]
    result = evaluate(truth, alerts, [{"reason": "MALFORMED_JSON"}])
    coverage = result.kinds["missed_coverage"]
    assert (coverage.true_positives, coverage.misses, coverage.false_alarms) == (1, 1, 0)
    assert coverage.alerts == 1 and coverage.lead_days == [2.0]
    assert result.kinds["should_exit"].false_alarms == 0 and result.kinds["should_exit"].unobservable_alerted == 1
    assert result.kinds["gradual_exit"].false_alarms == 1
    assert result.kinds["gradual_exit"].false_alarm_examples[0]["reasons"][0]["code"] == "GRADUAL_EXIT_BAND"
    assert result.deadletters_by_reason == {"MALFORMED_JSON": 1}
    assert truth_entries(truth[3])[0].kind == "missed_coverage"  # older truth files' labels are read too
