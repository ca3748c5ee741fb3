"""Connector doors of issue 13 ("should fix"): an oversized CSV cell and a deeply nested JSON line are dead letters and
the file goes on (nothing read twice); the file drop refuses another department's `source` like the HTTP push."""

from __future__ import annotations

import pytest

from connectors.filedrop import FileDrop
from connectors.kafka_out import KafkaOut
from connectors.mapping import load_mapping
from streams.config import DEADLETTER_TOPIC, EVENTS_TOPIC
from tests.connector_fixtures import (
    MEDICAL_HEADER,
    distinct_person,
    medical_rows,
    read_topic,
    settle,
    write_csv,
    write_jsonl,
)

pytestmark = pytest.mark.broker


@pytest.fixture
def out(broker):
    sink = KafkaOut(broker.url)
    yield sink
    sink.close()


def _drop(tmp_path, out, *names):  # noqa: ANN001, ANN202
    return FileDrop(tmp_path / "drop", [load_mapping(n) for n in names], out, tmp_path / "state",
                    commit_every=3, settle_seconds=1.0)


def test_an_oversized_csv_cell_is_a_dead_letter_and_the_file_goes_on(broker, out, tmp_path):
    rows = medical_rows(10)
    rows[4][1] = "张" * 140_000  # a name cell over the csv module's 128 KiB field limit: row 6
    path = write_csv(tmp_path / "drop" / "medical_insurance" / "huge.csv", MEDICAL_HEADER, rows, encoding="utf-8")
    text = path.read_text(encoding="utf-8").replace("张" * 140_000, '"' + "张" * 140_000 + '"')
    path.write_text(text, encoding="utf-8")
    settle(path)
    (result,) = _drop(tmp_path, out, "medical_insurance").scan_once()
    assert result.status == "done"
    assert (result.report["read"], result.report["sent"], result.report["rejected"]) == (10, 9, 1)
    assert [(r["row"], r["reason"]) for r in result.report["rejections"]] == [(6, "FIELD_TOO_LARGE")]
    events = read_topic(broker.bootstrap, EVENTS_TOPIC, expect=9)
    assert len(events) == 9 and len({e["value"]["event_id"] for e in events}) == 9  # nothing sent twice
    (letter,) = [r["value"] for r in read_topic(broker.bootstrap, DEADLETTER_TOPIC, expect=1)]
    assert letter["reason"] == "FIELD_TOO_LARGE" and letter["file"] == "huge.csv"
    # a second pass (a restart) sends nothing again
    assert _drop(tmp_path, out, "medical_insurance").scan_once()[0].status == "duplicate"


def test_a_deeply_nested_json_line_is_a_dead_letter_and_the_file_goes_on(broker, out, tmp_path):
    good = [{"event_id": f"fy-{i}", "type": "incarceration", "person_id": distinct_person(), "occurred_at": "2026-10-01"}
            for i in range(5)]
    path = write_jsonl(tmp_path / "drop" / "courts" / "deep.jsonl", good[:2] + good[2:])
    deep = '{"event_id": "fy-deep", "attributes": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:2] + [deep] + lines[2:]) + "\n", encoding="utf-8")
    settle(path)
    (result,) = _drop(tmp_path, out, "courts").scan_once()
    assert result.status == "done"
    assert (result.report["sent"], result.report["rejected"]) == (5, 1)
    assert [(r["row"], r["reason"]) for r in result.report["rejections"]] == [(3, "TOO_DEEP")]
    assert sorted(r["value"]["event_id"] for r in read_topic(broker.bootstrap, EVENTS_TOPIC, expect=5)) == \
        [f"fy-{i}" for i in range(5)]


