"""`hardship backtest`: the bundled policy against one with the dibao standard raised 10 %, on a small district."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from click.testing import CliRunner

from streams.cli import main


def raised_policy(folder, factor: float = 1.1):
    """The bundled policy with every dibao standard raised by `factor`."""
    import yaml

    data = yaml.safe_load(resources.files("scoring").joinpath("policy.yaml").read_text(encoding="utf-8"))
    data["policy_version"] += "-raised"
    for entry in data["dibao_standards"]:
        entry["monthly_yuan"] = round(entry["monthly_yuan"] * factor)
    path = folder / "raised.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    out = tmp_path_factory.mktemp("bt-district")
    result = CliRunner().invoke(main, ["simulate", "--households", "700", "--seed", "21", "--out", str(out),
                                       "--files-only", "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def _args(district, out, *policies, extra=()):
    args = ["backtest", "--registry", str(district / "registry.jsonl"), "--filings", str(district / "filings.jsonl"),
            "--events", str(district / "events.jsonl"), "--out", str(out), *extra]
    for policy in policies:
        args += ["--policy", str(policy)]
    return args


@pytest.mark.slow
def test_a_raised_standard_gains_missed_coverage_and_loses_exits(district, tmp_path):
    bundled = resources.files("scoring").joinpath("policy.yaml")
    visited = []
    outcomes = tmp_path / "outcomes.jsonl"
    out = tmp_path / "bt"
    first = CliRunner().invoke(main, ["replay", "--registry", str(district / "registry.jsonl"), "--events",
                                      str(district / "events.jsonl"), "--alerts-out", str(tmp_path / "a.jsonl"),
                                      "--deadletter-out", str(tmp_path / "d.jsonl")])
    assert first.exit_code == 0, first.output
    for number, line in enumerate(open(tmp_path / "a.jsonl", encoding="utf-8")):
        alert = json.loads(line)
        if number % 3 == 0:  # some visits, most of them confirming the alert
            visited.append({"alert_id": alert["alert_id"], "household_id": alert["household_id"], "decision": "confirmed",
                            "visit_finding": "not_confirmed" if number % 9 == 0 else "confirmed"})
    outcomes.write_text("".join(json.dumps(v) + "\n" for v in visited), encoding="utf-8")
    result = CliRunner().invoke(main, _args(district, out, bundled, raised_policy(tmp_path), extra=(
        "--truth", str(district / "truth.jsonl"), "--outcomes", str(outcomes), "--jobs", "2")))
    assert result.exit_code == 0, result.output
    report = json.loads((out / "backtest.json").read_text(encoding="utf-8"))
    base, raised = report["runs"]
    change = report["changes"][0]
    assert raised["by_kind"]["missed_coverage"] > base["by_kind"]["missed_coverage"]
    assert change["gained_by_kind"].get("missed_coverage", 0) > 0
    assert "missed_coverage" not in change["lost_by_kind"]  # eligibility only widens with the standard
    assert raised["by_kind"]["should_exit"] <= base["by_kind"]["should_exit"]
    example = change["gained_examples"][0]
    assert example[raised_label(report)] is not None and example[base["label"]] is None
    assert base["detection"]["overall"]["recall"] >= 0.95 and base["detection"]["overall"]["precision"] >= 0.9
    pairs = {(v["household_id"], v["alert_id"].split("/")[-2]) for v in visited}
    assert base["visits"]["visited_and_flagged"] == len(pairs)  # a re-sent alert is one visit
    assert 0.5 < base["visits"]["confirmed_share"] < 1
    streets = base["workload"]["streets"]
    assert sum(s["households"] for s in streets.values()) == 700
    assert all(s["per_1000_households"] is not None for s in streets.values() if s["households"])
    # people on no roster are filed under their ID's county: a flagged "street" without roster households
    assert all(s["flagged"] for s in streets.values() if not s["households"])
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg") >= 3 and "政策回测报告" in page and "新增预警" in page
    assert (out / f"alerts-{raised_label(report)}.jsonl").stat().st_size > 0


def raised_label(report: dict) -> str:
    return report["runs"][1]["label"]


def test_an_invalid_policy_is_refused_before_anything_runs(district, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(resources.files("scoring").joinpath("policy.yaml").read_text(encoding="utf-8")
                      .replace("should_exit_ratio: 1.5", "should_exit_ratio: lots"), encoding="utf-8")
    out = tmp_path / "never"
    result = CliRunner().invoke(main, _args(district, out, resources.files("scoring").joinpath("policy.yaml"), broken))
    assert result.exit_code != 0
    assert "should_exit_ratio" in result.output and "Nothing was replayed" in result.output
    assert not out.exists()
    one = CliRunner().invoke(main, _args(district, out, broken))
    assert one.exit_code != 0 and "at least two --policy" in one.output


def test_reports_mask_the_resident_ids_of_people_on_no_roster(tmp_path):
    from models.privacy import find_unmasked
    from scoring.backtest import Run, compare
    from streams.backtest import render_html

    person = "person:420106194512300243"
    alert = {"alert_id": f"{person}/missed_coverage/1", "household_id": person, "kind": "missed_coverage", "level": 3,
             "division_code": "420106000000", "reasons": [{"code": "PERSON_OUTSIDE_ROSTER", "text": "…"}]}
    report = compare([Run("a", "v1", []), Run("b", "v2", [alert])], {"420106001001": 10}, 12.0)
    page = render_html(report)
    assert "420106194512300243" not in page and "person:420106********0243" in page
    import re

    text = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)  # chart coordinates are no personal numbers
    assert not find_unmasked(text)
