"""Roster and filings from files into hardship.registry and hardship.filings, on the real broker."""

from __future__ import annotations

import subprocess
import sys

import pytest

from models.validation import validate_filing, validate_registry
from scoring.monitor import Monitor
from streams.config import DEADLETTER_TOPIC, FILINGS_TOPIC, REGISTRY_TOPIC
from tests.connector_fixtures import distinct_person, read_topic, settle, write_csv, write_jsonl, write_xlsx

pytestmark = pytest.mark.broker

ROSTER_HEADER = ["户编号", "行政区划代码", "保障类型", "家庭月收入", "身份证号", "与户主关系", "变更日期"]


def _run(kind, root, state, broker):
    done = subprocess.run([sys.executable, "-m", "streams.cli", "connector", kind, "--root", str(root),
                           "--state-dir", str(state), "--broker", broker.url, "--once", "--settle", "0.5",
                           "--no-progress"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_roster_and_filings_reach_their_topics_and_the_core(broker, tmp_path):
    root, state = tmp_path / "drop", tmp_path / "state"
    head, wife, elder = distinct_person(), distinct_person(), distinct_person()
    bad_member = distinct_person()[:17] + "Y"
    roster = write_csv(root / "civil_affairs_roster" / "花名册_2026年11月.csv", ROSTER_HEADER, [
        ["WC-0001", "420106002003", "低保", "1,100.00", head, "户主", "2026/11/01"],
        ["WC-0002", "420106002003", "特困", "0", elder, "本人", "2026/11/01"],
        ["WC-0001", "420106002003", "低保", "1,100.00", wife, "配偶", "2026/11/01"],
        ["WC-0003", "420106002003", "低保边缘", "2,000", bad_member, "户主", "2026/11/01"],
    ])
    extra = write_jsonl(root / "civil_affairs_roster" / "changes.jsonl", [{
        "household_id": "WC-0004", "division_code": "420106002003", "coverage": "edge",
        "monthly_income_yuan": 1500, "recorded_at": "2026-11-02",
        "members": [{"person_id": distinct_person(), "relation": "head"}]}])
    filings = write_xlsx(root / "cadre_filings" / "近亲属备案.xlsx",
                         ["工作人员编号", "人员类别", "行政区划代码", "亲属身份证号", "备案日期"],
                         [["S-17", "社会救助经办人员", "420106002003", wife, "2026-01-05"],
                          ["S-17", "社会救助经办人员", "420106002003", distinct_person(), "2026-01-05"],
                          ["S-18", "村委会成员", "420106002003", distinct_person(), "2026-01-06"]])
    for path in (roster, extra, filings):
        settle(path)
    assert "花名册_2026年11月.csv: done" in _run("roster", root, state, broker)
    assert "近亲属备案.xlsx: done" in _run("filings", root, state, broker)

    registry = {r["key"]: r["value"] for r in read_topic(broker.bootstrap, REGISTRY_TOPIC, expect=3)}
    assert sorted(registry) == ["WC-0001", "WC-0002", "WC-0004"]  # keyed by household_id
    assert [m["person_id"] for m in registry["WC-0001"]["members"]] == [head, wife]
    assert registry["WC-0001"]["coverage"] == "dibao" and registry["WC-0001"]["monthly_income_yuan"] == 1100.0
    filed = {r["key"]: r["value"] for r in read_topic(broker.bootstrap, FILINGS_TOPIC, expect=2)}
    assert sorted(filed) == ["S-17", "S-18"] and wife in filed["S-17"]["relative_person_ids"]
    (letter,) = [r["value"] for r in read_topic(broker.bootstrap, DEADLETTER_TOPIC, expect=1)]
    assert letter["stream"] == "registry" and letter["row"] == 5 and letter["reason"].startswith("RESIDENT_ID")

    monitor = Monitor()
    for record in registry.values():
        monitor.registry(validate_registry(record))
    alerts = [a for record in filed.values() for a in monitor.filing(validate_filing(record))]
    assert [(a["household_id"], a["kind"]) for a in alerts] == [("WC-0001", "filed_relative_check")]
