"""File drop against the real embedded broker: GBK exports to events to alerts, duplicates, bad rows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime

import pytest

from connectors.filedrop import FileDrop
from connectors.kafka_out import KafkaOut
from connectors.mapping import load_mapping
from models.privacy import pseudonym
from models.validation import validate_event
from scoring.monitor import Monitor
from streams.config import DEADLETTER_TOPIC, EVENTS_TOPIC
from tests.builders import person
from tests.connector_fixtures import (
    MEDICAL_HEADER,
    medical_rows,
    read_topic,
    settle,
    write_csv,
    write_jsonl,
    write_xlsx,
)

pytestmark = pytest.mark.broker


@pytest.fixture
def out(broker):
    sink = KafkaOut(broker.url)
    yield sink
    sink.close()


def drop_for(tmp_path, out, *names, commit_every=7):
    return FileDrop(tmp_path / "drop", [load_mapping(n) for n in names], out, tmp_path / "state",
                    commit_every=commit_every, settle_seconds=1.0)


def test_gbk_csv_becomes_events_that_raise_alerts(broker, out, tmp_path):
    rows = medical_rows(30, big_every=10)  # rows 0, 10, 20: 35,000 yuan out of pocket
    path = write_csv(tmp_path / "drop" / "medical_insurance" / "医保结算_202611.csv", MEDICAL_HEADER, rows)
    assert path.read_bytes().decode("gbk")  # really GBK, with Chinese headers
    settle(path)
    (result,) = drop_for(tmp_path, out, "medical_insurance").scan_once()
    assert result.status == "done"
    assert result.report["encoding"] == "gbk"
    assert (result.report["read"], result.report["sent"], result.report["rejected"]) == (30, 30, 0)

    records = read_topic(broker.bootstrap, EVENTS_TOPIC, expect=30)
    assert len(records) == 30
    assert all(r["key"] == r["value"]["person_id"] for r in records)  # keyed by person_id
    assert set(records[0]["value"]) == {"event_id", "source", "type", "person_id", "occurred_at", "attributes"}
    monitor = Monitor()
    alerts = [a for r in records for a in monitor.event(validate_event(r["value"]))]
    big_people = {rows[i][2] for i in (0, 10, 20)}
    assert {a["kind"] for a in alerts} == {"missed_coverage"}
    assert {a["household_id"] for a in alerts} == {f"person:{p}" for p in big_people}


def test_same_file_dropped_twice_is_sent_once(broker, tmp_path):
    """Through the command line: the second drop (another name, same content) sends nothing."""
    root, state = tmp_path / "drop", tmp_path / "state"
    first = write_csv(root / "medical_insurance" / "a.csv", MEDICAL_HEADER, medical_rows(12))
    settle(first)
    command = [sys.executable, "-m", "streams.cli", "connector", "file", "--root", str(root), "--state-dir",
               str(state), "--broker", broker.url, "--mapping", "medical_insurance", "--once", "--settle", "0.5",
               "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "a.csv: done" in done.stderr
    second = root / "medical_insurance" / "a_copy_resent.csv"
    shutil.copy(first, second)
    settle(second)
    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "a_copy_resent.csv: duplicate" in again.stderr
    assert len(read_topic(broker.bootstrap, EVENTS_TOPIC, expect=12)) == 12
    reports = sorted((state / "file" / "medical_insurance" / "reports").glob("*.json"))
    duplicate = [json.loads(p.read_text(encoding="utf-8")) for p in reports if "duplicate" in p.name]
    assert duplicate and duplicate[0]["duplicate_of"] == "a.csv" and duplicate[0]["sent"] == 0


def test_bad_rows_are_dead_lettered_with_rows_and_reasons(broker, out, tmp_path):
    rows = medical_rows(20)
    rows[2][2] = rows[2][2][:17] + ("0" if rows[2][2][17] != "0" else "1")  # check digit wrong: row 4
    rows[5][6] = "三万元"  # not a number: row 7
    rows[9][4] = "2026-02-30"  # no such day: row 11
    rows[14][2] = ""  # no ID: row 16
    path = write_csv(tmp_path / "drop" / "medical_insurance" / "bad.csv", MEDICAL_HEADER, rows)
    settle(path)
    (result,) = drop_for(tmp_path, out, "medical_insurance").scan_once()
    report = result.report
    assert (report["read"], report["sent"], report["rejected"]) == (20, 16, 4)
    assert report["rejected_by_reason"] == {"RESIDENT_ID_CHECK_DIGIT": 1, "BAD_MONEY": 1, "BAD_TIMESTAMP": 1,
                                            "MISSING_FIELD": 1}
    assert [(r["row"], r["reason"]) for r in report["rejections"]] == [
        (4, "RESIDENT_ID_CHECK_DIGIT"), (7, "BAD_MONEY"), (11, "BAD_TIMESTAMP"), (16, "MISSING_FIELD")]
    assert len(read_topic(broker.bootstrap, EVENTS_TOPIC, expect=16)) == 16
    letters = sorted((r["value"] for r in read_topic(broker.bootstrap, DEADLETTER_TOPIC, expect=4)),
                     key=lambda v: v["row"])
    assert [(v["row"], v["reason"], v["file"], v["source"]) for v in letters] == [
        (4, "RESIDENT_ID_CHECK_DIGIT", "bad.csv", "medical_insurance"), (7, "BAD_MONEY", "bad.csv", "medical_insurance"),
        (11, "BAD_TIMESTAMP", "bad.csv", "medical_insurance"), (16, "MISSING_FIELD", "bad.csv", "medical_insurance")]
    assert letters[1]["input"]["个人自付金额"] == "三万元"  # the row as the department wrote it
    assert all(v["message"] for v in letters)

    from prometheus_client import REGISTRY

    def sample(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0

    assert sample("hardship_connector_records_read_total", connector="file", source="medical_insurance") >= 20
    assert sample("hardship_connector_records_rejected_total", connector="file", source="medical_insurance",
                  reason="BAD_MONEY") >= 1
    assert sample("hardship_connector_records_sent_total", connector="file", source="medical_insurance",
                  topic=EVENTS_TOPIC) >= 16
    assert REGISTRY.get_sample_value("hardship_connector_cursor_lag_records",
                                     {"connector": "file", "source": "medical_insurance"}) == 0


def test_xlsx_and_json_lines_and_a_refused_file(broker, out, tmp_path):
    root = tmp_path / "drop"
    a, b = person("1955-01-01"), person("1956-01-01")
    xlsx = write_xlsx(root / "disabled_persons_federation" / "残疾人证.xlsx",
                      ["残疾人证号", "身份证号", "残疾类别", "残疾等级", "发证日期"],
                      [["C1", a, "精神残疾", "二级", datetime(2026, 9, 1)], ["C2", b, "肢体", 4, datetime(2026, 9, 2)]])
    jsonl = write_jsonl(root / "courts" / "push.jsonl", [
        {"event_id": "fy-1", "type": "incarceration", "person_id": a, "occurred_at": "2026-10-01"},
        {"event_id": "fy-2", "type": "release", "person_id": b, "occurred_at": "2026-10-01T09:00:00+08:00"}])
    refused = write_csv(root / "courts" / "wrong_columns.csv", ["姓名", "日期"], [["李四", "2026-10-01"]])
    for path in (xlsx, jsonl, refused):
        settle(path)
    results = {r.path.name: r for r in drop_for(tmp_path, out, "disabled_persons_federation", "courts").scan_once()}
    assert results["残疾人证.xlsx"].report["sent"] == 2
    assert results["push.jsonl"].report["sent"] == 2
    assert results["wrong_columns.csv"].status == "refused"
    assert results["wrong_columns.csv"].report["refusal"]["reason"] == "MISSING_COLUMN"
    events = {r["value"]["event_id"]: r["value"] for r in read_topic(broker.bootstrap, EVENTS_TOPIC, expect=4)}
    certificate = "cl-" + pseudonym("C1", "disabled_persons_federation")  # a keyed hash, never the 残疾人证号
    assert events[certificate]["attributes"] == {"category": "mental", "grade": 2}
    assert events[certificate]["occurred_at"] == "2026-09-01"
    assert not any(key.startswith("cl-C") for key in events)
    assert events["fy-1"]["source"] == "courts"
    (letter,) = [r["value"] for r in read_topic(broker.bootstrap, DEADLETTER_TOPIC, expect=1)]
    assert letter["reason"] == "MISSING_COLUMN" and letter["file"] == "wrong_columns.csv"
