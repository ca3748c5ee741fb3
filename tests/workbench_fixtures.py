"""Shared helpers of the workbench tests: alerts of the contract, users of every role, a database on SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from models.resident_id import make_resident_id
from streams.config import bootstrap_servers

DIVISION = "420106002003"  # 武昌区 某街道 某社区
NEIGHBOUR = "420106002004"  # same street, other community
OTHER_STREET = "420106005001"  # same county, other street
OTHER_COUNTY = "420111001001"  # 洪山区
PASSWORD = "correct-horse-battery"

# (username, role, scopes, staff_id)
USERS = [
    ("bureau", "bureau", ["420106000000"], "S-BUREAU"),
    ("street", "street", ["420106002000"], "S-STREET"),
    ("officer_a", "officer", [DIVISION], "S-OFF-A"),
    ("officer_b", "officer", [DIVISION], "S-OFF-B"),
    ("verifier", "verifier", ["420106000000"], "S-VERIFY"),
    ("auditor", "auditor", ["420106000000"], "S-AUDIT"),
    ("admin", "admin", ["420106000000"], None),
    ("street_other", "street", ["420106005000"], "S-STREET2"),
    ("officer_other", "officer", [OTHER_STREET], "S-OFF-O"),
    ("bureau_far", "bureau", ["420111000000"], "S-FAR"),
    ("auditor_far", "auditor", ["420111000000"], "S-AUD-FAR"),
    ("officer_far", "officer", [OTHER_COUNTY], "S-OFF-FAR"),
    ("verifier_far", "verifier", ["420111000000"], "S-VER-FAR"),
    ("admin_far", "admin", ["420111000000"], None),
]


def resident(sequence: int, born: date = date(1968, 5, 4)) -> str:
    return make_resident_id("420106", born, sequence)


def make_alert(alert_id: str, *, division: str = DIVISION, kind: str = "missed_coverage", level: int = 3,
               score: float = 72.5, household: str | None = None, recusal: list[str] | None = None,
               emitted_at: str = "2026-09-18T09:00:00+08:00", reason_text: str | None = None) -> dict:
    return {
        "alert_id": alert_id,
        "household_id": household or f"hh-{alert_id}",
        "division_code": division,
        "kind": kind,
        "level": level,
        "hardship_score": score,
        "dimensions": {"age_structure": 40, "economic": 80, "health": 90, "disability": 20, "employment": 60, "shock": 70},
        "removal_score": 10,
        "reasons": [{"code": "MEDICAL_OOP_OVER_30000", "text": reason_text or "近12个月个人自付医疗费用 35,000 元，超过 30,000 元",
                     "event_ids": ["yb-2026-000123"]}],
        "policy_version": "policy-2026.1",
        "model_version": "rules-1",
        "event_time": "2026-09-17T10:00:00+08:00",
        "emitted_at": emitted_at,
        "recusal_staff_ids": recusal or [],
    }


@functools.cache
def password_hash() -> str:
    from workbench.security import hash_password

    return hash_password(PASSWORD)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 9, 18, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


def read_topic(broker_url: str, topic: str, want, timeout: float = 30.0) -> list[dict]:  # noqa: ANN001
    """Records of `topic` (from the beginning) until `want(records)` is true."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(broker_url), group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for message in consumer.poll(timeout_ms=500).values():
                for m in message:
                    records.append({"key": m.key.decode() if m.key else None, "value": json.loads(m.value)})
            if want(records):
                return records
    finally:
        consumer.close()
    raise AssertionError(f"{topic}: condition not met within {timeout} s; got {records}")


def produce(broker_url: str, topic: str, records: list[tuple[str, object]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(broker_url), acks="all")
    for key, value in records:
        payload = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
        producer.send(topic, key=key.encode(), value=payload)
    producer.flush(timeout=30)
    producer.close()


def postgres_url() -> str:
    return os.environ.get("HARDSHIP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def postgres_schema() -> Iterator[tuple[str, str]]:
    """A fresh schema of its own on the test server; fails (not skips) when HARDSHIP_REQUIRE_POSTGRES=1."""
    from sqlalchemy import create_engine, text

    url = postgres_url()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001
        engine.dispose()
        message = f"PostgreSQL not reachable at {url}: {exc}"
        if os.environ.get("HARDSHIP_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    schema = f"wb_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url, schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@dataclass
class Env:
    """One workbench over one database: the app, a client, the clock and tokens per user."""

    app: object
    client: TestClient
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def wb(self):  # noqa: ANN201
        return self.app.state.workbench

    def auth(self, username: str) -> dict:
        if username not in self.tokens:
            response = self.client.post("/api/v1/token", json={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            self.tokens[username] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def ingest(self, *alerts: dict) -> None:
        from workbench.alerts import upsert_alert

        with self.wb.sessions() as session:
            for alert in alerts:
                upsert_alert(session, alert, self.clock())
            session.commit()

    def number(self, alert_id: str) -> int:
        """The workbench's number (预警序号) of a wire alert_id: URLs use it, never the alert_id."""
        from workbench.alerts import by_alert_id

        with self.wb.sessions() as session:
            alert = by_alert_id(session, alert_id)
            assert alert is not None, alert_id
            return alert.number

    def alert_url(self, alert_id: str, action: str = "") -> str:
        return f"/api/v1/alerts/{self.number(alert_id)}" + (f"/{action}" if action else "")

    def page_url(self, alert_id: str, action: str = "") -> str:
        return f"/alerts/{self.number(alert_id)}" + (f"/{action}" if action else "")

    def call(self, method: str, path: str, user: str | None = None, **kwargs):  # noqa: ANN201
        headers = self.auth(user) if user else {}
        return self.client.request(method, path, headers=headers, **kwargs)


def build_env(database_url: str, schema: str | None = None, broker: str | None = None,
              users: list[tuple] | None = None) -> Env:
    from workbench.app import create_app
    from workbench.tables import User

    clock = Clock()
    app = create_app(database_url, schema=schema, clock=clock, publisher_broker=broker)
    with app.state.workbench.sessions() as session:
        for username, role, scopes, staff_id in users or USERS:  # one argon2 hash for all: tests stay quick
            session.add(User(username=username, display_name=f"{username} 测试", role=role, scopes=scopes,
                             staff_id=staff_id, password_hash=password_hash(), active=True, created_at=clock()))
        session.commit()
    client = TestClient(app)
    return Env(app=app, client=client, clock=clock)


@contextlib.contextmanager
def env_on(backend: str, tmp_path, broker: str | None = None) -> Iterator[Env]:  # noqa: ANN001
    """An Env on "sqlite" (a file under tmp_path) or "postgres" (a schema of its own)."""
    if backend == "sqlite":
        env = build_env(f"sqlite:///{tmp_path / 'wb.sqlite3'}", broker=broker)
        with env.client:
            yield env
        env.wb.engine.dispose()
        return
    with postgres_schema() as (url, schema):
        env = build_env(url, schema=schema, broker=broker)
        with env.client:
            yield env
        env.wb.engine.dispose()