def test_the_file_drop_refuses_another_departments_source(broker, out, tmp_path):
    path = write_jsonl(tmp_path / "drop" / "medical_insurance" / "push.jsonl", [
        {"event_id": "yb-1", "source": "medical_insurance", "type": "medical_bill", "person_id": distinct_person(),
         "occurred_at": "2026-10-01", "attributes": {"out_of_pocket_yuan": 100}},
        {"event_id": "fy-9", "source": "courts", "type": "incarceration", "person_id": distinct_person(),
         "occurred_at": "2026-10-01"},
        {"event_id": "yb-2", "type": "medical_bill", "person_id": distinct_person(), "occurred_at": "2026-10-01",
         "attributes": {"out_of_pocket_yuan": 200}},
    ])
    settle(path)
    (result,) = _drop(tmp_path, out, "medical_insurance").scan_once()
    assert [(r["row"], r["reason"], r["field"]) for r in result.report["rejections"]] == [(2, "SOURCE_MISMATCH", "source")]
    sent = {r["value"]["event_id"]: r["value"]["source"] for r in read_topic(broker.bootstrap, EVENTS_TOPIC, expect=2)}
    assert sent == {"yb-1": "medical_insurance", "yb-2": "medical_insurance"}


# --- the SQL poller: rows its cursor can never reach are dead letters, on SQLite and PostgreSQL ------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sql_poller_dead_letters_null_and_lower_cursor_values(backend, broker, out, tmp_path, request):
    import uuid

    import sqlalchemy

    from connectors.mapping import parse_mapping
    from connectors.sql_poll import SqlPoller

    mapping = parse_mapping({
        "name": "tax_income", "source": "tax", "type": "income_reported",
        "event_id": {"columns": ["流水号"], "prefix": "tax-"},
        "fields": {"person_id": {"columns": ["纳税人身份证号"], "kind": "resident_id", "required": True},
                   "occurred_at": {"columns": ["申报日期"], "kind": "time", "required": True},
                   "attributes.monthly_income_yuan": {"columns": ["月收入"], "kind": "money"}}})
    url = f"sqlite:///{tmp_path / 'tax.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    table = f"conn_seq_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(url)
    insert = sqlalchemy.text(f'INSERT INTO {table} ("流水号", "序号", "纳税人身份证号", "申报日期", "月收入") '
                             "VALUES (:n, :s, :p, '2026/10/01', '3,000')")

    def rows(*pairs):  # noqa: ANN002, ANN202
        return [{"n": n, "s": s, "p": distinct_person()} for n, s in pairs]

    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(
                f'CREATE TABLE {table} ("流水号" VARCHAR(16) PRIMARY KEY, "序号" INTEGER NULL, '
                f'"纳税人身份证号" VARCHAR(32), "申报日期" VARCHAR(32), "月收入" VARCHAR(32))'))
            connection.execute(insert, rows(("a1", 1), ("a2", 2), ("nul", None), ("a4", 4), ("a5", 5)))

        def poller():  # noqa: ANN202
            return SqlPoller(url, "序号", mapping, out, tmp_path / "state", table=table, name=table, batch=2)

        first = poller()
        assert first.drain() == 4 and first.cursor == 5  # PostgreSQL sorts NULL last: it must not become the cursor
        assert first.drain() == 0  # the NULL row is reported once, not at every poll
        first.close()
        with engine.begin() as connection:
            connection.execute(insert, rows(("late", 3), ("a6", 6)))  # "late" slipped in under the cursor
        second = poller()
        assert second.drain() == 1 and second.cursor == 6
        assert dict(second.shipper.counts.rejected) == {"NULL_CURSOR": 1, "CURSOR_WENT_BACK": 1}
        second.close()
        third = poller()  # a restart finds nothing new and reports nothing again
        assert third.drain() == 0 and dict(third.shipper.counts.rejected) == {"NULL_CURSOR": 1, "CURSOR_WENT_BACK": 1}
        third.close()
        letters = [r["value"] for r in read_topic(broker.bootstrap, DEADLETTER_TOPIC, expect=2)]
        assert sorted(v["reason"] for v in letters) == ["CURSOR_WENT_BACK", "NULL_CURSOR"]
        (null,) = [v for v in letters if v["reason"] == "NULL_CURSOR"]
        assert null["input"]["流水号"] == "nul" and null["query"] == table
        sent = sorted(r["value"]["event_id"] for r in read_topic(broker.bootstrap, EVENTS_TOPIC, expect=5))
        assert sent == ["tax-a1", "tax-a2", "tax-a4", "tax-a5", "tax-a6"]  # nothing sent twice
    finally:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()
