"""`hardship replay` end to end: files in, alerts and dead letters out, bad lines counted and the run goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from streams.replay import replay
from tests.builders import event, filing, household, person


def write_lines(path: Path, lines: list) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        for line in lines:
            out.write((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n")
    return path


def district(tmp_path: Path) -> dict[str, Path]:
    head, spouse = person("1956-04-04"), person("1958-08-08")
    covered = person("1970-01-01")
    outsider = person("1949-09-09")
    good_bill = event("medical_bill", head, event_id="yb-1", out_of_pocket_yuan=36000)
    broken = head[:17] + ("0" if head[17] != "0" else "1")
    events = [
        good_bill,
        event("medical_bill", broken, event_id="yb-bad-check", out_of_pocket_yuan=100),
        event("lottery_win", head, event_id="x-1"),
        event("medical_bill", spouse, event_id="yb-neg", out_of_pocket_yuan=-40),
        "{\"event_id\": \"cut-off",
        good_bill,  # redelivered: no second alert
        event("employment_started", covered, event_id="hr-1", monthly_wage_yuan=3000),
        event("disability_certified", outsider, event_id="dpf-1", category="intellectual", grade=2),
    ]
    return {
        "registry": write_lines(tmp_path / "registry.jsonl", [
            household("H-edge", [(head, "head"), (spouse, "spouse")], "edge", 2800),
            household("H-dibao", [(covered, "head")], "dibao", 600),
        ]),
        "filings": write_lines(tmp_path / "filings.jsonl", [filing("staff-9", [covered])]),
        "events": write_lines(tmp_path / "events.jsonl", events),
    }


def test_replay_writes_alerts_and_dead_letters_and_says_how_many(tmp_path):
    files = district(tmp_path)
    alerts_out, dead_out = tmp_path / "alerts.jsonl", tmp_path / "dead.jsonl"
    result = CliRunner().invoke(replay, [
        "--registry", str(files["registry"]), "--filings", str(files["filings"]), "--events", str(files["events"]),
        "--alerts-out", str(alerts_out), "--deadletter-out", str(dead_out), "--no-progress",
    ])
    assert result.exit_code == 0, result.output
    alerts = [json.loads(line) for line in alerts_out.read_text(encoding="utf-8").splitlines()]
    letters = [json.loads(line) for line in dead_out.read_text(encoding="utf-8").splitlines()]

    by_household = {(a["household_id"], a["kind"]) for a in alerts}
    assert ("H-edge", "missed_coverage") in by_household
    assert ("H-dibao", "filed_relative_check") in by_household
    assert ("H-dibao", "should_exit") in by_household  # 3,600 a month for one person: over 1.5x
    assert any(a["household_id"].startswith("person:") for a in alerts)  # severe disability, no roster
    assert len([a for a in alerts if a["household_id"] == "H-edge"]) == 1  # the redelivered bill raised nothing

    reasons = sorted(letter["reason"] for letter in letters)
    assert reasons == ["MALFORMED_JSON", "NEGATIVE_MONEY", "RESIDENT_ID_CHECK_DIGIT", "UNKNOWN_EVENT_TYPE"]
    assert all(letter["file"].endswith("events.jsonl") and letter["line"] for letter in letters)
    assert {letter["line"] for letter in letters} == {2, 3, 4, 5}
    assert "dead letters: 4" in result.output
    assert "alerts: " in result.output and "missed_coverage" in result.output


def test_replay_refuses_a_bad_policy_with_its_line(tmp_path):
    files = district(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("policy_version: x\nweights: nonsense\n", encoding="utf-8")
    result = CliRunner().invoke(replay, [
        "--events", str(files["events"]), "--policy", str(policy),
        "--alerts-out", str(tmp_path / "a.jsonl"), "--deadletter-out", str(tmp_path / "d.jsonl"),
    ])
    assert result.exit_code != 0
    assert "line" in result.output and "policy" in result.output


def test_the_console_script_runs_replay(tmp_path):
    files = district(tmp_path)
    hardship = Path(sys.executable).with_name("hardship")
    completed = subprocess.run(
        [str(hardship), "replay", "--registry", str(files["registry"]), "--events", str(files["events"]),
         "--alerts-out", str(tmp_path / "a.jsonl"), "--deadletter-out", str(tmp_path / "d.jsonl")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "dead letters: 4" in completed.stdout
    help_text = subprocess.run([str(hardship), "replay", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--alerts-out" in help_text
