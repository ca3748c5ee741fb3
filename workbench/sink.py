"""The alert sink (预警接收): reads hardship.alerts and upserts each alert, committing Kafka offsets after the database.

An alert that breaks the contract goes to hardship.deadletter with its reason; a crash between the
database commit and the offset commit replays a few alerts, which the upsert absorbs.
"""

from __future__ import annotations

import json
import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from models.validation import Rejected, dead_letter, decode_json
from streams.config import ALERTS_TOPIC, DEADLETTER_TOPIC
from streams.kafka_client import client_config
from workbench.alerts import upsert_alert
from workbench.timeutil import utcnow

log = logging.getLogger(__name__)
GROUP_ID = "hardship-workbench"


class AlertSink:
    """A kafka-python consumer in a thread; `poll_once()` is one batch, used by `run()` and by tests."""

    def __init__(self, sessions: sessionmaker[Session], broker_url: str, *, group_id: str = GROUP_ID,
                 topic: str = ALERTS_TOPIC, metrics=None, clock=utcnow) -> None:  # noqa: ANN001
        self.sessions = sessions
        self.broker_url = broker_url
        self.group_id = group_id
        self.topic = topic
        self.metrics = metrics
        self.clock = clock
        self._consumer = None
        self._producer = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ingested = 0

    def _connect(self) -> None:
        from kafka import KafkaConsumer, KafkaProducer

        kafka = client_config(self.broker_url)  # brokers, TLS/SASL, client id
        self._consumer = KafkaConsumer(
            **kafka.kafka_python("workbench-sink"), group_id=self.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=6000,
            heartbeat_interval_ms=1000, max_poll_records=500,
        )
        self._consumer.subscribe([self.topic])
        self._producer = KafkaProducer(**kafka.kafka_python("workbench-deadletter"), acks="all")

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.alerts_ingested.labels(result).inc()

    def poll_once(self, timeout_ms: int = 1000) -> int:
        """Read one batch, upsert it in one transaction, commit it, then commit the offsets."""
        if self._consumer is None:
            self._connect()
        batch = self._consumer.poll(timeout_ms=timeout_ms)
        messages = [m for records in batch.values() for m in records]
        if not messages:
            return 0
        now = self.clock()
        results: list[str] = []
        dead: list[dict] = []
        with self.sessions() as session:
            for message in messages:
                try:
                    obj = decode_json(message.value)
                    with session.begin_nested():
                        alert, created = upsert_alert(session, obj, now)
                    results.append("created" if created else "updated")
                except Rejected as exc:
                    results.append("rejected")
                    dead.append(dead_letter("alerts", message.value, exc, topic=message.topic,
                                            partition=message.partition, offset=message.offset))
            session.commit()
        for record in dead:  # before the offsets: a bad alert is never skipped silently
            self._producer.send(DEADLETTER_TOPIC, json.dumps(record, ensure_ascii=False).encode())
        if dead:
            self._producer.flush(timeout=30)
            log.warning("%d alert(s) refused and sent to %s", len(dead), DEADLETTER_TOPIC)
        self._consumer.commit()
        for result in results:
            self._count(result)
        self.ingested += len(messages)
        return len(messages)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - database or broker blinked: nothing committed, try again
                log.exception("alert sink: batch failed; retrying")
                self._close()
                self._stop.wait(2.0)
        self._close()

    def start(self) -> AlertSink:
        self._thread = threading.Thread(target=self.run, name="alert-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)
        else:
            self._close()

    def _close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            except Exception:  # noqa: BLE001
                log.debug("closing the consumer failed", exc_info=True)
            self._consumer = None
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
