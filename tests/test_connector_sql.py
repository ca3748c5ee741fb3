"""SQL polling against the real embedded broker, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy

from connectors.kafka_out import KafkaOut
from connectors.mapping import contract_mapping, parse_mapping
from connectors.sql_poll import SqlPoller
from streams.config import DEADLETTER_TOPIC, EVENTS_TOPIC
from tests.connector_fixtures import distinct_person, read_topic

pytestmark = pytest.mark.broker

# A department table with Chinese column names, as a tax bureau's exchange database might have.
TAX_MAPPING = parse_mapping({
    "name": "tax_income", "source": "tax", "type": "income_reported",
    "event_id": {"columns": ["流水号"], "prefix": "tax-"},
    "fields": {"person_id": {"columns": ["纳税人身份证号"], "kind": "resident_id", "required": True},
               "occurred_at": {"columns": ["申报日期"], "kind": "time", "required": True},
               "attributes.monthly_income_yuan": {"columns": ["月收入"], "kind": "money"}},
})


def _fill(engine, table, rows):
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            f'CREATE TABLE {table} ("流水号" INTEGER PRIMARY KEY, "纳税人身份证号" VARCHAR(32), '
            f'"申报日期" VARCHAR(32), "月收入" VARCHAR(32))'))
        connection.execute(sqlalchemy.text(
            f'INSERT INTO {table} ("流水号", "纳税人身份证号", "申报日期", "月收入") VALUES (:n, :p, :d, :m)'), rows)


def _rows(start, count, bad_at=()):
    return [{"n": n, "p": distinct_person(), "d": "2026/10/01", "m": "不详" if n in bad_at else f"{3000 + n:,}"}
            for n in range(start, start + count)]


def _exercise(url, broker, tmp_path):
    table = f"conn_tax_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(url)
    out = KafkaOut(broker.url)
    try:
        _fill(engine, table, _rows(1, 25, bad_at={7}))
        query = f'SELECT * FROM {table} WHERE "月收入" IS NOT NULL'
        poller = SqlPoller(url, "流水号", TAX_MAPPING, out, tmp_path / "state", query=query, name=table, batch=10)
        assert poller.drain() == 25
        assert poller.cursor == 25
        poller.close()
        # new rows arrive; a restarted poller resumes from the durable cursor
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(
                f'INSERT INTO {table} ("流水号", "纳税人身份证号", "申报日期", "月收入") VALUES (:n, :p, :d, :m)'),
                _rows(26, 5))
        again = SqlPoller(url, "流水号", TAX_MAPPING, out, tmp_path / "state", query=query, name=table, batch=10)
        assert again.cursor == 25
        assert again.drain() == 5
        assert again.shipper.counts.sent == 29 and dict(again.shipper.counts.rejected) == {"BAD_MONEY": 1}
        saved = json.loads((tmp_path / "state" / "sql" / table / "cursor.json").read_text(encoding="utf-8"))
        assert saved["value"] == 30 and saved["kind"] == "int"
        again.close()
        events = [r["value"] for r in read_topic(broker.bootstrap, EVENTS_TOPIC, expect=29)]
        assert sorted(int(e["event_id"][4:]) for e in events) == [n for n in range(1, 31) if n != 7]
        assert all(e["type"] == "income_reported" and e["source"] == "tax" for e in events)
        (letter,) = [r["value"] for r in read_topic(broker.bootstrap, DEADLETTER_TOPIC, expect=1)]
        assert letter["reason"] == "BAD_MONEY" and letter["cursor"] == 7 and letter["query"] == table
    finally:
        out.close()
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_sqlite_polling(broker, tmp_path):
    _exercise(f"sqlite:///{tmp_path / 'department.sqlite3'}", broker, tmp_path)


@pytest.mark.postgres
def test_postgres_polling(broker, postgres_url, tmp_path):
    _exercise(postgres_url, broker, tmp_path)


def test_rows_sharing_a_cursor_value_are_not_lost(broker, tmp_path):
    """A non-unique cursor (an update date): a full batch never ends inside a run of equal values."""
    url = f"sqlite:///{tmp_path / 'hr.sqlite3'}"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "CREATE TABLE hr_events (event_id TEXT, type TEXT, person_id TEXT, occurred_at TEXT, updated TEXT, "
            "attributes TEXT)"))
        rows = [{"e": f"hr-{i}", "p": distinct_person(), "u": f"2026-10-{1 + i // 4:02d}"} for i in range(12)]
        connection.execute(sqlalchemy.text(
            "INSERT INTO hr_events VALUES (:e, 'unemployment_registered', :p, '2026-10-01', :u, '{}')"), rows)
    out = KafkaOut(broker.url)
    try:
        poller = SqlPoller(url, "updated", contract_mapping("events", "human_resources"), out, tmp_path / "state",
                           table="hr_events", batch=6)
        assert poller.drain() == 12
        events = read_topic(broker.bootstrap, EVENTS_TOPIC, expect=12)
        assert sorted(r["value"]["event_id"] for r in events) == sorted(f"hr-{i}" for i in range(12))
        assert {r["value"]["source"] for r in events} == {"human_resources"}
        assert (tmp_path / "state" / "sql" / "human_resources" / "cursor.json").exists()
    finally:
        out.close()
        engine.dispose()


@pytest.mark.postgres
def test_postgres_contract_table_with_native_types(broker, postgres_url, tmp_path):
    """timestamptz, jsonb and numeric columns of a table already in the contract's shape."""
    table = f"conn_contract_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(postgres_url)
    out = KafkaOut(broker.url)
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(
                f"CREATE TABLE {table} (seq BIGSERIAL PRIMARY KEY, event_id TEXT, type TEXT, person_id TEXT, "
                f"occurred_at TIMESTAMPTZ, attributes JSONB)"))
            connection.execute(sqlalchemy.text(
                f"INSERT INTO {table} (event_id, type, person_id, occurred_at, attributes) "
                f"VALUES (:e, 'pension_started', :p, '2026-10-01 09:00:00+08', CAST(:a AS JSONB))"),
                [{"e": f"sb-{i}", "p": distinct_person(), "a": json.dumps({"monthly_pension_yuan": 2800.5})}
                 for i in range(7)])
        poller = SqlPoller(postgres_url, "seq", contract_mapping("events", "social_security"), out,
                           tmp_path / "state", table=table, batch=3)
        assert poller.drain() == 7
        poller.close()
        events = [r["value"] for r in read_topic(broker.bootstrap, EVENTS_TOPIC, expect=7)]
        assert sorted(e["event_id"] for e in events) == [f"sb-{i}" for i in range(7)]
        assert all(e["attributes"] == {"monthly_pension_yuan": 2800.5} and e["source"] == "social_security"
                   for e in events)
        assert events[0]["occurred_at"].endswith("+00:00") or events[0]["occurred_at"].endswith("+08:00")
    finally:
        out.close()
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()
