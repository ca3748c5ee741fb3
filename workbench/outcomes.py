"""Outcomes (处理结果) for hardship.outcomes: built as the contract says, kept in an outbox, then published.

A decision writes its outcome into `wb_outbox` in the same transaction; the publisher sends
unsent rows (keyed by household_id) and marks them sent only after the broker acknowledged them,
so an outcome is never lost and at worst sent twice with the same outcome_id.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.validation import validate_outcome
from streams.config import OUTCOMES_TOPIC
from streams.kafka_client import client_config
from workbench.tables import OutboxOutcome
from workbench.timeutil import iso_cst, utcnow

log = logging.getLogger(__name__)

# what a confirmed alert changes the household's coverage to, by kind (None: unchanged)
CONFIRMED_COVERAGE = {
    "missed_coverage": "dibao",
    "missed_assistance": None,  # 临时救助、医疗救助: coverage unchanged
    "should_exit": "none",
    "gradual_exit": None,
    "filed_relative_check": None,
}


def new_outcome_id() -> str:
    """wb- and 128 random bits in letters only: hex could hold a run of digits that a reader (or the masking of
    logs and pages) would take for a card or ID number."""
    number, letters = uuid.uuid4().int, []
    for _ in range(28):
        number, index = divmod(number, 26)
        letters.append(chr(97 + index))
    return "wb-" + "".join(letters)


def build_outcome(*, alert_id: str, household_id: str, decision: str, decided_by: str, decided_at: datetime,
                  new_coverage: str | None = None, reason: str | None = None, finding: str | None = None,
                  visit_method: str | None = None, outcome_id: str | None = None,
                  visit_finding: str | None = None) -> dict:
    """The outcome record; raises models.validation.Rejected if it would break the contract."""
    record = {
        "outcome_id": outcome_id or new_outcome_id(),
        "alert_id": alert_id,
        "household_id": household_id,
        "decision": decision,
        "decided_by": decided_by,
        "decided_at": iso_cst(decided_at),
        "new_coverage": new_coverage,
        "reason": reason,
        "finding": finding,
        "visit_method": visit_method,
    }
    if visit_finding is not None:  # after a home visit: the learned model's label
        record["visit_finding"] = visit_finding
    validate_outcome(record)
    return record


def enqueue(session: Session, record: dict, now: datetime) -> OutboxOutcome:
    row = OutboxOutcome(outcome_id=record["outcome_id"], alert_id=record["alert_id"],
                        household_id=record["household_id"], payload=record, created_at=now)
    session.add(row)
    return row


class OutcomePublisher:
    """Sends the outbox to hardship.outcomes with kafka-python; `wake()` after a decision commits."""

    def __init__(self, sessions: sessionmaker[Session], broker_url: str, topic: str = OUTCOMES_TOPIC,
                 interval: float = 2.0, on_sent=None) -> None:  # noqa: ANN001
        self.sessions = sessions
        self.broker_url = broker_url
        self.topic = topic
        self.interval = interval
        self.on_sent = on_sent
        self._producer = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _get_producer(self):  # noqa: ANN202
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(
                **client_config(self.broker_url).kafka_python("workbench-outcomes"),  # brokers, TLS/SASL, client id
                acks="all",
                retries=5,
            )
        return self._producer

    def publish_pending(self, limit: int = 500) -> int:
        """Send every unsent outcome; returns how many were sent."""
        with self._lock, self.sessions() as session:
            rows = list(session.scalars(
                select(OutboxOutcome).where(OutboxOutcome.sent_at.is_(None)).order_by(OutboxOutcome.created_at).limit(limit)
            ))
            if not rows:
                return 0
            producer = self._get_producer()
            futures = [producer.send(self.topic, key=row.household_id.encode(),
                                     value=json.dumps(row.payload, ensure_ascii=False).encode()) for row in rows]
            producer.flush(timeout=30)
            sent = 0
            now = utcnow()
            for row, future in zip(rows, futures, strict=True):
                try:
                    future.get(timeout=10)
                except Exception as exc:  # noqa: BLE001 - kept in the outbox, retried on the next round
                    log.warning("outcome %s not sent yet: %s", row.outcome_id, exc)
                    continue
                row.sent_at = now
                sent += 1
            session.commit()
        if sent and self.on_sent:
            self.on_sent(sent)
        return sent

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> OutcomePublisher:
        self._thread = threading.Thread(target=self._run, name="outcome-publisher", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish_pending()
            except Exception:  # noqa: BLE001 - broker down: keep the outbox, try again
                log.exception("publishing outcomes failed; will retry")
            self._wake.wait(self.interval)
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
